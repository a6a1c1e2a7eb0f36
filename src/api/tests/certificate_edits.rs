//! Issue 15, items 4 and 5 for certificates, through the HTTP API: names no zone serves and
//! renewal policies that do not fit the lifetime are refused at creation; `PATCH` edits the
//! renewal policy, targets and pause (version-checked, audited, all or nothing); `DELETE` refuses a
//! live certificate and otherwise removes it with its keys and deployments, keeping its story in
//! the audit chain.

use std::time::Duration;

use actix_web::http::Method;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AcmeAccount, Certificate, CertificateStatus, Deployment, Job, KeyType};
use certautopilot_core::store::{PageRequest, RecordStore, prelude::*};
use certautopilot_core::{SystemScope, Timestamp};
use serde_json::{Value, json};

use super::harness::*;

const DAY: Duration = Duration::from_secs(86_400);
const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

/// A certificate of project a, issued a day ago for `lifetime_days`, with a sealed private key.
async fn issued(h: &Harness, w: &World, lifetime_days: u32) -> Certificate {
    let mut cert = resources(h, w.a.scope.clone(), "edit").await.certificate;
    let start = Timestamp::now().saturating_sub(DAY);
    cert.mark_issued(format!("{:x}", unique()), start, start.saturating_add(DAY * lifetime_days), "00".into());
    cert.chain_pem = Some(CHAIN.into());
    cert.private_key =
        Some(h.state.envelope.seal(&cert.id.to_string(), "private_key", &SecretBytes::from_text("key")).unwrap());
    h.store.update(&w.a.scope, &cert).await.unwrap()
}

async fn stored(h: &Harness, w: &World, cert: &Certificate) -> Certificate {
    h.store.get(&w.a.scope, &cert.id).await.unwrap()
}

/// The audit events with `action`, oldest first, as an owner reads them.
async fn audit_events<S, B>(app: &S, w: &World, action: &str) -> Vec<Value>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = send(app, Req::get(format!("/api/v1/audit/events?action={action}")).acting_as(&w.owner)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    resp.json["items"].as_array().unwrap().clone()
}

fn patch(path: String, body: Value) -> Req {
    Req::new(Method::PATCH, path).json(body)
}

/// A name outside every zone of the project is refused at creation, naming the field and the name
/// (the common name, or the SAN by index); label-wise, so `xz….a.example` is not under `z….a.example`.
/// Nothing is stored and no job queued; names under a zone, and the apex itself, are accepted.
#[actix_web::test]
async fn a_name_no_zone_serves_is_refused_at_creation() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let apex = w.a.zone.apex.clone();
    let jobs_before = h.store.list_project_jobs(&w.a.scope, &PageRequest::first(1_000)).await.unwrap().items.len();
    let body = |cn: &str, sans: Vec<String>| {
        json!({ "project_id": pa, "common_name": cn, "sans": sans,
        "key_type": "ecdsa-p256", "acme_account_id": w.a.account.id })
    };
    let cases = [
        (body("www.elsewhere.example", vec![]), "common_name", "www.elsewhere.example".to_owned()),
        (body(&format!("www.{apex}"), vec![format!("api.{apex}"), format!("x{apex}")]), "sans[1]", format!("x{apex}")),
        // Project b's zone serves nothing in project a.
        (body(&format!("www.{}", w.b.zone.apex), vec![]), "common_name", format!("www.{}", w.b.zone.apex)),
    ];
    for (request, field, name) in cases {
        let resp =
            send(&app, Req::new(Method::POST, "/api/v1/certificates").acting_as(&w.operator_a).json(request)).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!(field), "{resp:?}");
        let detail = resp.json["detail"].as_str().unwrap();
        assert!(detail.contains(&format!("no zone of this project serves {name}")), "{detail}");
    }
    let page = PageRequest::first(1_000);
    assert_eq!(h.store.list::<Certificate>(&w.a.scope, &page).await.unwrap().items.len(), 1, "only the world's");
    assert_eq!(h.store.list_project_jobs(&w.a.scope, &page).await.unwrap().items.len(), jobs_before);

    for ok in [body(&apex, vec![format!("*.{apex}")]), body(&format!("a.b.{apex}"), vec![])] {
        let resp = send(&app, Req::new(Method::POST, "/api/v1/certificates").acting_as(&w.operator_a).json(ok)).await;
        assert_eq!(resp.status, 202, "{resp:?}");
    }
}

