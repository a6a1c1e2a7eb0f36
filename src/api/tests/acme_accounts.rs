//! Issue 15, items 4 and 5 for ACME accounts, through the HTTP API against a real Pebble on
//! loopback: creating or changing an account fetches the CA's directory with the account's trust
//! and through the egress policy, and refuses a CA that is not trusted, does not answer or is not a
//! CA (422 with a classified reason, never the CA's body); `PATCH` edits contact, CA bundle and
//! EAB binding under the secret-binding rule, version-checked, audited, all or nothing.

use std::time::Duration;

use actix_web::http::Method;
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{Pebble, PebbleOptions, make_tls_certificates};
use certautopilot_core::Timestamp;
use certautopilot_core::model::{AcmeAccount, AcmeAccountStatus};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::{Value, json};

use super::harness::*;
use crate::service::directory::DirectoryCheck;

const EAB_KEY: &str = "c2VjcmV0LWhtYWMta2V5LXZhbHVlLWZvci1lYWI";
const OTHER_EAB_KEY: &str = "YW5vdGhlci1obWFjLWtleS12YWx1ZQ";

/// A Pebble (no challenges are solved: its DNS server is never asked), and the CA of another,
/// unrelated TLS server.
struct Cas {
    _dir: tempfile::TempDir,
    pebble: Pebble,
    other_ca_pem: String,
}

fn cas() -> Cas {
    let dir = tempfile::tempdir().unwrap();
    let pebble = Pebble::start(&dir.path().join("pebble"), PebbleOptions::new("127.0.0.1:53".parse().unwrap()));
    make_tls_certificates(&dir.path().join("other"), "other.test", "DNS:other.test");
    let other_ca_pem = std::fs::read_to_string(dir.path().join("other/ca.pem")).unwrap();
    Cas { _dir: dir, pebble, other_ca_pem }
}

fn checked(egress: EgressPolicy, timeout: Duration) -> DirectoryCheck {
    DirectoryCheck { egress, timeout }
}

async fn accounts(h: &Harness, w: &World) -> Vec<AcmeAccount> {
    h.store.list::<AcmeAccount>(&w.a.scope, &PageRequest::first(1_000)).await.unwrap().items
}

/// Only a directory that answers over TLS the account trusts is saved. Without the CA in the bundle,
/// or with another CA's bundle, the answer is "the CA's certificate is not trusted: …" on
/// `ca_bundle_pem`; a server that never answers is cut off at the check's timeout; a path that is not
/// a directory is `http 404 from the CA` with nothing of the CA's body; the egress policy's refusal
/// is named. Each refusal stores nothing; the trusted directory is saved and audited.
#[actix_web::test]
async fn an_account_is_saved_only_when_its_ca_answers_trusted() {
    let cas = cas();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("https://127.0.0.1:{}/dir", silent.local_addr().unwrap().port());
    let h =
        Harness::with_acme_directory_check(checked(EgressPolicy::allowing_loopback(), Duration::from_secs(1))).await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let before = accounts(&h, &w).await;
    let dir_url = cas.pebble.directory_url();
    let pebble_ca = cas.pebble.https_ca_pem();
    let create = |url: &str, bundle: Option<&str>| {
        Req::new(Method::POST, "/api/v1/acme-accounts").acting_as(&w.admin_a).json(json!({ "project_id": pa,
            "name": format!("acct{}", unique()), "directory_url": url, "tos_agreed": true, "ca_bundle_pem": bundle }))
    };
    let not_found_url = dir_url.replace("/dir", "/not-a-directory");
    let cases: [(&str, Option<&str>, &str, &str); 4] = [
        (&dir_url, None, "ca_bundle_pem", "the CA's certificate is not trusted: "),
        (&dir_url, Some(&cas.other_ca_pem), "ca_bundle_pem", "the CA's certificate is not trusted: "),
        (&silent_url, Some(&pebble_ca), "directory_url", "the CA did not answer: no answer within 1000 ms"),
        (&not_found_url, Some(&pebble_ca), "directory_url", "http 404 from the CA"),
    ];
    for (url, bundle, field, detail) in cases {
        let resp = send(&app, create(url, bundle)).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!(field), "{url}: {resp:?}");
        let got = resp.json["detail"].as_str().unwrap();
        assert!(got.starts_with(detail), "{url}: {got}");
        assert!(!got.contains("page not found") && !got.contains("<"), "the CA's body is not reflected: {got}");
    }
    let untrusted = send(&app, create(&dir_url, None)).await;
    assert!(untrusted.json["detail"].as_str().unwrap().contains("UnknownIssuer"), "{untrusted:?}");
    assert_eq!(accounts(&h, &w).await, before, "a refused account is not stored");

    let resp = send(&app, create(&dir_url, Some(&pebble_ca))).await;
    assert_eq!(resp.status, 201, "{resp:?}");
    assert_eq!(resp.json["has_ca_bundle"], json!(true));
    drop(silent);

    // Loopback is refused by the default policy: the refusal names it, and nothing is stored.
    let strict = Harness::with_acme_directory_check(checked(EgressPolicy::default(), Duration::from_secs(5))).await;
    let sw = world(&strict).await;
    let strict_app = app!(strict);
    let body = json!({ "project_id": sw.a.scope.project_id(), "name": "strict", "directory_url": dir_url,
        "tos_agreed": true, "ca_bundle_pem": pebble_ca });
    let resp = send(&strict_app, Req::new(Method::POST, "/api/v1/acme-accounts").acting_as(&sw.owner).json(body)).await;
    assert_problem(&resp, 422, "validation_failed");
    assert_eq!(resp.json["field"], json!("directory_url"));
    let detail = resp.json["detail"].as_str().unwrap();
    assert!(detail.starts_with("the CA's address is refused: egress policy refuses 127.0.0.1 (loopback"), "{detail}");
    assert_eq!(accounts(&strict, &sw).await.len(), 1, "only the world's account");
}

