//! Broken object-level authorization: an admin of project A using ids of project B, on every route
//! that takes an id or a project, gets 404 (never 403, which would confirm the id exists), and B's
//! objects are unchanged afterwards. Body references to B's objects from A are refused too.

use actix_web::http::Method;
use certautopilot_core::model::*;
use certautopilot_core::store::{PageRequest, RecordStore, Store};
use serde_json::json;

use super::harness::*;
use crate::api::routes::{Policy, table};

/// Every route with an id or a project in it, called by A's admin with B's ids: all 404.
#[actix_web::test]
async fn ids_of_another_project_are_not_found_and_untouched() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let b = &w.b;
    let pb = b.scope.project_id();
    let before = snapshot(&h, &w).await;
    let mut checked = 0;
    for route in table().into_iter().filter(|r| matches!(r.policy, Policy::Project(_))) {
        let mut path = route
            .path
            .replace("/projects/{id}", &format!("/projects/{pb}"))
            .replace("{user_id}", &w.admin_b.user.as_ref().unwrap().id.to_string());
        if path.contains("{id}") {
            let id = match route.path.split('/').nth(3).unwrap() {
                "acme-accounts" => b.account.id.to_string(),
                "dns-credentials" => b.credential.id.to_string(),
                "zones" => b.zone.id.to_string(),
                "targets" => b.target.id.to_string(),
                "certificates" => b.certificate.id.to_string(),
                "jobs" => b.job.id.to_string(),
                other => panic!("no id of project B for {other}"),
            };
            path = path.replace("{id}", &id);
        }
        if route.query.iter().any(|q| q.is_project_id()) {
            path = format!("{path}?project_id={pb}");
        }
        let mut req = Req::new(route.method.clone(), &path).acting_as(&w.admin_a);
        if matches!(route.method, Method::POST | Method::PATCH) {
            req = req.json(json!({ "project_id": pb, "name": "sneaky", "version": 1, "user_id": w.admin_a.user.as_ref().unwrap().id,
                "role": "admin", "directory_url": "https://ca.test/d", "tos_agreed": true, "provider": "rfc2136",
                "apex": "sneaky.example.com", "credential_id": b.credential.id, "type": "file", "common_name": "sneaky.example.com",
                "key_type": "ecdsa-p256", "acme_account_id": b.account.id,
                "config": { "cert_path": "/a", "key_path": "/b", "server": "127.0.0.1:53", "key_name": "k.", "algorithm": "hmac-sha256", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } }));
        }
        let resp = send(&app, req).await;
        // A body that fails to parse would be 400 before authorization; those routes get 404 or 400
        // but never success. Everything else must be exactly 404.
        assert!(
            resp.status.as_u16() == 404
                || (resp.status.as_u16() == 400 && matches!(route.method, Method::POST | Method::PATCH)),
            "{} {path}: {resp:?}",
            route.method
        );
        assert!(!resp.status.is_success(), "{} {path}: {resp:?}", route.method);
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes checked");
    assert_eq!(snapshot(&h, &w).await, before, "project B changed");
}

/// Creating in A with references to B's account, credential or targets is a validation error about
/// that field, and nothing is created.
#[actix_web::test]
async fn references_to_another_projects_objects_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let (a, b) = (&w.a, &w.b);
    let pa = a.scope.project_id();
    let before = snapshot(&h, &w).await;
    let cases = [
        (
            "/api/v1/zones",
            json!({ "project_id": pa, "apex": "x1.example.com", "credential_id": b.credential.id }),
            "credential_id",
        ),
        (
            "/api/v1/certificates",
            json!({ "project_id": pa, "common_name": "x2.example.com", "key_type": "ecdsa-p256", "acme_account_id": b.account.id }),
            "acme_account_id",
        ),
        (
            "/api/v1/certificates",
            json!({ "project_id": pa, "common_name": "x3.example.com", "key_type": "ecdsa-p256", "acme_account_id": a.account.id,
                    "target_ids": [a.target.id, b.target.id] }),
            "target_ids[1]",
        ),
    ];
    for (path, body, field) in cases {
        let resp = send(&app, Req::new(Method::POST, path).acting_as(&w.admin_a).json(body)).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!(field), "{resp:?}");
    }
    assert_eq!(snapshot(&h, &w).await, before);
}

/// Everything in both projects, as the owner sees it.
async fn snapshot(h: &Harness, w: &World) -> String {
    let mut out = String::new();
    for scope in [&w.a.scope, &w.b.scope] {
        let page = PageRequest::first(1_000);
        out += &format!("{:?}", h.store.list::<AcmeAccount>(scope, &page).await.unwrap().items);
        out += &format!("{:?}", h.store.list::<DnsCredential>(scope, &page).await.unwrap().items);
        out += &format!("{:?}", h.store.list::<Zone>(scope, &page).await.unwrap().items);
        out += &format!("{:?}", h.store.list::<DistributionTarget>(scope, &page).await.unwrap().items);
        out += &format!("{:?}", h.store.list::<Certificate>(scope, &page).await.unwrap().items);
        out += &format!("{:?}", h.store.list_project_jobs(scope, &page).await.unwrap().items);
    }
    out += &format!("{:?}", h.store.list::<Membership>(&w.org_scope, &PageRequest::first(1_000)).await.unwrap().items);
    out += &format!("{:?}", h.store.list::<Project>(&w.org_scope, &PageRequest::first(1_000)).await.unwrap().items);
    out
}
