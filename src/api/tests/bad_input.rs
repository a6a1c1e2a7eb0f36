//! Bad input: malformed JSON, wrong types, unknown fields, oversized and mistyped bodies, invalid
//! domain names, path traversal in names. Each is a 4xx problem document naming what is wrong, and
//! nothing is stored.

use actix_web::http::Method;
use certautopilot_core::model::{Certificate, DistributionTarget, Project, Zone};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::json;

use super::harness::*;

#[actix_web::test]
async fn bad_bodies_are_refused_with_problems_and_store_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let counts = || async {
        let page = PageRequest::first(1_000);
        (
            h.store.list::<Project>(&w.org_scope, &page).await.unwrap().items.len(),
            h.store.list::<Certificate>(&w.a.scope, &page).await.unwrap().items.len(),
            h.store.list::<Zone>(&w.a.scope, &page).await.unwrap().items.len(),
            h.store.list::<DistributionTarget>(&w.a.scope, &page).await.unwrap().items.len(),
        )
    };
    let before = counts().await;
    let post = |path: &str| Req::new(Method::POST, path).acting_as(&w.owner);

    let cases: Vec<(&str, Req, u16, &str, Option<&str>)> = vec![
        ("malformed JSON", post("/api/v1/projects").raw("application/json", "{\"name\": "), 400, "invalid_json", None),
        ("not JSON at all", post("/api/v1/projects").raw("application/json", "name=x"), 400, "invalid_json", None),
        ("wrong type", post("/api/v1/projects").json(json!({ "name": 42 })), 400, "invalid_json", Some("name")),
        ("unknown field", post("/api/v1/projects").json(json!({ "name": "ok", "owner": "me" })), 400, "invalid_json", None),
        ("missing field", post("/api/v1/projects").json(json!({})), 400, "invalid_json", None),
        ("wrong content type", post("/api/v1/projects").raw("text/plain", "{\"name\":\"x\"}"), 415, "unsupported_media_type", None),
        ("oversized", post("/api/v1/projects").raw("application/json", format!("{{\"name\":\"{}\"}}", "x".repeat(BODY_LIMIT))), 413, "payload_too_large", None),
        ("path traversal in a name", post("/api/v1/projects").json(json!({ "name": "../../etc" })), 422, "validation_failed", Some("name")),
        ("slash in a name", post("/api/v1/projects").json(json!({ "name": "a/b" })), 422, "validation_failed", Some("name")),
        ("wildcard apex", post("/api/v1/zones").json(json!({ "project_id": pa, "apex": "*.example.com", "credential_id": w.a.credential.id })), 422, "validation_failed", Some("apex")),
        ("file target path traversal", post("/api/v1/targets").json(json!({ "project_id": pa, "name": "t", "type": "file", "config": { "cert_path": "/etc/ssl/../../root/x", "key_path": "/k" } })), 422, "validation_failed", Some("config.cert_path")),
        ("unknown target key", post("/api/v1/targets").json(json!({ "project_id": pa, "name": "t", "type": "file", "config": { "cert_path": "/c", "key_path": "/k", "colour": "red" } })), 422, "validation_failed", Some("config.colour")),
        ("bad project id", post("/api/v1/certificates").json(json!({ "project_id": "not-a-uuid", "common_name": "a.example.com", "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id })), 400, "invalid_json", Some("project_id")),
        // Issue M2.1 item 10: control and separator characters, an over-long common name, a
        // wildcard under a public suffix.
        ("CR/LF in an EAB key id", post("/api/v1/acme-accounts").json(json!({ "project_id": pa, "name": "crlf", "directory_url": "https://ca.example.com/dir", "contact": [], "tos_agreed": true, "eab_kid": "kid\r\nX-Injected: 1", "eab_hmac_key": "c2VjcmV0" })), 422, "validation_failed", Some("eab_kid")),
        ("U+2028 in an IIS site", post("/api/v1/targets").json(json!({ "project_id": pa, "name": "iis", "type": "iis", "config": { "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef", "site": "Default\u{2028}Site" } })), 422, "validation_failed", Some("config.site")),
        ("U+0085 in an IIS site", post("/api/v1/targets").json(json!({ "project_id": pa, "name": "iis", "type": "iis", "config": { "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef", "site": "Default\u{85}Site" } })), 422, "validation_failed", Some("config.site")),
        ("69-character common name", post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": format!("{}.example.com", "a".repeat(57)), "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id })), 422, "validation_failed", Some("common_name")),
        ("wildcard under a public suffix", post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "*.co.uk", "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id })), 422, "validation_failed", Some("common_name")),
        ("wildcard SAN under a public suffix", post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "www.example.com", "sans": ["*.github.io"], "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id })), 422, "validation_failed", Some("sans[0]")),
        ("unknown key type", post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "a.example.com", "key_type": "dsa-1024", "acme_account_id": w.a.account.id })), 400, "invalid_json", Some("key_type")),
    ];
    for (what, req, status, code, field) in cases {
        let resp = send(&app, req).await;
        assert_problem(&resp, status, code);
        if let Some(field) = field {
            assert_eq!(resp.json["field"], json!(field), "{what}: {resp:?}");
        }
    }

    let names = [
        ("", "common_name"),
        ("-bad.example.com", "common_name"),
        ("foo.*.example.com", "common_name"),
        ("exa_mple.com", "common_name"),
        ("192.0.2.10", "common_name"),
        ("localhost", "common_name"),
        (&*format!("{}.example.com", "a".repeat(64)), "common_name"),
    ];
    for (name, field) in names {
        let body = json!({ "project_id": pa, "common_name": name, "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id });
        let resp = send(&app, post("/api/v1/certificates").json(body)).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!(field), "{name:?}: {resp:?}");
    }
    let sans: Vec<String> = (0..101).map(|i| format!("n{i}.example.com")).collect();
    let resp = send(&app, post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "a.example.com", "sans": sans, "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id }))).await;
    assert_problem(&resp, 422, "validation_failed");
    let resp = send(&app, post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "a.example.com", "sans": ["ok.example.com", "bad..example.com"], "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id }))).await;
    assert_eq!(resp.json["field"], json!("sans[1]"), "{resp:?}");
    assert_eq!(counts().await, before, "a refused request stored something");

    // Internationalized names are stored as A-labels (and checked against the zones as such).
    let zone = Zone::new(pa, "xn--bcher-kva.example", w.a.credential.id, certautopilot_core::Timestamp::now());
    h.store.insert(&w.a.scope, &zone).await.unwrap();
    let resp = send(&app, post("/api/v1/certificates").json(json!({ "project_id": pa, "common_name": "Bücher.Example", "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id }))).await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.json["certificate"]["common_name"], json!("xn--bcher-kva.example"));
    assert_eq!(resp.json["job"]["kind"], json!("issue"));
}

/// Query strings and path ids that cannot be valid are problems too, never server errors.
#[actix_web::test]
async fn bad_queries_and_ids_are_problems() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    for (path, status, code) in [
        ("/api/v1/certificates", 422, "validation_failed"),
        ("/api/v1/certificates?project_id=nope", 422, "validation_failed"),
        (&*format!("/api/v1/certificates?project_id={pa}&limit=0"), 422, "validation_failed"),
        (&*format!("/api/v1/certificates?project_id={pa}&limit=lots"), 400, "bad_request"),
        (&*format!("/api/v1/certificates?project_id={pa}&cursor=zz"), 422, "validation_failed"),
        (&*format!("/api/v1/certificates?project_id={pa}&colour=red"), 400, "bad_request"),
        ("/api/v1/certificates/not-an-id", 404, "not_found"),
        ("/api/v1/certificates/00000000-0000-0000-0000-000000000000", 404, "not_found"),
    ] {
        let resp = send(&app, Req::get(path).acting_as(&w.owner)).await;
        assert_problem(&resp, status, code);
    }
}

/// Deleting something still referenced (a credential used by a zone, an account or a target used by
/// a certificate) is a 409 that names the user, and nothing is deleted.
#[actix_web::test]
async fn deletes_that_would_leave_dangling_references_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let a = &w.a;
    let mut cert: Certificate = h.store.get(&a.scope, &a.certificate.id).await.unwrap();
    cert.target_ids = vec![a.target.id];
    h.store.update(&a.scope, &cert).await.unwrap();
    for (path, user) in [
        (format!("/api/v1/dns-credentials/{}", a.credential.id), "zone"),
        (format!("/api/v1/acme-accounts/{}", a.account.id), "certificate"),
        (format!("/api/v1/targets/{}", a.target.id), "certificate"),
    ] {
        let resp = send(&app, Req::new(Method::DELETE, &path).acting_as(&w.owner)).await;
        assert_problem(&resp, 409, "conflict");
        assert!(resp.json["detail"].as_str().unwrap().contains(&format!("still used by {user}")), "{resp:?}");
        assert_eq!(send(&app, Req::get(&path).acting_as(&w.owner)).await.status, 200, "{path} was deleted anyway");
    }
}

/// `PATCH /projects/{id}/members/{user_id}`: the new role takes effect at once (the viewer, made
/// operator, may then scan a target, which a viewer may not); the owner role, a role that does not
/// exist and a user who is not a member are refused, and the role stays what it was.
#[actix_web::test]
async fn a_members_role_changes_over_rest_and_bad_roles_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let viewer = w.viewer_a.user.as_ref().unwrap().id;
    let patch = |user: String, role: &str| {
        Req::new(Method::PATCH, format!("/api/v1/projects/{pa}/members/{user}"))
            .json(json!({ "role": role }))
            .acting_as(&w.admin_a)
    };
    let scan = || Req::new(Method::POST, format!("/api/v1/targets/{}/scan", w.a.target.id)).acting_as(&w.viewer_a);
    assert_problem(&send(&app, scan()).await, 403, "forbidden");

    assert_problem(&send(&app, patch(viewer.to_string(), "owner")).await, 422, "validation_failed");
    let unknown_role = send(&app, patch(viewer.to_string(), "boss")).await;
    assert_problem(&unknown_role, 400, "invalid_json");
    assert_eq!(unknown_role.json["field"], json!("role"), "{unknown_role:?}");
    let stranger = certautopilot_core::ids::UserId::new().to_string();
    assert_problem(&send(&app, patch(stranger, "operator")).await, 404, "not_found");
    assert_problem(&send(&app, scan()).await, 403, "forbidden");

    let changed = send(&app, patch(viewer.to_string(), "operator")).await;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(changed.json["role"], json!("operator"));
    let scanned = send(&app, scan()).await;
    assert_eq!(scanned.status, 202, "{scanned:?}");
}
