//! The audit routes: owners list events with filters and verify the chain; a tampered entry makes
//! verification name it.

use actix_web::http::Method;
use serde_json::json;

use certautopilot_core::store::RecordStore;

use super::harness::*;

#[actix_web::test]
async fn owners_list_filter_and_verify_the_chain() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    for name in ["one", "two"] {
        let resp = send(
            &app,
            Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
            "project_id": pa, "name": name, "type": "file", "config": { "cert_path": "/c", "key_path": "/k" } })),
        )
        .await;
        assert_eq!(resp.status, 201, "{resp:?}");
    }
    let all = send(&app, Req::get("/api/v1/audit/events?limit=1").acting_as(&w.owner)).await;
    assert_eq!(all.status, 200, "{all:?}");
    assert_eq!(all.json["items"][0]["action"], json!("org.created"));
    let cursor = all.json["next_cursor"].as_str().unwrap().to_owned();
    let next = send(&app, Req::get(format!("/api/v1/audit/events?limit=1&cursor={cursor}")).acting_as(&w.owner)).await;
    assert_eq!(next.json["items"][0]["seq"], json!(2));
    let targets =
        send(&app, Req::get(format!("/api/v1/audit/events?project_id={pa}&action=target.created")).acting_as(&w.owner))
            .await;
    let items = targets.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|e| e["actor"].as_str().unwrap().starts_with("api_token:")));
    assert_problem(
        &send(&app, Req::get("/api/v1/audit/events?from=yesterday").acting_as(&w.owner)).await,
        422,
        "validation_failed",
    );

    let verified = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!(
        (verified.json["intact"].clone(), verified.json["entries"].clone()),
        (json!(true), json!(3)),
        "{verified:?}"
    );

    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute(r#"UPDATE audit_events SET doc = replace(doc, '"name":"one"', '"name":"uno"') WHERE seq = 2"#, [])
        .unwrap();
    let broken = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!(
        (broken.json["intact"].clone(), broken.json["broken_at"].clone()),
        (json!(false), json!(2)),
        "{broken:?}"
    );
}

/// Fail closed: when the audit entry cannot be written, the change it records is refused and
/// nothing of it is stored.
#[actix_web::test]
async fn a_change_whose_audit_entry_cannot_be_written_is_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit store down'); END;",
    )
    .unwrap();
    let project_count = || async {
        let first = certautopilot_core::store::PageRequest::first(100);
        h.store.list::<certautopilot_core::model::Project>(&w.org_scope, &first).await.unwrap().items.len()
    };
    let before = project_count().await;
    let resp =
        send(&app, Req::new(Method::POST, "/api/v1/projects").acting_as(&w.owner).json(json!({ "name": "unaudited" })))
            .await;
    assert!(resp.status.is_server_error(), "{resp:?}");
    assert!(!resp.text.contains("audit store down"), "internals stay in the log: {resp:?}");
    let after = project_count().await;
    assert_eq!(before, after, "the change landed without its audit entry");
}
