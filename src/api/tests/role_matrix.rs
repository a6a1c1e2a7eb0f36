//! The role matrix: every route in the route table × every kind of caller (anonymous, a member of
//! another project, viewer, operator, admin, owner), each with a request that would succeed for an
//! allowed caller. Generated from the table, so a new route is covered the day it is added, and a
//! route whose expectation is unknown fails the test.

use actix_web::http::Method;
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use certautopilot_core::store::{RecordStore, membership_key};
use serde_json::{Value, json};

use super::harness::*;
use super::victims::*;
use crate::api::route_spec::{Policy, RouteSpec};
use crate::api::routes::table;

/// What a caller should get from a route under its policy.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Allowed,
    /// 401: no credentials.
    Unauthenticated,
    /// 403: signed in, role too low.
    Forbidden,
    /// 404: the project is not one the caller belongs to.
    Hidden,
}

pub(crate) fn expectation(policy: Policy, who: &str) -> Expect {
    use Expect::*;
    let role = match who {
        "anonymous" => return if policy == Policy::Public { Allowed } else { Unauthenticated },
        "owner" => return Allowed,
        "admin_b" => None,
        "viewer_a" => Some(Role::Viewer),
        "operator_a" => Some(Role::Operator),
        "admin_a" => Some(Role::Admin),
        other => panic!("unknown principal {other}"),
    };
    match (policy, role) {
        (Policy::Public | Policy::Authenticated, _) => Allowed,
        (Policy::Owner, _) => Forbidden,
        (Policy::Project(_), None) => Hidden,
        (Policy::Project(need), Some(have)) if have >= need => Allowed,
        (Policy::Project(_), Some(_)) => Forbidden,
    }
}