/// `renew_before_days` must be 1 to one day less than the lifetime: 90 days until a certificate is
/// issued, then its real lifetime. At or above it is refused (it would renew at once, forever),
/// naming the field; the stored policy stays as it was.
#[actix_web::test]
async fn renew_before_days_must_be_shorter_than_the_lifetime() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let create = |days: u32| {
        Req::new(Method::POST, "/api/v1/certificates").acting_as(&w.operator_a).json(json!({ "project_id": pa,
            "common_name": format!("r{}.{}", unique(), w.a.zone.apex), "key_type": "ecdsa-p256",
            "acme_account_id": w.a.account.id, "renew_before_days": days }))
    };
    for days in [0, 90, 365] {
        let resp = send(&app, create(days)).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!("renew_before_days"), "{days}: {resp:?}");
        assert!(resp.json["detail"].as_str().unwrap().contains("must be 1 to 89"), "{resp:?}");
    }
    assert_eq!(send(&app, create(89)).await.status, 202);

    // Issued for 30 days: 30 is refused, 29 accepted and moves the window.
    let cert = issued(&h, &w, 30).await;
    let path = format!("/api/v1/certificates/{}", cert.id);
    let resp = send(
        &app,
        patch(path.clone(), json!({ "version": cert.version, "renew_before_days": 30 })).acting_as(&w.operator_a),
    )
    .await;
    assert_problem(&resp, 422, "validation_failed");
    assert!(resp.json["detail"].as_str().unwrap().contains("must be 1 to 29"), "{resp:?}");
    assert_eq!(stored(&h, &w, &cert).await, cert, "a refused policy changes nothing");
    let resp = send(
        &app,
        patch(path.clone(), json!({ "version": cert.version, "renew_before_days": 29 })).acting_as(&w.operator_a),
    )
    .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let after = stored(&h, &w, &cert).await;
    assert_eq!(after.renew_before_days, Some(29));
    // Past half the lifetime the policy is clamped to half (issue 21), and the view says so.
    assert_eq!(after.renew_at, Some(cert.not_after.unwrap().saturating_sub(DAY * 15)), "clamped to half of 30 days");
    assert!(
        after.renewal_warning().is_some_and(|w| w.contains("15 days before expiry")),
        "{:?}",
        after.renewal_warning()
    );
    let resp = send(
        &app,
        patch(
            format!("/api/v1/certificates/{}", cert.id),
            json!({ "version": after.version, "renew_before_days": 10 }),
        )
        .acting_as(&w.operator_a),
    )
    .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(resp.json["renewal_warning"].is_null(), "{resp:?}");
    let after = stored(&h, &w, &cert).await;
    assert_eq!(after.renew_at, Some(cert.not_after.unwrap().saturating_sub(DAY * 10)), "the window follows the policy");
}

