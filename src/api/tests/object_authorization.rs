//! Broken object-level authorization: an admin of project A using ids of project B, on every route
//! that takes an id or a project, gets 404 (never 403, which would confirm the id exists), and B's
//! objects are unchanged afterwards. Body references to B's objects from A are refused too.

use actix_web::http::Method;
use certautopilot_core::Timestamp;
use certautopilot_core::model::*;
use certautopilot_core::store::{PageRequest, RecordStore, prelude::*};
use serde_json::json;

use super::harness::*;
use crate::api::route_spec::{Policy, RouteSpec};
use crate::api::routes::table;

/// Every route with an id or a project in it, called by A's admin with B's ids and a body that B's
/// own admin gets past parsing and validation with: all exactly 404, so the authorization check is
/// what refused each one (a 400 for an unparsable body would never reach it). The same requests
/// from B's admin afterwards are accepted (or refused for the object's state, 409), proving the
/// bodies were valid.
#[actix_web::test]
async fn ids_of_another_project_are_not_found_and_untouched() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let before = snapshot(&h, &w).await;
    let routes: Vec<_> = table().into_iter().filter(|r| matches!(r.policy, Policy::Project(_))).collect();
    let mut checked = 0;
    let mut with_body = 0;
    for route in &routes {
        let path = path_in_b(&w, route);
        let mut req = Req::new(route.method.clone(), &path).acting_as(&w.admin_a);
        if let Some(body) = valid_body_in_b(&h, &w, route).await {
            req = req.json(body);
            with_body += 1;
        }
        let resp = send(&app, req).await;
        assert_eq!(resp.status.as_u16(), 404, "{} {path} as admin of project A: {resp:?}", route.method);
        assert_problem(&resp, 404, "not_found");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} routes checked");
    assert!(with_body >= 9, "only {with_body} routes got a body");
    assert_eq!(snapshot(&h, &w).await, before, "project B changed");

    // The control: B's admin sends the same requests (fresh bodies, current versions) and gets past
    // parsing, validation and authorization. Destructive routes are left out: they take no body.
    for route in routes.iter().filter(|r| r.request.is_some()) {
        let path = path_in_b(&w, route);
        let body = valid_body_in_b(&h, &w, route).await.expect("a body for a route that takes one");
        let resp = send(&app, Req::new(route.method.clone(), &path).acting_as(&w.admin_b).json(body)).await;
        assert!(
            resp.status.is_success() || resp.status.as_u16() == 409,
            "{} {path} as admin of project B: the body A's admin sent was not valid: {resp:?}",
            route.method
        );
    }
}

/// `route`'s path with project B's ids in it (and `?project_id=` when the route takes one).
fn path_in_b(w: &World, route: &RouteSpec) -> String {
    let b = &w.b;
    let pb = b.scope.project_id();
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
            "approvals" => b.approval.id.to_string(),
            "notification-channels" => b.channel.id.to_string(),
            "notification-rules" => b.rule.id.to_string(),
            other => panic!("no id of project B for {other}"),
        };
        path = path.replace("{id}", &id);
    }
    if route.query.iter().any(|q| q.is_project_id()) {
        path = format!("{path}?project_id={pb}");
    }
    path
}