fn patch(id: impl std::fmt::Display, body: Value) -> Req {
    Req::new(Method::PATCH, format!("/api/v1/acme-accounts/{id}")).json(body)
}

/// `PATCH` on an account holding an EAB key: moving its trust (the CA bundle) without giving the
/// key again is refused on `eab_hmac_key`; with the key but an untrusted bundle the CA check refuses;
/// the directory cannot move; bad contacts, half a binding and a stale version are refused. None of
/// these changes anything. A contact change is saved, versioned and audited as `credential.updated`,
/// and the key is never in an answer or the audit entry.
#[actix_web::test]
async fn patching_an_account_rechecks_its_ca_and_keeps_its_eab_key_bound() {
    let cas = cas();
    let h =
        Harness::with_acme_directory_check(checked(EgressPolicy::allowing_loopback(), Duration::from_secs(5))).await;
    let w = world(&h).await;
    let app = app!(h);
    let pebble_ca = cas.pebble.https_ca_pem();
    let created = send(
        &app,
        Req::new(Method::POST, "/api/v1/acme-accounts").acting_as(&w.admin_a).json(json!({
        "project_id": w.a.scope.project_id(), "name": "eab", "directory_url": cas.pebble.directory_url(),
        "tos_agreed": true, "ca_bundle_pem": pebble_ca, "eab_kid": "kid-1", "eab_hmac_key": EAB_KEY })),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();
    let account: AcmeAccount = h.store.get(&w.a.scope, &id).await.unwrap();
    let v = account.version;
    let other = cas.other_ca_pem.as_str();
    let cases = [
        (json!({ "version": v, "ca_bundle_pem": other }), 422, "eab_hmac_key"),
        (json!({ "version": v, "ca_bundle_pem": null }), 422, "eab_hmac_key"),
        (
            json!({ "version": v, "ca_bundle_pem": other, "eab_kid": "kid-1", "eab_hmac_key": EAB_KEY }),
            422,
            "ca_bundle_pem",
        ),
        (json!({ "version": v, "directory_url": "https://elsewhere.test/dir" }), 422, "directory_url"),
        (json!({ "version": v, "contact": ["ops@acme.test"] }), 422, "contact[0]"),
        (json!({ "version": v, "contact": ["mailto:ok@acme.test"], "eab_kid": "kid-2" }), 422, "eab_hmac_key"),
        (json!({ "version": v + 1, "contact": ["mailto:ok@acme.test"] }), 409, ""),
        (json!({ "version": v, "name": "renamed" }), 400, ""),
    ];
    for (body, status, field) in cases {
        let resp = send(&app, patch(&id, body.clone()).acting_as(&w.admin_a)).await;
        assert_eq!(resp.status.as_u16(), status, "{body}: {resp:?}");
        if !field.is_empty() {
            assert_eq!(resp.json["field"], json!(field), "{body}: {resp:?}");
        }
        assert!(!resp.text.contains(EAB_KEY), "{body}: the key came back");
        assert_eq!(h.store.get::<AcmeAccount>(&w.a.scope, &account.id).await.unwrap(), account, "{body} changed it");
    }
    let binding = send(&app, patch(&id, json!({ "version": v, "ca_bundle_pem": other })).acting_as(&w.admin_a)).await;
    assert!(binding.json["detail"].as_str().unwrap().contains("give eab_hmac_key again"), "{binding:?}");
    let operator = send(&app, patch(&id, json!({ "version": v, "contact": [] })).acting_as(&w.operator_a)).await;
    assert_problem(&operator, 403, "forbidden");

    let same_url =
        json!({ "version": v, "directory_url": cas.pebble.directory_url(), "contact": ["mailto:new@acme.test"] });
    let resp = send(&app, patch(&id, same_url).acting_as(&w.admin_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json["contact"], json!(["mailto:new@acme.test"]));
    assert_eq!(resp.json["version"], json!(v + 1));
    let events = send(&app, Req::get("/api/v1/audit/events?action=credential.updated").acting_as(&w.owner)).await;
    let items = events.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events:?}");
    assert_eq!(items[0]["details"]["contact"], json!({ "before": [], "after": ["mailto:new@acme.test"] }));
    assert!(!events.text.contains(EAB_KEY));

    // Moving the trust with the key given again is allowed once the CA answers trusted.
    let rebound = json!({ "version": v + 1, "ca_bundle_pem": pebble_ca.clone() + "\n", "eab_kid": "kid-1", "eab_hmac_key": EAB_KEY });
    let resp = send(&app, patch(&id, rebound).acting_as(&w.admin_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
}

/// The edits people need: a wrong CA bundle on a failed account is fixed in place (the account goes
/// back to `pending`, so the next order registers it); a pending account takes a new EAB binding;
/// a registered one refuses a new binding (the CA used the old one at registration) and changes
/// nothing.
#[actix_web::test]
async fn a_wrong_bundle_is_fixed_and_eab_rebinds_only_before_registration() {
    let cas = cas();
    let h =
        Harness::with_acme_directory_check(checked(EgressPolicy::allowing_loopback(), Duration::from_secs(5))).await;
    let w = world(&h).await;
    let app = app!(h);
    let now = Timestamp::now();
    let mut wrong = AcmeAccount::new(w.a.scope.project_id(), "wrong-bundle", cas.pebble.directory_url(), now);
    wrong.ca_bundle_pem = Some(cas.other_ca_pem.clone());
    wrong.status = AcmeAccountStatus::Failed;
    wrong.last_error = Some("the CA's certificate is not trusted".into());
    h.store.insert(&w.a.scope, &wrong).await.unwrap();
    let fix = json!({ "version": wrong.version, "ca_bundle_pem": cas.pebble.https_ca_pem() });
    let resp = send(&app, patch(wrong.id, fix).acting_as(&w.admin_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json["status"], json!("pending"));
    let fixed: AcmeAccount = h.store.get(&w.a.scope, &wrong.id).await.unwrap();
    assert_eq!((fixed.ca_bundle_pem.as_deref(), fixed.last_error), (Some(cas.pebble.https_ca_pem().as_str()), None));

    let rebind = json!({ "version": fixed.version, "eab_kid": "kid-2", "eab_hmac_key": OTHER_EAB_KEY });
    let resp = send(&app, patch(wrong.id, rebind).acting_as(&w.admin_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!((resp.json["eab_kid"].clone(), resp.json["has_eab_hmac_key"].clone()), (json!("kid-2"), json!(true)));
    let bound: AcmeAccount = h.store.get(&w.a.scope, &wrong.id).await.unwrap();
    let key =
        h.state.envelope.open(&wrong.id.to_string(), "eab_hmac_key", bound.eab_hmac_key.as_ref().unwrap()).unwrap();
    assert_eq!(key.expose(), OTHER_EAB_KEY.as_bytes());

    let mut registered = bound.clone();
    registered.status = AcmeAccountStatus::Registered;
    let registered = h.store.update(&w.a.scope, &registered).await.unwrap();
    let rebind = json!({ "version": registered.version, "eab_kid": "kid-3", "eab_hmac_key": EAB_KEY });
    let resp = send(&app, patch(wrong.id, rebind).acting_as(&w.admin_a)).await;
    assert_problem(&resp, 409, "conflict");
    assert!(resp.json["detail"].as_str().unwrap().contains("create another account"), "{resp:?}");
    assert_eq!(h.store.get::<AcmeAccount>(&w.a.scope, &wrong.id).await.unwrap(), registered);
}