/// Builds a request to `route` that an allowed `who` would get a success (or a benign conflict)
/// from. Routes that destroy something get a fresh victim per call.
async fn request_for(h: &Harness, w: &World, route: &RouteSpec, who: &Who) -> Req {
    let n = unique();
    let a = &w.a;
    let pa = a.scope.project_id();
    let owner = w.owner.user.as_ref().unwrap();
    let fresh = || fresh_in_a(h, w);
    let (path, body): (String, Option<Value>) = match (route.method.clone(), route.path) {
        (Method::GET, "/api/v1/openapi.json") => (route.path.into(), None),
        (Method::POST, "/api/v1/setup") => (
            route.path.into(),
            Some(json!({ "org_name": "Again", "email": "x@acme.test", "password": OWNER_PASSWORD })),
        ),
        (Method::POST, "/api/v1/auth/login") => {
            (route.path.into(), Some(json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD })))
        }
        (Method::POST, "/api/v1/auth/logout") | (Method::GET, "/api/v1/auth/me") => (route.path.into(), None),
        (Method::GET, "/api/v1/auth/tokens") | (Method::GET, "/api/v1/users") | (Method::GET, "/api/v1/projects") => {
            (route.path.into(), None)
        }
        // Only a signed-in session mints tokens (the caller's own session, so the role alone decides).
        (Method::POST, "/api/v1/auth/tokens") => {
            let mut req = Req::new(route.method.clone(), route.path).json(json!({ "name": format!("t{n}") }));
            if let Some(user) = &who.user {
                req = req.bearer(&session_token(h, &w.org_scope, user).await);
            }
            return req;
        }
        (Method::DELETE, "/api/v1/auth/tokens/{id}") => {
            // The caller's own token (a fresh one), so an allowed caller can revoke it.
            let id = match &who.user {
                Some(user) => fresh_api_token_id(h, w, user).await,
                None => ApiTokenId::new().to_string(),
            };
            (format!("/api/v1/auth/tokens/{id}"), None)
        }
        (Method::GET, "/api/v1/users/{id}/tokens") => {
            (format!("/api/v1/users/{}/tokens", w.viewer_a.user.as_ref().unwrap().id), None)
        }
        // A fresh user each time, so disabling never locks out a principal of the matrix.
        (Method::POST, "/api/v1/users/{id}/disable") | (Method::POST, "/api/v1/users/{id}/enable") => {
            (route.path.replace("{id}", &fresh_user(h, w).await.id.to_string()), None)
        }
        (Method::GET, "/api/v1/organization") => (route.path.into(), None),
        // The owner named as their own successor: an allowed caller gets 409 and nobody loses
        // ownership mid-matrix (transfers themselves: service::tests::organization).
        (Method::POST, "/api/v1/organization/owner") => {
            (route.path.into(), Some(json!({ "user_id": owner.id, "password": OWNER_PASSWORD })))
        }
        (Method::PUT, "/api/v1/organization/audit-retention") => (route.path.into(), Some(json!({ "days": null }))),
        (Method::POST, "/api/v1/users") => (
            route.path.into(),
            Some(json!({ "email": format!("u{n}@acme.test"), "password": "another long password" })),
        ),
        (Method::POST, "/api/v1/projects") => (route.path.into(), Some(json!({ "name": format!("p{n}") }))),
        (Method::GET, "/api/v1/projects/{id}") | (Method::GET, "/api/v1/projects/{id}/members") => {
            (route.path.replace("{id}", &pa.to_string()), None)
        }
        (Method::PATCH, "/api/v1/projects/{id}") => {
            let current: Project = h.store.get(&w.org_scope, &pa).await.unwrap();
            (
                format!("/api/v1/projects/{pa}"),
                Some(json!({ "name": format!("renamed-{n}"), "version": current.version })),
            )
        }
        (Method::DELETE, "/api/v1/projects/{id}") => {
            (format!("/api/v1/projects/{}", empty_project_with_a_members(h, w).await.id), None)
        }
        (Method::POST, "/api/v1/projects/{id}/members") => {
            let user = fresh_user(h, w).await;
            (format!("/api/v1/projects/{pa}/members"), Some(json!({ "user_id": user.id, "role": "viewer" })))
        }
        (Method::PATCH, "/api/v1/projects/{id}/members/{user_id}") => {
            let user = fresh_member_of_a(h, w).await;
            (format!("/api/v1/projects/{pa}/members/{}", user.id), Some(json!({ "role": "operator" })))
        }
        (Method::DELETE, "/api/v1/projects/{id}/members/{user_id}") => {
            let user = fresh_member_of_a(h, w).await;
            assert!(h.store.find_unique::<Membership>(&w.org_scope, &membership_key(pa, user.id)).await.is_ok());
            (format!("/api/v1/projects/{pa}/members/{}", user.id), None)
        }
        (Method::GET, "/api/v1/acme-accounts")
        | (Method::GET, "/api/v1/dns-credentials")
        | (Method::GET, "/api/v1/zones")
        | (Method::GET, "/api/v1/targets")
        | (Method::GET, "/api/v1/notification-channels")
        | (Method::GET, "/api/v1/notification-rules")
        | (Method::GET, "/api/v1/certificates")
        | (Method::GET, "/api/v1/jobs") => (format!("{}?project_id={pa}", route.path), None),
        (Method::POST, "/api/v1/acme-accounts") => (
            route.path.into(),
            Some(
                json!({ "project_id": pa, "name": format!("acct{n}"), "directory_url": "https://ca.test/dir", "tos_agreed": true }),
            ),
        ),
        (Method::POST, "/api/v1/dns-credentials") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "name": format!("cred{n}"), "provider": "rfc2136",
                "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-sha256",
                            "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } })),
        ),
        (Method::POST, "/api/v1/zones") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "apex": format!("zone{n}.example.com"), "credential_id": a.credential.id })),
        ),
        (Method::POST, "/api/v1/targets") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "name": format!("t{n}"), "type": "file",
                "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" } })),
        ),
        (Method::POST, "/api/v1/certificates") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "common_name": format!("c{n}.{}", a.zone.apex), "key_type": "ecdsa-p256",
                "acme_account_id": a.account.id })),
        ),
        (Method::POST, "/api/v1/discovery/scans") => {
            (route.path.into(), Some(json!({ "project_id": pa, "endpoints": ["127.0.0.1:9"] })))
        }
        (Method::POST, "/api/v1/certificates/import") => {
            (route.path.into(), Some(json!({ "project_id": pa, "chain_pem": chain_issued_elsewhere(&a.zone.apex) })))
        }
        (Method::POST, "/api/v1/certificates/{id}/manage") => {
            let cert = unmanaged_certificate(h, &a.scope, &a.zone.apex).await;
            (
                format!("/api/v1/certificates/{}/manage", cert.id),
                Some(json!({ "version": cert.version, "acme_account_id": a.account.id })),
            )
        }
        (Method::GET, "/api/v1/acme-accounts/{id}") => (format!("/api/v1/acme-accounts/{}", a.account.id), None),
        (Method::GET, "/api/v1/dns-credentials/{id}") => (format!("/api/v1/dns-credentials/{}", a.credential.id), None),
        (Method::GET, "/api/v1/zones/{id}") => (format!("/api/v1/zones/{}", a.zone.id), None),
        (Method::GET, "/api/v1/targets/{id}") => (format!("/api/v1/targets/{}", a.target.id), None),
        (Method::GET, "/api/v1/certificates/{id}") => (format!("/api/v1/certificates/{}", a.certificate.id), None),
        // A requested certificate can be neither renewed nor revoked: 409, past the policy check.
        (Method::POST, "/api/v1/certificates/{id}/renew") => {
            (format!("/api/v1/certificates/{}/renew", a.certificate.id), None)
        }
        (Method::POST, "/api/v1/certificates/{id}/revoke") => {
            (format!("/api/v1/certificates/{}/revoke", a.certificate.id), Some(json!({})))
        }
        (Method::GET, "/api/v1/certificates/{id}/timeline") => {
            (format!("/api/v1/certificates/{}/timeline", a.certificate.id), None)
        }
        (Method::GET, "/api/v1/certificates/{id}/live") => {
            (format!("/api/v1/certificates/{}/live", a.certificate.id), None)
        }
        // Not issued: 409 past the policy check.
        (Method::POST, "/api/v1/certificates/{id}/distribute") => {
            (format!("/api/v1/certificates/{}/distribute", a.certificate.id), None)
        }
        (Method::GET, "/api/v1/certificates/{id}/deployments") => {
            (format!("/api/v1/certificates/{}/deployments", a.certificate.id), None)
        }
        (Method::PUT, "/api/v1/certificates/{id}/targets") => {
            let cert = fresh().await.certificate;
            (
                format!("/api/v1/certificates/{}/targets", cert.id),
                Some(json!({ "target_ids": [], "version": cert.version })),
            )
        }
        (Method::GET, "/api/v1/certificates/{id}/chain") => {
            let mut cert = fresh().await.certificate;
            cert.chain_pem = Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into());
            let cert = h.store.update(&a.scope, &cert).await.unwrap();
            (format!("/api/v1/certificates/{}/chain", cert.id), None)
        }
        (Method::PATCH, "/api/v1/certificates/{id}") => {
            let cert = fresh().await.certificate;
            (format!("/api/v1/certificates/{}", cert.id), Some(json!({ "paused": true, "version": cert.version })))
        }
        // Never issued: nothing to revoke first, so an allowed caller deletes it.
        (Method::DELETE, "/api/v1/certificates/{id}") => {
            (format!("/api/v1/certificates/{}", fresh().await.certificate.id), None)
        }
        (Method::PATCH, "/api/v1/acme-accounts/{id}") => {
            let account = fresh().await.account;
            (
                format!("/api/v1/acme-accounts/{}", account.id),
                Some(json!({ "contact": [format!("mailto:ops{n}@acme.test")], "version": account.version })),
            )
        }
        (Method::GET, "/api/v1/jobs/{id}") => (format!("/api/v1/jobs/{}", a.job.id), None),
        (Method::GET, "/api/v1/projects/{id}/approval-policy") => {
            (format!("/api/v1/projects/{pa}/approval-policy"), None)
        }
        (Method::PUT, "/api/v1/projects/{id}/approval-policy") => {
            (format!("/api/v1/projects/{pa}/approval-policy"), Some(json!({ "require": "none" })))
        }
        (Method::GET, "/api/v1/approvals") => (format!("/api/v1/approvals?project_id={pa}"), None),
        (Method::GET, "/api/v1/approvals/{id}") => (format!("/api/v1/approvals/{}", a.approval.id), None),
        // Each call decides a fresh request (an allowed caller is answered 200, or 409 for the
        // requested certificate's state, past the policy check).
        (Method::POST, "/api/v1/approvals/{id}/approve") => {
            (format!("/api/v1/approvals/{}/approve", fresh().await.approval.id), Some(json!({})))
        }
        (Method::POST, "/api/v1/approvals/{id}/reject") => {
            (format!("/api/v1/approvals/{}/reject", fresh().await.approval.id), Some(json!({})))
        }
        (Method::DELETE, "/api/v1/acme-accounts/{id}") => {
            (format!("/api/v1/acme-accounts/{}", unused_account_in_a(h, w).await.id), None)
        }
        (Method::PATCH, "/api/v1/dns-credentials/{id}") => {
            let credential = fresh().await.credential;
            (
                format!("/api/v1/dns-credentials/{}", credential.id),
                Some(json!({ "name": format!("renamed-{n}"), "version": credential.version })),
            )
        }
        // The harness reaches no DNS server: an allowed caller gets the report of a failed step.
        (Method::POST, "/api/v1/dns-credentials/{id}/test") => {
            (format!("/api/v1/dns-credentials/{}/test", a.credential.id), None)
        }
        (Method::DELETE, "/api/v1/dns-credentials/{id}") => {
            (format!("/api/v1/dns-credentials/{}", unused_credential_in_a(h, w).await.id), None)
        }
        (Method::DELETE, "/api/v1/zones/{id}") => (format!("/api/v1/zones/{}", fresh().await.zone.id), None),
        (Method::PATCH, "/api/v1/zones/{id}") => {
            let zone = fresh().await.zone;
            let body = json!({ "propagation": { "strategy": "delay", "delay_seconds": 5 }, "version": zone.version });
            (format!("/api/v1/zones/{}", zone.id), Some(body))
        }
        (Method::PATCH, "/api/v1/targets/{id}") => {
            let target = fresh().await.target;
            (
                format!("/api/v1/targets/{}", target.id),
                Some(json!({ "name": format!("renamed-{n}"), "version": target.version })),
            )
        }
        (Method::POST, "/api/v1/notification-channels") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "name": format!("ch{n}"),
                "settings": { "type": "webhook", "url": "https://hooks.example.test/cap" },
                "secret": "a-signing-secret-of-enough-length" })),
        ),
        (Method::GET, "/api/v1/notification-channels/{id}") => {
            (format!("/api/v1/notification-channels/{}", a.channel.id), None)
        }
        (Method::PATCH, "/api/v1/notification-channels/{id}") => {
            let channel = fresh().await.channel;
            (
                format!("/api/v1/notification-channels/{}", channel.id),
                Some(json!({ "name": format!("renamed-{n}"), "version": channel.version })),
            )
        }
        (Method::DELETE, "/api/v1/notification-channels/{id}") => {
            let channel = notification_channel(h, &a.scope, &format!("unused-{n}")).await;
            (format!("/api/v1/notification-channels/{}", channel.id), None)
        }
        // The channel points at loopback, which the egress policy refuses: an allowed caller is told
        // the test failed, and no socket is opened.
        (Method::POST, "/api/v1/notification-channels/{id}/test") => {
            (format!("/api/v1/notification-channels/{}/test", a.channel.id), None)
        }
        (Method::POST, "/api/v1/notification-rules") => (
            route.path.into(),
            Some(json!({ "project_id": pa, "name": format!("r{n}"), "events": ["cert.issued"],
                "channel_ids": [a.channel.id] })),
        ),
        (Method::GET, "/api/v1/notification-rules/{id}") => (format!("/api/v1/notification-rules/{}", a.rule.id), None),
        (Method::PATCH, "/api/v1/notification-rules/{id}") => {
            let rule = fresh().await.rule;
            (
                format!("/api/v1/notification-rules/{}", rule.id),
                Some(json!({ "enabled": false, "version": rule.version })),
            )
        }
        (Method::DELETE, "/api/v1/notification-rules/{id}") => {
            (format!("/api/v1/notification-rules/{}", fresh().await.rule.id), None)
        }
        (Method::POST, "/api/v1/targets/{id}/scan") => (format!("/api/v1/targets/{}/scan", a.target.id), None),
        (Method::DELETE, "/api/v1/targets/{id}") => (format!("/api/v1/targets/{}", fresh().await.target.id), None),
        (Method::GET, "/api/v1/audit/events") => (format!("/api/v1/audit/events?project_id={pa}"), None),
        (Method::POST, "/api/v1/audit/verify") => (route.path.into(), None),
        // The harness runs no cluster: the admin routes answer 409 past the policy check.
        (Method::GET, "/api/v1/cluster/status") => (route.path.into(), None),
        (Method::GET, "/api/v1/acme-catalogue") => (route.path.into(), None),
        (Method::POST, "/api/v1/admin/cluster/init") => (route.path.into(), None),
        (Method::POST, "/api/v1/admin/cluster/join") => {
            (route.path.into(), Some(json!({ "node_id": 2, "addr": "127.0.0.1:7402" })))
        }
        (Method::POST, "/api/v1/admin/cluster/leave") => (route.path.into(), Some(json!({ "node_id": 2 }))),
        (Method::GET, "/api/v1/admin/actors") => ("/api/v1/admin/actors?kind=kek".into(), None),
        (Method::GET, "/api/v1/admin/actors/{kind}/{key}") => {
            (format!("/api/v1/admin/actors/kek/{}", crate::api::tests::harness::NODE), None)
        }
        // Fault injection is off in the harness: 409 past the policy check.
        (Method::POST, "/api/v1/admin/actors/{kind}/{key}/panic") => {
            (format!("/api/v1/admin/actors/kek/{}/panic", crate::api::tests::harness::NODE), None)
        }
        (method, path) => panic!("the role matrix has no request for {method} {path}: add one"),
    };
    let _ = (owner, ProjectScope::for_owner);
    let mut req = Req::new(route.method.clone(), path).acting_as(who);
    if let Some(body) = body {
        req = req.json(body);
    }
    req
}