/// Short-lived certificates state their lead in hours: `renew_before_hours` is checked against
/// the lifetime like days, a request gives one unit or the other, setting one clears the other
/// (both audited), and a lead in days on a certificate that lives a day says to use hours.
#[actix_web::test]
async fn renew_before_hours_for_short_lived_certificates() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let create = |lead: Value| {
        let mut body = json!({ "project_id": w.a.scope.project_id(), "key_type": "ecdsa-p256",
            "common_name": format!("h{}.{}", unique(), w.a.zone.apex), "acme_account_id": w.a.account.id });
        body.as_object_mut().unwrap().extend(lead.as_object().unwrap().clone());
        Req::new(Method::POST, "/api/v1/certificates").acting_as(&w.operator_a).json(body)
    };
    for (lead, says) in [
        (json!({ "renew_before_days": 2, "renew_before_hours": 36 }), "not both"),
        (json!({ "renew_before_hours": 0 }), "must be 1 to 2159"),
        (json!({ "renew_before_hours": 2160 }), "must be 1 to 2159"),
    ] {
        let resp = send(&app, create(lead.clone())).await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!("renew_before_hours"), "{lead}: {resp:?}");
        assert!(resp.json["detail"].as_str().unwrap().contains(says), "{lead}: {resp:?}");
    }
    let resp = send(&app, create(json!({ "renew_before_hours": 48 }))).await;
    assert_eq!(
        (resp.status.as_u16(), resp.json["certificate"]["renew_before_hours"].clone()),
        (202, json!(48)),
        "{resp:?}"
    );

    // A six-day certificate: 144 hours is its whole life; 36 hours moves the window and clears days.
    let cert = issued(&h, &w, 6).await;
    let path = format!("/api/v1/certificates/{}", cert.id);
    let edit = |version: u64, lead: Value| {
        let mut body = json!({ "version": version });
        body.as_object_mut().unwrap().extend(lead.as_object().unwrap().clone());
        patch(path.clone(), body).acting_as(&w.operator_a)
    };
    let resp = send(&app, edit(cert.version, json!({ "renew_before_days": 2 }))).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let version = resp.json["version"].as_u64().unwrap();
    let refused = send(&app, edit(version, json!({ "renew_before_hours": 144 }))).await;
    assert_problem(&refused, 422, "validation_failed");
    assert!(refused.json["detail"].as_str().unwrap().contains("must be 1 to 143"), "{refused:?}");
    let resp = send(&app, edit(version, json!({ "renew_before_hours": 36 }))).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(
        (resp.json["renew_before_days"].clone(), resp.json["renew_before_hours"].clone()),
        (Value::Null, json!(36))
    );
    let after = stored(&h, &w, &cert).await;
    assert_eq!(after.renew_at, Some(cert.not_after.unwrap().saturating_sub(Duration::from_secs(36 * 3_600))));
    let events = audit_events(&app, &w, "cert.updated").await;
    let last = &events.last().unwrap()["details"];
    assert_eq!(last["renew_before_days"], json!({ "before": 2, "after": null }), "{last}");
    assert_eq!(last["renew_before_hours"], json!({ "before": null, "after": 36 }), "{last}");
    // `null` for the other unit keeps this one; `null` for this one clears it.
    let resp = send(&app, edit(after.version, json!({ "renew_before_days": null }))).await;
    assert_eq!((resp.status.as_u16(), resp.json["renew_before_hours"].clone()), (200, json!(36)), "{resp:?}");
    let resp = send(&app, edit(after.version, json!({ "renew_before_hours": null }))).await;
    assert_eq!((resp.status.as_u16(), resp.json["renew_before_hours"].clone()), (200, Value::Null), "{resp:?}");

    // A one-day certificate cannot take a lead in days at all: the refusal says what can.
    let day = issued(&h, &w, 1).await;
    let resp = send(
        &app,
        patch(format!("/api/v1/certificates/{}", day.id), json!({ "version": day.version, "renew_before_days": 1 }))
            .acting_as(&w.operator_a),
    )
    .await;
    assert_problem(&resp, 422, "validation_failed");
    assert!(resp.json["detail"].as_str().unwrap().contains("give renew_before_hours"), "{resp:?}");
}

