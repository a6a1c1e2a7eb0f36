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
            "project_id": pa, "name": name, "type": "file", "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } })),
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

/// Fail closed: when the audit event cannot be written (to the outbox, in the change's own
/// transaction), the change it records is refused and nothing of it is stored.
#[actix_web::test]
async fn a_change_whose_audit_entry_cannot_be_written_is_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER audit_down BEFORE INSERT ON audit_outbox BEGIN SELECT RAISE(ABORT, 'audit store down'); END;",
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

/// When chaining fails (here the chain table refuses inserts), changes still commit with their
/// events safe in the outbox; the organization's AuditActor reports the failure in its snapshot and
/// verification counts the waiting events. Once the chain takes writes again, the next flush
/// chains them in commit order.
#[actix_web::test]
async fn events_wait_in_the_outbox_while_the_chain_cannot_be_written() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    // `org.created` is chained before the chain goes down.
    let verified = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!((verified.json["entries"].clone(), verified.json["pending"].clone()), (json!(1), json!(0)));
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER chain_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'chain down'); END;",
    )
    .unwrap();
    for name in ["kept-1", "kept-2"] {
        let resp =
            send(&app, Req::new(Method::POST, "/api/v1/projects").acting_as(&w.owner).json(json!({ "name": name })))
                .await;
        assert_eq!(resp.status, 201, "{resp:?}");
    }
    let verified = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!(
        (verified.json["intact"].clone(), verified.json["entries"].clone(), verified.json["pending"].clone()),
        (json!(true), json!(1), json!(2)),
        "both projects' events wait: {verified:?}"
    );
    let actors = send(&app, Req::get("/api/v1/admin/actors?kind=audit").acting_as(&w.owner)).await;
    let actor = &actors.json["items"][0];
    assert_eq!(actor["key"], json!(w.org.id.to_string()), "{actors:?}");
    // Sweeps retry every 200 ms; a retry in progress still reads `failing`.
    assert_eq!(actor["state"], json!("failing"), "{actors:?}");
    assert!(actor["last_error"].as_str().unwrap().contains("chain down"), "{actors:?}");

    conn.execute_batch("DROP TRIGGER chain_down;").unwrap();
    let verified = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!(
        (verified.json["intact"].clone(), verified.json["entries"].clone(), verified.json["pending"].clone()),
        (json!(true), json!(3), json!(0)),
        "{verified:?}"
    );
    let events = send(&app, Req::get("/api/v1/audit/events").acting_as(&w.owner)).await;
    let actions: Vec<_> = events.json["items"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert_eq!(actions, [json!("org.created"), json!("project.created"), json!("project.created")]);
    // A wake-up for the two projects may still be on its way and drain nothing; it ends idle too.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let actors = send(&app, Req::get("/api/v1/admin/actors?kind=audit").acting_as(&w.owner)).await;
        let actor = &actors.json["items"][0];
        assert_eq!(actor["detail"]["chained"], json!(3), "{actors:?}");
        if actor["state"] == json!("idle") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the actor never settled: {actors:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