fn outcome(status: u16) -> Expect {
    match status {
        401 => Expect::Unauthenticated,
        403 => Expect::Forbidden,
        404 => Expect::Hidden,
        _ => Expect::Allowed,
    }
}

/// Every route × every caller gets exactly the decision its declared policy implies, and allowed
/// calls never fail with a server error.
#[actix_web::test]
async fn every_route_and_role_gets_its_declared_decision() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let mut failures = Vec::new();
    let routes = table();
    assert!(routes.len() >= 35, "route table unexpectedly small: {}", routes.len());
    for route in &routes {
        for who in w.principals() {
            let req = request_for(&h, &w, route, &who).await;
            let resp = send(&app, req).await;
            let expected = expectation(route.policy, who.name);
            let got = outcome(resp.status.as_u16());
            if got != expected || resp.status.is_server_error() {
                failures.push(format!(
                    "{} {} as {}: expected {expected:?}, got {resp:?}",
                    route.method, route.path, who.name
                ));
            }
            if got == Expect::Allowed && route.status >= 200 && resp.status.is_success() {
                assert_eq!(
                    resp.status.as_u16(),
                    route.status,
                    "{} {} as {}: status differs from the table",
                    route.method,
                    route.path,
                    who.name
                );
            }
        }
    }
    assert!(failures.is_empty(), "{} wrong decisions:\n{}", failures.len(), failures.join("\n"));
}

