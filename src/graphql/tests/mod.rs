//! GraphQL tests, in-process against the real application and a real SQLite store, on the REST
//! tests' harness (`api::tests::harness`): the same world of principals, projects and records.

mod batching;
mod compare;
mod errors;
mod limits;
mod mutation_refusals;
mod mutations;
mod operations;
mod queries;
mod role_matrix;
mod schema_file;
mod tenancy;
mod transport;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use serde_json::{Value, json};

use crate::api::tests::harness::{Req, Resp, Who, send};

/// A GraphQL POST of `query` with `variables`, as `who` (by API token).
pub fn post(who: &Who, query: &str, variables: Value) -> Req {
    Req::new(Method::POST, "/api/graphql").acting_as(who).json(json!({ "query": query, "variables": variables }))
}

/// Sends `query` as `who` and returns the response.
pub async fn gql<S, B>(app: &S, who: &Who, query: &str, variables: Value) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, post(who, query, variables)).await
}

/// The `extensions.code` of the response's first error, if any.
pub fn first_code(resp: &Resp) -> Option<String> {
    resp.json["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

/// Asserts a 200 answer without errors and returns its `data`.
pub fn data(resp: &Resp) -> &Value {
    assert_eq!(resp.status.as_u16(), 200, "{resp:?}");
    assert!(resp.json.get("errors").is_none(), "{resp:?}");
    &resp.json["data"]
}

/// The ids of a connection's nodes.
pub fn ids(connection: &Value) -> Vec<String> {
    connection["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect()
}

/// REST's name of a GraphQL name: `acmeAccountId` → `acme_account_id` (names already in snake_case
/// stay as they are).
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `value` with every object key in REST's spelling (`snake_case`), at every depth.
pub fn snake_case_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (snake_case(k), snake_case_keys(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(snake_case_keys).collect()),
        other => other.clone(),
    }
}
