//! The OpenAPI 3.1 document, generated from the route table and the request and response types, so
//! it describes exactly the routes, policies and bodies the server has.
//! Invariant: it knows routes only as the `RouteSpec`s it is handed (`routes` serves the document),
//! so the generator never imports the table that imports the handlers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::api::auth::SESSION_COOKIE;
use crate::api::error::Problem;
use crate::api::route_spec::{Body, Policy, RouteSpec};

/// The document of `routes`, in their order (the route table's).
pub fn document(routes: &[RouteSpec]) -> Value {
    let mut components = BTreeMap::new();
    let problem = Body::of::<Problem>().reference(&mut components);
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in routes {
        let operation = operation(route, &problem, &mut components);
        paths.entry(route.path).or_default().insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "CertAutoPilot API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Certificate lifecycle management. Errors are application/problem+json with a stable `code`."
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "a session token from login, or an API token (cap_…)" },
                "session": { "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE }
            }
        }
    })
}

fn operation(route: &RouteSpec, problem: &Value, components: &mut BTreeMap<String, Value>) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }))
        .collect();
    for q in route.query {
        let mut schema = json!({ "type": q.schema });
        if let Some(format) = q.format {
            schema["format"] = json!(format);
        }
        if q.name == "limit" {
            schema["minimum"] = json!(1);
            schema["maximum"] = json!(1000);
        }
        parameters.push(json!({ "name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": schema }));
    }
    let mut op = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": format!("Access: {}.", describe(route.policy)),
        "parameters": parameters,
        "responses": {
            "default": { "description": "an error", "content": { "application/problem+json": { "schema": problem } } }
        }
    });
    let success = match (&route.response, route.path) {
        (Some(body), _) => {
            json!({ "description": "success", "content": { "application/json": { "schema": body.reference(components) } } })
        }
        (None, "/api/v1/openapi.json") => {
            json!({ "description": "this document", "content": { "application/json": { "schema": { "type": "object" } } } })
        }
        (None, _) => json!({ "description": "done" }),
    };
    op["responses"][route.status.to_string()] = success;
    if let Some(body) = &route.request {
        op["requestBody"] = json!({ "required": !body.optional, "content": { "application/json": { "schema": body.reference(components) } } });
    }
    op["security"] =
        if route.policy == Policy::Public { json!([]) } else { json!([{ "bearer": [] }, { "session": [] }]) };
    op
}

fn describe(policy: Policy) -> String {
    match policy {
        Policy::Public => "anyone".into(),
        Policy::Authenticated => "any signed-in user".into(),
        Policy::Owner => "organization owners".into(),
        Policy::Project(role) => {
            format!("project members with the {} role or higher", role.as_str())
        }
    }
}