/// `PATCH` sets the ACME profile (one the account's CA offers; `null` back to the CA's default)
/// and replaces the CSR of a certificate issued from one (same names, any supported key; the key
/// type follows), each audited; a CSR naming other names, and a CSR for a certificate whose key is
/// held here, are refused naming `csr_pem`.
#[actix_web::test]
async fn patch_sets_the_profile_and_replaces_a_csr() {
    use base64::Engine;
    use certautopilot_connectors::acme::{csr_for_key, generate_key};
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let mut account: AcmeAccount = h.store.get(&w.a.scope, &w.a.account.id).await.unwrap();
    account.profiles = [("classic".to_owned(), String::new()), ("shortlived".to_owned(), "six days".to_owned())].into();
    h.store.update(&w.a.scope, &account).await.unwrap();
    let csr = |key_type: KeyType, names: &[String]| {
        let der = csr_for_key(&generate_key(key_type).unwrap(), names).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN CERTIFICATE REQUEST-----\n{b64}\n-----END CERTIFICATE REQUEST-----\n")
    };
    let names = vec![format!("csr{}.{}", unique(), w.a.zone.apex)];
    let body = json!({ "project_id": w.a.scope.project_id(), "acme_account_id": w.a.account.id,
        "csr_pem": csr(KeyType::EcdsaP256, &names) });
    let created = send(&app, Req::new(Method::POST, "/api/v1/certificates").acting_as(&w.operator_a).json(body)).await;
    assert_eq!(created.status.as_u16(), 202, "{created:?}");
    let id = created.json["certificate"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/certificates/{id}");
    let mut version = created.json["certificate"]["version"].as_u64().unwrap();
    let mut edit = async |body: Value| {
        let mut full = json!({ "version": version });
        full.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let resp = send(&app, patch(path.clone(), full).acting_as(&w.operator_a)).await;
        if resp.status.is_success() {
            version = resp.json["version"].as_u64().unwrap();
        }
        resp
    };
    let refused = edit(json!({ "profile": "tlsserver" })).await;
    assert_problem(&refused, 422, "validation_failed");
    assert_eq!(refused.json["field"], json!("profile"), "{refused:?}");
    let resp = edit(json!({ "profile": "shortlived" })).await;
    assert_eq!((resp.status.as_u16(), resp.json["profile"].clone()), (200, json!("shortlived")), "{resp:?}");
    let resp = edit(json!({ "profile": null })).await;
    assert_eq!((resp.status.as_u16(), resp.json["profile"].clone()), (200, Value::Null), "{resp:?}");

    let other = edit(json!({ "csr_pem": csr(KeyType::EcdsaP256, &[format!("other.{}", w.a.zone.apex)]) })).await;
    assert_problem(&other, 422, "validation_failed");
    assert!(other.json["detail"].as_str().unwrap().contains("other names make another certificate"), "{other:?}");
    let resp = edit(json!({ "csr_pem": csr(KeyType::EcdsaP384, &names) })).await;
    assert_eq!((resp.status.as_u16(), resp.json["key_type"].clone()), (200, json!("ecdsa-p384")), "{resp:?}");
    let events = audit_events(&app, &w, "cert.updated").await;
    let last = &events.last().unwrap()["details"]["csr"];
    assert_eq!(last["key_type"], json!("ecdsa-p384"), "{last}");
    assert_eq!(last["key_sha256"].as_str().map(str::len), Some(64), "{last}");

    let held = w.a.certificate.clone();
    let resp = send(
        &app,
        patch(
            format!("/api/v1/certificates/{}", held.id),
            json!({ "version": held.version, "csr_pem": csr(KeyType::EcdsaP256, &held.sans) }),
        )
        .acting_as(&w.operator_a),
    )
    .await;
    assert_problem(&resp, 422, "validation_failed");
    assert!(resp.json["detail"].as_str().unwrap().contains("generated and held here"), "{resp:?}");
}

/// One `PATCH` changes the renewal policy, the targets and the pause together, writes one
/// `cert.updated` entry with each change as before/after, and a paused certificate leaves the
/// store's renewal index; `null` resets the policy and resuming brings the certificate back.
#[actix_web::test]
async fn patch_edits_policy_targets_and_pause_in_one_audited_change() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    // Issued 80 of 90 days ago: its window (a third of the lifetime) is already open.
    let mut cert = resources(&h, w.a.scope.clone(), "edit").await.certificate;
    let start = Timestamp::now().saturating_sub(DAY * 80);
    cert.mark_issued("0b".into(), start, start.saturating_add(DAY * 90), "00".into());
    cert.chain_pem = Some(CHAIN.into());
    let cert = h.store.update(&w.a.scope, &cert).await.unwrap();
    let due = || async {
        let page =
            h.store.certificates_due(&SystemScope::new("test"), Timestamp::now(), &PageRequest::first(100)).await;
        page.unwrap().items.iter().any(|c| c.id == cert.id)
    };
    assert!(due().await);
    let path = format!("/api/v1/certificates/{}", cert.id);
    let body = json!({ "version": cert.version, "renew_before_days": 20, "target_ids": [w.a.target.id, w.a.target.id], "paused": true });
    let resp = send(&app, patch(path.clone(), body).acting_as(&w.operator_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.json["paused"], json!(true));
    assert_eq!(resp.json["renew_before_days"], json!(20));
    assert_eq!(resp.json["target_ids"], json!([w.a.target.id]), "repeats are dropped");
    assert_eq!(resp.json["version"], json!(cert.version + 1));
    assert!(!due().await, "a paused certificate is never due");

    let events = audit_events(&app, &w, "cert.updated").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["object"]["id"], json!(cert.id));
    assert_eq!(events[0]["details"]["paused"], json!({ "before": false, "after": true }));
    assert_eq!(events[0]["details"]["renew_before_days"], json!({ "before": null, "after": 20 }));
    assert_eq!(events[0]["details"]["target_ids"], json!({ "before": [], "after": [w.a.target.id] }));

    // The same values again change nothing and write nothing.
    let version = resp.json["version"].as_u64().unwrap();
    let same = json!({ "version": version, "renew_before_days": 20, "paused": true });
    let resp = send(&app, patch(path.clone(), same).acting_as(&w.operator_a)).await;
    assert_eq!((resp.status.as_u16(), resp.json["version"].as_u64()), (200, Some(version)));

    let resume = json!({ "version": version, "renew_before_days": null, "paused": false });
    let resp = send(&app, patch(path, resume).acting_as(&w.operator_a)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!((resp.json["paused"].clone(), resp.json["renew_before_days"].clone()), (json!(false), Value::Null));
    assert!(due().await, "resumed, its open window is due again");
    assert_eq!(audit_events(&app, &w, "cert.updated").await.len(), 2);
}

/// Every bad `PATCH` is refused and changes nothing, even with valid fields beside the bad one: a
/// stale version (409), a target of another project or unknown (422 on `target_ids[i]`), a policy
/// out of range, a wrong type or an unknown field (400); a viewer is forbidden.
#[actix_web::test]
async fn bad_patches_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let cert = issued(&h, &w, 90).await;
    let path = format!("/api/v1/certificates/{}", cert.id);
    let v = cert.version;
    let cases = [
        (json!({ "version": v + 1, "paused": true }), 409, "version_conflict", None),
        (
            json!({ "version": v, "paused": true, "target_ids": [w.b.target.id] }),
            422,
            "validation_failed",
            Some("target_ids[0]"),
        ),
        (
            json!({ "version": v, "paused": true, "renew_before_days": 0 }),
            422,
            "validation_failed",
            Some("renew_before_days"),
        ),
        (json!({ "version": v, "paused": "yes" }), 400, "invalid_json", Some("paused")),
        (json!({ "version": v, "paused": true, "status": "revoked" }), 400, "invalid_json", None),
        (json!({ "paused": true }), 400, "invalid_json", None),
    ];
    for (body, status, code, field) in cases {
        let resp = send(&app, patch(path.clone(), body.clone()).acting_as(&w.operator_a)).await;
        assert_problem(&resp, status, code);
        if let Some(field) = field {
            assert_eq!(resp.json["field"], json!(field), "{body}: {resp:?}");
        }
        assert_eq!(stored(&h, &w, &cert).await, cert, "{body} changed something");
    }
    let resp = send(&app, patch(path, json!({ "version": v, "paused": true })).acting_as(&w.viewer_a)).await;
    assert_problem(&resp, 403, "forbidden");
    assert_eq!(stored(&h, &w, &cert).await, cert);
    assert!(audit_events(&app, &w, "cert.updated").await.is_empty());
}