/// Every route of the table reaches `Authorized` with its policy (registration attaches it as route
/// data): anonymous callers get 401 exactly on the routes that are not public, where a route without
/// its policy would get 403. A path outside the table is a 404 problem and a known path with another
/// method a 405 problem.
#[actix_web::test]
async fn no_route_without_a_policy() {
    let h = Harness::new().await;
    let app = app!(h);
    for route in table() {
        let path: Vec<String> = route
            .path
            .split('/')
            .map(|segment| if segment.starts_with('{') { ProjectId::new().to_string() } else { segment.to_owned() })
            .collect();
        let resp = send(&app, Req::new(route.method.clone(), path.join("/"))).await;
        if route.policy == Policy::Public {
            assert!(![401, 403].contains(&resp.status.as_u16()), "{} {}: {resp:?}", route.method, route.path);
        } else {
            assert_problem(&resp, 401, "unauthenticated");
        }
    }
    let resp = send(&app, Req::get("/api/v1/nothing-here")).await;
    assert_problem(&resp, 404, "not_found");
    let resp = send(&app, Req::new(Method::PUT, "/api/v1/projects")).await;
    assert_problem(&resp, 405, "method_not_allowed");
}

/// The policies as reviewed. The matrix above proves each route enforces its declared policy; this
/// list proves nobody weakened a declaration by accident: changing a policy means changing it here.
#[test]
fn declared_policies_match_the_reviewed_list() {
    let reviewed = "\
GET /api/v1/openapi.json public
POST /api/v1/setup public
POST /api/v1/auth/login public
POST /api/v1/auth/logout authenticated
GET /api/v1/auth/me authenticated
GET /api/v1/auth/tokens authenticated
POST /api/v1/auth/tokens authenticated
DELETE /api/v1/auth/tokens/{id} authenticated
GET /api/v1/users owner
POST /api/v1/users owner
GET /api/v1/users/{id}/tokens owner
POST /api/v1/users/{id}/disable owner
POST /api/v1/users/{id}/enable owner
GET /api/v1/organization authenticated
POST /api/v1/organization/owner owner
PUT /api/v1/organization/audit-retention owner
GET /api/v1/projects authenticated
POST /api/v1/projects owner
GET /api/v1/projects/{id} viewer
PATCH /api/v1/projects/{id} admin
GET /api/v1/projects/{id}/approval-policy viewer
PUT /api/v1/projects/{id}/approval-policy admin
GET /api/v1/approvals viewer
GET /api/v1/approvals/{id} viewer
POST /api/v1/approvals/{id}/approve admin
POST /api/v1/approvals/{id}/reject admin
DELETE /api/v1/projects/{id} owner
GET /api/v1/projects/{id}/members viewer
POST /api/v1/projects/{id}/members admin
PATCH /api/v1/projects/{id}/members/{user_id} admin
DELETE /api/v1/projects/{id}/members/{user_id} admin
GET /api/v1/acme-catalogue authenticated
GET /api/v1/acme-accounts viewer
POST /api/v1/acme-accounts admin
GET /api/v1/acme-accounts/{id} viewer
PATCH /api/v1/acme-accounts/{id} admin
DELETE /api/v1/acme-accounts/{id} admin
GET /api/v1/dns-credentials viewer
POST /api/v1/dns-credentials admin
GET /api/v1/dns-credentials/{id} viewer
PATCH /api/v1/dns-credentials/{id} admin
POST /api/v1/dns-credentials/{id}/test admin
DELETE /api/v1/dns-credentials/{id} admin
GET /api/v1/zones viewer
POST /api/v1/zones admin
GET /api/v1/zones/{id} viewer
PATCH /api/v1/zones/{id} admin
DELETE /api/v1/zones/{id} admin
GET /api/v1/targets viewer
POST /api/v1/targets admin
POST /api/v1/targets/{id}/scan operator
GET /api/v1/targets/{id} viewer
PATCH /api/v1/targets/{id} admin
DELETE /api/v1/targets/{id} admin
GET /api/v1/notification-channels viewer
POST /api/v1/notification-channels admin
GET /api/v1/notification-channels/{id} viewer
PATCH /api/v1/notification-channels/{id} admin
DELETE /api/v1/notification-channels/{id} admin
POST /api/v1/notification-channels/{id}/test admin
GET /api/v1/notification-rules viewer
POST /api/v1/notification-rules admin
GET /api/v1/notification-rules/{id} viewer
PATCH /api/v1/notification-rules/{id} admin
DELETE /api/v1/notification-rules/{id} admin
GET /api/v1/certificates viewer
POST /api/v1/certificates operator
POST /api/v1/certificates/import operator
POST /api/v1/discovery/scans admin
POST /api/v1/certificates/{id}/manage operator
POST /api/v1/certificates/{id}/renew operator
POST /api/v1/certificates/{id}/revoke admin
GET /api/v1/certificates/{id}/timeline viewer
GET /api/v1/certificates/{id}/live viewer
POST /api/v1/certificates/{id}/distribute operator
GET /api/v1/certificates/{id}/deployments viewer
PUT /api/v1/certificates/{id}/targets operator
GET /api/v1/certificates/{id}/chain viewer
GET /api/v1/certificates/{id} viewer
PATCH /api/v1/certificates/{id} operator
DELETE /api/v1/certificates/{id} admin
GET /api/v1/jobs viewer
GET /api/v1/jobs/{id} viewer
GET /api/v1/audit/events owner
POST /api/v1/audit/verify owner
GET /api/v1/cluster/status authenticated
POST /api/v1/admin/cluster/init owner
POST /api/v1/admin/cluster/join owner
POST /api/v1/admin/cluster/leave owner
GET /api/v1/admin/actors owner
GET /api/v1/admin/actors/{kind}/{key} owner
POST /api/v1/admin/actors/{kind}/{key}/panic owner
";
    let declared: String = table()
        .iter()
        .map(|r| {
            let policy = match r.policy {
                Policy::Public => "public".to_owned(),
                Policy::Authenticated => "authenticated".to_owned(),
                Policy::Owner => "owner".to_owned(),
                Policy::Project(role) => role.as_str().to_owned(),
            };
            format!("{} {} {policy}\n", r.method, r.path)
        })
        .collect();
    assert_eq!(declared, reviewed);
}
