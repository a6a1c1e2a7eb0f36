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
        if matches!(route.method, Method::POST | Method::PATCH | Method::PUT) {
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
                || (resp.status.as_u16() == 400 && matches!(route.method, Method::POST | Method::PATCH | Method::PUT)),
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

/// A member's project list pages through exactly the projects they belong to, in pages of the size
/// asked for, and never shows another project of the organization.
#[actix_web::test]
async fn a_members_project_list_pages_through_their_own_projects_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let user = w.admin_b.user.as_ref().unwrap();
    let now = certautopilot_core::Timestamp::now();
    let mut expected = std::collections::BTreeSet::from(["project-b".to_string()]);
    for n in 0..5 {
        let project = Project::new(w.org.id, format!("joined-{n}"), now);
        h.store.insert(&w.org_scope, &project).await.unwrap();
        h.store.insert(&w.org_scope, &Membership::new(w.org.id, project.id, user.id, Role::Viewer, now)).await.unwrap();
        expected.insert(project.name.clone());
        // A project in the same organization that admin_b is not a member of.
        h.store.insert(&w.org_scope, &Project::new(w.org.id, format!("other-{n}"), now)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut path = "/api/v1/projects?limit=2".to_string();
    let mut pages = 0;
    loop {
        let resp = send(&app, Req::get(&path).acting_as(&w.admin_b)).await;
        assert_eq!(resp.status, 200, "{resp:?}");
        let items = resp.json["items"].as_array().unwrap();
        assert!(items.len() <= 2, "a page holds at most the limit: {resp:?}");
        seen.extend(items.iter().map(|p| p["name"].as_str().unwrap().to_string()));
        pages += 1;
        match resp.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/projects?limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the cursor never ends");
    }
    assert_eq!(seen.len(), expected.len(), "each project once: {seen:?}");
    assert_eq!(seen.into_iter().collect::<std::collections::BTreeSet<_>>(), expected);
    assert!(pages >= 3, "six projects at two a page take three pages");

    let bad = send(&app, Req::get("/api/v1/projects?limit=0").acting_as(&w.admin_b)).await;
    assert_problem(&bad, 422, "validation_failed");
}
