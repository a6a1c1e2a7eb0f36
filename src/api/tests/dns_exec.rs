//! The exec hook DNS provider through REST: it runs a program on the service's host, so only an
//! organization owner may configure one; anyone else is refused with the field named, and nothing
//! is stored.

use actix_web::http::Method;
use serde_json::json;

use super::harness::*;

/// An admin of the project is refused (403, field `provider`) and no credential exists afterwards;
/// the owner's identical request is accepted.
#[actix_web::test]
async fn exec_hooks_are_for_owners_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let project = w.a.scope.project_id();
    let body = json!({ "project_id": project, "name": "hook", "provider": "exec",
        "config": { "command": "/usr/local/bin/dns-hook", "timeout_seconds": 20 } });
    let listed = |who: &Who| Req::get(format!("/api/v1/dns-credentials?project_id={project}")).acting_as(who);
    let before = send(&app, listed(&w.owner)).await.json["items"].as_array().unwrap().len();

    let resp =
        send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.admin_a).json(body.clone())).await;
    assert_problem(&resp, 403, "forbidden");
    assert_eq!(resp.json["field"], json!("provider"), "{resp:?}");
    assert!(resp.json["detail"].as_str().unwrap().contains("exec"), "{resp:?}");
    let after = send(&app, listed(&w.owner)).await.json["items"].as_array().unwrap().len();
    assert_eq!(after, before, "nothing was stored");

    let resp = send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(body)).await;
    assert_eq!(resp.status, 201, "{resp:?}");
    assert_eq!(resp.json["config"]["command"], json!("/usr/local/bin/dns-hook"), "{resp:?}");
}
