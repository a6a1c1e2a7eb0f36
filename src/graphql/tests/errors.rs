//! Errors and answers never carry secrets or internals: a credential's TSIG secret and a target's
//! secret appear in no field, and an internal failure says only "internal error".

use actix_web::http::Method;
use serde_json::json;

use super::{data, first_code, gql};
use crate::api::tests::harness::*;

const TSIG_SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQ=";
const HMAC_SECRET: &str = "webhook-hmac-secret-0123456789abcdef";

/// Credentials and targets created with secrets through REST: every field GraphQL has for them,
/// and for the zones and certificates around them, holds neither secret.
#[actix_rt::test]
async fn secrets_appear_in_no_field() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let credential = Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.admin_a).json(json!({
        "project_id": pa, "name": "with-secret", "provider": "rfc2136",
        "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-sha256", "secret": TSIG_SECRET } }));
    assert_eq!(send(&app, credential).await.status.as_u16(), 201);
    let target = Req::new(Method::POST, "/api/v1/targets").acting_as(&w.admin_a).json(json!({
        "project_id": pa, "name": "hook", "type": "webhook",
        "config": { "url": "https://hooks.example.com/x", "hmac_secret": HMAC_SECRET } }));
    let created = send(&app, target).await;
    assert_eq!(created.status.as_u16(), 201, "{created:?}");
    let query = "query($p: ID!) {
        dnsCredentials(projectId: $p) { edges { node { id name provider config hasSecret } } }
        zones(projectId: $p) { edges { node { credential { config } } } }
        targets(projectId: $p) { edges { node { name type config hasCredential } } }
        certificates(projectId: $p) { edges { node { zones { credential { config } } } } } }";
    let resp = gql(&app, &w.admin_a, query, json!({ "p": pa })).await;
    let d = data(&resp);
    assert!(!resp.text.contains(TSIG_SECRET) && !resp.text.contains(HMAC_SECRET), "{resp:?}");
    let hook = d["targets"]["edges"].as_array().unwrap().iter().find(|t| t["node"]["name"] == json!("hook")).unwrap();
    assert_eq!(hook["node"]["hasCredential"], json!(true));
}

/// A record the store cannot decode is an internal error: the answer says "internal error" with
/// code `internal`, and nothing of the stored text or the decoder's complaint.
#[actix_rt::test]
async fn internal_errors_say_nothing_more() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute(
        "UPDATE certificates SET doc = '{\"broken\": \"db-internal-detail\"}' WHERE id = ?1",
        [w.a.certificate.id.to_string()],
    )
    .unwrap();
    let app = app!(h);
    let resp =
        gql(&app, &w.viewer_a, "query($id: ID!) { certificate(id: $id) { id } }", json!({ "id": w.a.certificate.id }))
            .await;
    assert_eq!(first_code(&resp).as_deref(), Some("internal"), "{resp:?}");
    assert_eq!(resp.json["errors"][0]["message"], json!("internal error"));
    assert!(!resp.text.contains("db-internal-detail") && !resp.text.contains("missing field"), "{resp:?}");
}

/// A query the schema does not know is the client's error (`bad_request`), and its message names
/// the field, not the server's internals.
#[actix_rt::test]
async fn request_errors_are_the_clients() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = gql(&app, &w.viewer_a, "{ nope }", json!({})).await;
    assert_eq!(first_code(&resp).as_deref(), Some("bad_request"), "{resp:?}");
    let resp = gql(&app, &w.viewer_a, "{ me { ", json!({})).await;
    assert_eq!(first_code(&resp).as_deref(), Some("bad_request"), "{resp:?}");
}