/// Pausing stops automatic renewal only: an operator can still renew a paused certificate by hand,
/// and the certificate stays paused.
#[actix_web::test]
async fn a_paused_certificate_still_renews_by_hand() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let mut cert = issued(&h, &w, 90).await;
    cert.paused = true;
    let cert = h.store.update(&w.a.scope, &cert).await.unwrap();
    let resp =
        send(&app, Req::new(Method::POST, format!("/api/v1/certificates/{}/renew", cert.id)).acting_as(&w.operator_a))
            .await;
    assert_eq!(resp.status, 202, "{resp:?}");
    assert_eq!(resp.json["job"]["kind"], json!("renew"));
    assert!(stored(&h, &w, &cert).await.paused);
}

/// `DELETE` refuses a certificate that is valid and not revoked (telling to revoke first) and one a
/// job is issuing; a revoked one goes, with its sealed key and deployment records, leaving
/// `cert.deleted` (with its serials) in the audit chain and its jobs' history; an operator may not.
#[actix_web::test]
async fn delete_refuses_a_live_certificate_and_removes_a_revoked_one_with_its_keys() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let delete = |cert: &Certificate, who: &Who| {
        Req::new(Method::DELETE, format!("/api/v1/certificates/{}", cert.id)).acting_as(who)
    };
    let live = issued(&h, &w, 90).await;
    let resp = send(&app, delete(&live, &w.admin_a)).await;
    assert_problem(&resp, 409, "conflict");
    let detail = resp.json["detail"].as_str().unwrap();
    assert!(
        detail.contains("revoke it first") && detail.contains(&format!("/api/v1/certificates/{}/revoke", live.id)),
        "{detail}"
    );
    assert_eq!(stored(&h, &w, &live).await, live);

    let mut issuing = resources(&h, w.a.scope.clone(), "edit").await.certificate;
    issuing.status = CertificateStatus::Issuing;
    let issuing = h.store.update(&w.a.scope, &issuing).await.unwrap();
    assert_problem(&send(&app, delete(&issuing, &w.admin_a)).await, 409, "conflict");

    let mut revoked = issued(&h, &w, 90).await;
    revoked.status = CertificateStatus::Revoked;
    revoked.revoked_at = Some(Timestamp::now());
    revoked.target_ids = vec![w.a.target.id];
    let revoked = h.store.update(&w.a.scope, &revoked).await.unwrap();
    let deployment = Deployment::new(w.a.scope.project_id(), revoked.id, w.a.target.id, Timestamp::now());
    h.store.insert(&w.a.scope, &deployment).await.unwrap();
    assert_problem(&send(&app, delete(&revoked, &w.operator_a)).await, 403, "forbidden");
    let resp = send(&app, delete(&revoked, &w.admin_a)).await;
    assert_eq!(resp.status, 204, "{resp:?}");

    let get = send(&app, Req::get(format!("/api/v1/certificates/{}", revoked.id)).acting_as(&w.admin_a)).await;
    assert_problem(&get, 404, "not_found");
    assert!(h.store.get::<Deployment>(&w.a.scope, &deployment.id).await.is_err(), "its deployment record is gone");
    let sealed = h.store.sealed_older_than(u32::MAX, 10_000).await.unwrap();
    assert!(sealed.iter().all(|r| r.key.record_id != revoked.id.to_string()), "its private key is destroyed");
    assert!(sealed.iter().any(|r| r.key.record_id == live.id.to_string()), "others' keys stay");
    let events = audit_events(&app, &w, "cert.deleted").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["object"]["id"], json!(revoked.id));
    assert_eq!(events[0]["details"]["serial"], json!(revoked.serial));
    assert_eq!(events[0]["details"]["status"], json!("revoked"));
    assert!(!events[0].to_string().contains("BEGIN"), "no chain or key in the entry");

    // Never issued: nothing to revoke, deleted at once; its queued issue job then finds nothing.
    let requested = resources(&h, w.a.scope.clone(), "edit").await;
    assert_eq!(send(&app, delete(&requested.certificate, &w.admin_a)).await.status, 204);
    let job: Job = h.store.get_project_job(&w.a.scope, requested.job.id).await.unwrap();
    assert_eq!(job.subject.as_deref(), Some(requested.certificate.id.to_string().as_str()), "jobs keep their history");
}