/// A request body for `route` that project B's admin would get accepted, or `None` for a route that
/// takes no body. A new write route must be added here, or this test fails naming it.
async fn valid_body_in_b(h: &Harness, w: &World, route: &RouteSpec) -> Option<serde_json::Value> {
    let b = &w.b;
    let pb = b.scope.project_id();
    let n = unique();
    let body = match (route.method.clone(), route.path) {
        _ if route.request.is_none() => return None,
        (Method::PATCH, "/api/v1/projects/{id}") => {
            let current: Project = h.store.get(&w.org_scope, &pb).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/projects/{id}/members") => {
            let user = User::new(w.org.id, &format!("m{n}@acme.test"), OrgRole::Member, Timestamp::now());
            h.store.insert(&w.org_scope, &user).await.unwrap();
            json!({ "user_id": user.id, "role": "viewer" })
        }
        // The path names B's admin: the same role again is accepted and changes nothing.
        (Method::PATCH, "/api/v1/projects/{id}/members/{user_id}") => json!({ "role": "admin" }),
        (Method::POST, "/api/v1/acme-accounts") => {
            json!({ "project_id": pb, "name": format!("acct{n}"), "directory_url": "https://ca.test/dir", "tos_agreed": true })
        }
        (Method::POST, "/api/v1/dns-credentials") => json!({ "project_id": pb, "name": format!("cred{n}"),
            "provider": "rfc2136", "config": { "server": "127.0.0.1:53", "key_name": "update.",
            "algorithm": "hmac-sha256", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } }),
        (Method::PATCH, "/api/v1/dns-credentials/{id}") => {
            let current: DnsCredential = h.store.get(&b.scope, &b.credential.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/dns-credentials/{id}/test") => json!({}),
        (Method::PATCH, "/api/v1/zones/{id}") => {
            let current: Zone = h.store.get(&b.scope, &b.zone.id).await.unwrap();
            json!({ "version": current.version, "propagation": { "strategy": "none" } })
        }
        (Method::POST, "/api/v1/zones") => {
            json!({ "project_id": pb, "apex": format!("zone{n}.example.com"), "credential_id": b.credential.id })
        }
        (Method::POST, "/api/v1/targets") => json!({ "project_id": pb, "name": format!("t{n}"), "type": "file",
            "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } }),
        (Method::PATCH, "/api/v1/targets/{id}") => {
            let current: DistributionTarget = h.store.get(&b.scope, &b.target.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/certificates") => {
            json!({ "project_id": pb, "common_name": format!("c{n}.{}", b.zone.apex),
            "key_type": "ecdsa-p256", "acme_account_id": b.account.id })
        }
        (Method::PATCH, "/api/v1/acme-accounts/{id}") => {
            let current: AcmeAccount = h.store.get(&b.scope, &b.account.id).await.unwrap();
            json!({ "version": current.version, "contact": [format!("mailto:ops{n}@b.example")] })
        }
        (Method::PATCH, "/api/v1/certificates/{id}") => {
            let current: Certificate = h.store.get(&b.scope, &b.certificate.id).await.unwrap();
            json!({ "version": current.version, "paused": true })
        }
        (Method::POST, "/api/v1/certificates/{id}/revoke") => json!({ "reason": "superseded" }),
        (Method::POST, "/api/v1/discovery/scans") => json!({ "project_id": pb, "endpoints": ["127.0.0.1:9"] }),
        (Method::POST, "/api/v1/certificates/import") => {
            json!({ "project_id": pb, "chain_pem": chain_issued_elsewhere(&b.zone.apex) })
        }
        // B's certificate is already managed: B's admin is refused for its state (409).
        (Method::POST, "/api/v1/certificates/{id}/manage") => {
            let current: Certificate = h.store.get(&b.scope, &b.certificate.id).await.unwrap();
            json!({ "version": current.version, "acme_account_id": b.account.id })
        }
        (Method::PUT, "/api/v1/certificates/{id}/targets") => {
            let current: Certificate = h.store.get(&b.scope, &b.certificate.id).await.unwrap();
            json!({ "target_ids": [b.target.id], "version": current.version })
        }
        (Method::PUT, "/api/v1/projects/{id}/approval-policy") => json!({ "require": "all" }),
        (Method::POST, "/api/v1/approvals/{id}/approve") | (Method::POST, "/api/v1/approvals/{id}/reject") => {
            json!({ "comment": "from project A" })
        }
        (Method::POST, "/api/v1/notification-channels") => json!({ "project_id": pb, "name": format!("ch{n}"),
            "settings": { "type": "webhook", "url": "https://127.0.0.1:9/hook" }, "secret": "a-signing-secret-long-enough" }),
        (Method::PATCH, "/api/v1/notification-channels/{id}") => {
            let current: NotificationChannel = h.store.get(&b.scope, &b.channel.id).await.unwrap();
            json!({ "name": format!("renamed-{n}"), "version": current.version })
        }
        (Method::POST, "/api/v1/notification-rules") => {
            json!({ "project_id": pb, "name": format!("r{n}"), "events": ["cert.issued"], "channel_ids": [b.channel.id] })
        }
        (Method::PATCH, "/api/v1/notification-rules/{id}") => {
            let current: NotificationRule = h.store.get(&b.scope, &b.rule.id).await.unwrap();
            json!({ "enabled": true, "version": current.version })
        }
        (method, path) => panic!(
            "{method} {path} takes a body: add one project B's admin gets accepted to valid_body_in_b, \
             so its authorization is exercised with a body that parses"
        ),
    };
    Some(body)
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
            json!({ "project_id": pa, "common_name": format!("x2.{}", a.zone.apex), "key_type": "ecdsa-p256", "acme_account_id": b.account.id }),
            "acme_account_id",
        ),
        (
            "/api/v1/certificates",
            json!({ "project_id": pa, "common_name": format!("x3.{}", a.zone.apex), "key_type": "ecdsa-p256", "acme_account_id": a.account.id,
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
