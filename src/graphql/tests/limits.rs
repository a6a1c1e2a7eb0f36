//! The bounds of `[api.graphql]`: a depth, complexity or alias bomb is refused before any store
//! call (counted on a store object nothing else uses), lists are bounded like REST pages, batches
//! are bounded, introspection follows its switch, and GET only reads.

use actix_web::http::Method;
use certautopilot_config::GraphqlConfig;
use serde_json::{Value, json};

use super::{first_code, gql};
use crate::api::tests::harness::*;

fn trips(process: &OtherProcess) -> u64 {
    process.state.store().unwrap().round_trips().values().sum()
}

/// Depth, complexity and alias bombs each answer `bad_request` with no data, and the store saw no
/// trip at all for them (not even the caller's token); a plain query through the same process
/// does reach the store, so the counter counts.
#[actix_rt::test]
async fn bombs_are_refused_before_any_store_call() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let other = h.second_process().await;
    let app = app!(other);
    let depth =
        format!("{{ __schema {{ types {{ fields {{ type {}name{} }} }} }} }}", "ofType { ".repeat(12), " }".repeat(12));
    let complexity = "query($p: ID!) { certificates(projectId: $p, first: 100) { edges { node {
        timeline(last: 1000) { event } jobs(last: 1000) { id } } } } }";
    let aliases =
        format!("{{ {} }}", (0..31).map(|i| format!("a{i}: me {{ user {{ id }} }}")).collect::<Vec<_>>().join(" "));
    let fragments = format!(
        "fragment F on Query {{ {} }} {{ {} }}",
        (0..4).map(|i| format!("f{i}: me {{ user {{ id }} }}")).collect::<Vec<_>>().join(" "),
        "...F ".repeat(8)
    );
    for (what, query) in
        [("depth", depth), ("complexity", complexity.to_owned()), ("aliases", aliases), ("fragments", fragments)]
    {
        let before = trips(&other);
        let resp = gql(&app, &w.owner, &query, json!({ "p": w.a.scope.project_id() })).await;
        assert_eq!(trips(&other), before, "{what}: the store was called");
        assert_eq!(first_code(&resp).as_deref(), Some("bad_request"), "{what}: {resp:?}");
        assert!(resp.json.get("data").is_none_or(Value::is_null), "{what}: {resp:?}");
    }
    let before = trips(&other);
    let resp = gql(&app, &w.owner, "{ me { user { id } } }", json!({})).await;
    assert!(resp.json["errors"].is_null(), "{resp:?}");
    assert!(trips(&other) > before, "an admitted query reads the store");
}

/// `first` is bounded by `max_list_size` (and at least 1), as REST bounds `limit`.
#[actix_rt::test]
async fn list_sizes_are_bounded() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let query = "query($p: ID!, $n: Int) { certificates(projectId: $p, first: $n) { edges { node { id } } } }";
    for n in [0, -1, 101] {
        let resp = gql(&app, &w.viewer_a, query, json!({ "p": w.a.scope.project_id(), "n": n })).await;
        assert_eq!(first_code(&resp).as_deref(), Some("validation_failed"), "first: {n}: {resp:?}");
        assert_eq!(resp.json["errors"][0]["extensions"]["field"], json!("first"));
        assert_eq!(resp.json["errors"][0]["message"], json!("must be 1 to 100"));
    }
    let resp = gql(&app, &w.viewer_a, query, json!({ "p": w.a.scope.project_id(), "n": 100 })).await;
    assert!(resp.json["errors"].is_null(), "{resp:?}");
}

/// A batch (a JSON array) of up to `max_batch_size` operations answers an array; a longer one, or
/// an empty one, is a 400 problem and runs nothing.
#[actix_rt::test]
async fn batches_are_bounded() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let op = json!({ "query": "{ me { user { email } } }" });
    let two = Req::new(Method::POST, "/api/graphql").acting_as(&w.viewer_a).json(json!([op, op]));
    let resp = send(&app, two).await;
    assert_eq!(resp.status.as_u16(), 200);
    assert_eq!(resp.json.as_array().map(Vec::len), Some(2), "{resp:?}");
    let eleven = Req::new(Method::POST, "/api/graphql").acting_as(&w.viewer_a).json(Value::Array(vec![op.clone(); 11]));
    assert_problem(&send(&app, eleven).await, 400, "bad_request");
    let none = Req::new(Method::POST, "/api/graphql").acting_as(&w.viewer_a).json(json!([]));
    assert_problem(&send(&app, none).await, 400, "bad_request");
}

/// With introspection off, `__schema` is refused; the SDL route still serves the schema.
#[actix_rt::test]
async fn introspection_follows_its_switch() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let query = "{ __schema { queryType { name } } }";
    let on = app!(h);
    let resp = gql(&on, &w.viewer_a, query, json!({})).await;
    assert_eq!(resp.json["data"]["__schema"]["queryType"]["name"], json!("Query"), "{resp:?}");
    let closed = h.second_process_with(GraphqlConfig { introspection: false, ..GraphqlConfig::default() }).await;
    let off = app!(closed);
    let resp = gql(&off, &w.viewer_a, query, json!({})).await;
    assert!(resp.json["data"]["__schema"].is_null(), "{resp:?}");
    assert!(!resp.text.contains("queryType") && !resp.text.contains("Query\""), "{resp:?}");
    let sdl = send(&off, Req::get("/api/graphql/schema.graphql")).await;
    assert!(sdl.text.contains("type Query"), "{sdl:?}");
}

/// GET runs queries only: a mutation over GET is refused before anything else (as a cookie-
/// authenticated GET carries no CSRF token, a GET must never change anything).
#[actix_rt::test]
async fn get_reads_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let read =
        Req::get("/api/graphql?query=%7B%20me%20%7B%20user%20%7B%20email%20%7D%20%7D%20%7D").acting_as(&w.viewer_a);
    let resp = send(&app, read).await;
    assert_eq!(resp.json["data"]["me"]["user"]["email"], json!("viewer_a@acme.test"), "{resp:?}");
    let write = Req::get("/api/graphql?query=mutation%20%7B%20x%20%7D").acting_as(&w.viewer_a);
    let resp = send(&app, write).await;
    assert_eq!(first_code(&resp).as_deref(), Some("bad_request"), "{resp:?}");
    assert!(resp.json["errors"][0]["message"].as_str().unwrap().contains("only queries"), "{resp:?}");
}