/// An expired certificate is not live: it is deleted without revoking first.
#[actix_web::test]
async fn an_expired_certificate_is_deleted_without_revoking() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let mut cert = resources(&h, w.a.scope.clone(), "edit").await.certificate;
    let start = Timestamp::now().saturating_sub(DAY * 100);
    cert.mark_issued("0c".into(), start, start.saturating_add(DAY * 90), "00".into());
    cert.chain_pem = Some(CHAIN.into());
    let cert = h.store.update(&w.a.scope, &cert).await.unwrap();
    let resp =
        send(&app, Req::new(Method::DELETE, format!("/api/v1/certificates/{}", cert.id)).acting_as(&w.admin_a)).await;
    assert_eq!(resp.status, 204, "{resp:?}");
}

/// A revocation asked while a renewal runs is refused (409) and queues nothing: it would revoke the
/// renewal's new certificate and leave the deployed one valid (found by following the
/// getting-started guide). Once the renewal is over the same request is accepted, and the job
/// carries the serial it is meant to revoke.
#[actix_web::test]
async fn a_revocation_waits_for_a_running_renewal() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let mut cert = issued(&h, &w, 90).await;
    cert.status = CertificateStatus::Renewing;
    let cert = h.store.update(&w.a.scope, &cert).await.unwrap();
    let revoke = || {
        Req::new(Method::POST, format!("/api/v1/certificates/{}/revoke", cert.id))
            .acting_as(&w.owner)
            .json(json!({ "reason": "superseded" }))
    };
    let refused = send(&app, revoke()).await;
    assert_problem(&refused, 409, "conflict");
    assert!(refused.json["detail"].as_str().unwrap().contains("renewal is in progress"), "{refused:?}");
    assert!(audit_events(&app, &w, "cert.revoke_requested").await.is_empty(), "nothing was queued");

    let mut done = stored(&h, &w, &cert).await;
    done.status = CertificateStatus::Issued;
    let done = h.store.update(&w.a.scope, &done).await.unwrap();
    let accepted = send(&app, revoke()).await;
    assert_eq!(accepted.status, 202, "{accepted:?}");
    let job_id = accepted.json["job"]["id"].as_str().unwrap().parse().unwrap();
    let job: Job = h.store.get_job(&SystemScope::new("test"), job_id).await.unwrap();
    assert_eq!(job.payload["serial"], json!(done.serial), "the job names the serial to revoke");
}
