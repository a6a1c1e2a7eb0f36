//! Updating a target: the configuration is replaced and checked like on creation, secrets left out
//! keep their stored values, stale versions and bad settings change nothing.

use actix_web::http::Method;
use certautopilot_core::model::DistributionTarget;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::harness::*;

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAkeep-me\n-----END OPENSSH PRIVATE KEY-----\n";

#[actix_web::test]
async fn updates_keep_secrets_left_out_and_refuse_stale_or_bad_input() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let config = json!({ "host": "web1.example.com", "user": "deploy", "cert_path": "/etc/ssl/c.pem",
        "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "private_key": KEY });
    let created = send(
        &app,
        Req::new(Method::POST, "/api/v1/targets")
            .acting_as(&w.owner)
            .json(json!({ "project_id": pa, "name": "web1", "type": "ssh", "config": config })),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();

    let mut moved = config.clone();
    moved["host"] = json!("web2.example.com");
    moved.as_object_mut().unwrap().remove("private_key");
    let updated = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "name": "web2", "config": moved, "version": 1 })),
    )
    .await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(
        (updated.json["name"].clone(), updated.json["config"]["host"].clone()),
        (json!("web2"), json!("web2.example.com"))
    );
    assert!(updated.json.to_string().find("keep-me").is_none(), "the secret is never returned");
    let stored: DistributionTarget =
        h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
    let credential = h.state.envelope.open(&id, "credential", stored.credential.as_ref().unwrap()).unwrap();
    assert!(credential.expose_str().unwrap().contains("keep-me"), "the key left out was kept");

    let stale = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.owner)
            .json(json!({ "name": "again", "version": 1 })),
    )
    .await;
    assert_problem(&stale, 409, "version_conflict");
    let mut bad = moved.clone();
    bad["cert_path"] = json!("relative/path");
    let refused = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.owner)
            .json(json!({ "config": bad, "version": 2 })),
    )
    .await;
    assert_eq!(
        (refused.status.as_u16(), refused.json["field"].as_str()),
        (422, Some("config.cert_path")),
        "{refused:?}"
    );
    let reload = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "config": { "reload_command": "rm -rf /" }, "version": 2 })),
    )
    .await;
    assert_problem(&reload, 403, "forbidden");
    let unchanged: DistributionTarget =
        h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
    assert_eq!((unchanged.version, unchanged.name.as_str()), (2, "web2"));
}
