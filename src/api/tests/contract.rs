//! Issue M2.1b item 7: the published OpenAPI document and the server agree. For every request body
//! in the document, each enumerated property takes every value the document lists, and each bounded
//! integer takes its minimum and maximum; a value outside the list or just outside the bounds is
//! refused with the property named. New routes with enums or bounds must give the test a valid
//! body (`base`), or it fails and says so.

use actix_web::http::Method;
use certautopilot_core::model::{Certificate, CertificateStatus, OrgRole, User};
use certautopilot_core::store::RecordStore;
use serde_json::{Map, Value, json};

use super::harness::*;

const SSH_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAcontract\n-----END OPENSSH PRIVATE KEY-----\n";

/// A property the document constrains, with the values it says are good and some just outside.
struct Constrained {
    name: String,
    good: Vec<Value>,
    bad: Vec<Value>,
}

fn constrained_properties(schema: &Value) -> Vec<Constrained> {
    let Some(properties) = schema["properties"].as_object() else { return Vec::new() };
    let mut found = Vec::new();
    for (name, property) in properties {
        // A version is a concurrency token: its only good value is the record's current one.
        if name == "version" {
            continue;
        }
        if let Some(values) = property["enum"].as_array() {
            found.push(Constrained { name: name.clone(), good: values.clone(), bad: vec![json!("not-one-of-them")] });
        } else {
            let (min, max) = (property["minimum"].as_i64(), property["maximum"].as_i64());
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            if let Some(min) = min {
                good.push(json!(min));
                bad.push(json!(min - 1));
            }
            if let Some(max) = max {
                good.push(json!(max));
                bad.push(json!(max + 1));
            }
            if !good.is_empty() {
                found.push(Constrained { name: name.clone(), good, bad });
            }
        }
    }
    found
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let name = reference.trim_start_matches("#/components/schemas/");
    &doc["components"]["schemas"][name]
}

/// A certificate that can be revoked: issued, with a chain.
async fn issued_certificate(h: &Harness, w: &World, n: usize) -> Certificate {
    let mut cert = w.a.certificate.clone();
    cert.id = certautopilot_core::ids::CertificateId::new();
    cert.common_name = format!("revocable{n}.{}", w.a.zone.apex);
    cert.sans = vec![cert.common_name.clone()];
    cert.status = CertificateStatus::Issued;
    cert.serial = Some(format!("{n:02x}"));
    cert.chain_pem = Some("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".into());
    h.store.insert(&w.a.scope, &cert).await.unwrap();
    cert
}

/// A target configuration valid for `kind`.
fn target_config(kind: &str, n: usize) -> Value {
    match kind {
        "file" => json!({ "cert_path": format!("/etc/ssl/c{n}.pem"), "key_path": format!("/etc/ssl/k{n}.pem") }),
        "ssh" => json!({ "host": "web1.example.com", "user": "deploy", "cert_path": "/etc/ssl/c.pem",
            "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "private_key": SSH_KEY }),
        "webhook" => json!({ "url": "https://hooks.example.com/x", "hmac_secret": "0123456789abcdef-contract" }),
        "kubernetes" => {
            json!({ "api_url": "https://k8s.example.com", "namespace": "web", "secret_name": "tls", "token": "t" })
        }
        "vault" => json!({ "address": "https://vault.example.com", "path": "tls/www", "token": "t" }),
        "f5" => {
            json!({ "url": "https://bigip.example.com", "username": "admin", "password": "p", "profile": "p", "object_name": "www" })
        }
        "netscaler" => {
            json!({ "url": "https://adc.example.com", "username": "nsroot", "password": "p", "certkey": "www" })
        }
        "iis" => {
            json!({ "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef", "site": "Default" })
        }
        other => panic!("no valid configuration for target type {other:?}: add one"),
    }
}

/// Operations that need a running cluster node, which this harness has not: only their refusals
/// are checked here (tests/cli and chaos-tests run them against real nodes).
const NEEDS_A_CLUSTER: [&str; 2] = ["joinCluster", "leaveCluster"];

/// A valid request for `operation` (path and body) with `property` set to `value`, built fresh so
/// repeated calls do not collide; `None` when the test has no base for that operation.
async fn base(
    h: &Harness,
    w: &World,
    operation: &str,
    n: usize,
    property: &str,
    value: &Value,
) -> Option<(String, Value)> {
    let pa = w.a.scope.project_id();
    let (path, mut body) = match operation {
        "createCertificate" => (
            "/api/v1/certificates".to_owned(),
            json!({ "project_id": pa, "common_name": format!("c{n}.{}", w.a.zone.apex), "key_type": "ecdsa-p256",
                "acme_account_id": w.a.account.id }),
        ),
        "revokeCertificate" => {
            let cert = issued_certificate(h, w, n).await;
            (format!("/api/v1/certificates/{}/revoke", cert.id), json!({}))
        }
        "manageCertificate" => {
            let cert = unmanaged_certificate(h, &w.a.scope, &w.a.zone.apex).await;
            let body = json!({ "version": cert.version, "acme_account_id": w.a.account.id });
            (format!("/api/v1/certificates/{}/manage", cert.id), body)
        }
        "setApprovalPolicy" => (format!("/api/v1/projects/{pa}/approval-policy"), json!({ "require": "none" })),
        "approveRequest" | "rejectRequest" => {
            // A pending renewal an operator asked for, decided by the owner calling.
            let cert = issued_certificate(h, w, n).await;
            let requester = w.operator_a.user.as_ref().unwrap().id;
            let request = certautopilot_core::model::ApprovalRequest::new(
                pa,
                cert.id,
                certautopilot_core::model::ApprovalAction::Renew,
                requester,
                vec!["the project requires approval of every request".into()],
                24,
                h.state.now(),
            );
            h.store.insert(&w.a.scope, &request).await.unwrap();
            let verb = if operation == "approveRequest" { "approve" } else { "reject" };
            (format!("/api/v1/approvals/{}/{verb}", request.id), json!({}))
        }
        "updateCertificate" => {
            let cert = issued_certificate(h, w, n).await;
            (format!("/api/v1/certificates/{}", cert.id), json!({ "version": cert.version }))
        }
        "addMember" => {
            let user = User::new(w.org.id, &format!("member{n}@acme.test"), OrgRole::Member, h.state.now());
            h.store.insert(&w.org_scope, &user).await.unwrap();
            (format!("/api/v1/projects/{pa}/members"), json!({ "user_id": user.id, "role": "viewer" }))
        }
        "createTarget" => {
            let known = |k: &str| certautopilot_core::model::TargetKind::ALL.iter().any(|t| json!(t) == json!(k));
            let kind = match value.as_str() {
                Some(kind) if property == "type" && known(kind) => kind,
                _ => "file",
            };
            (
                "/api/v1/targets".to_owned(),
                json!({ "project_id": pa, "name": format!("t{n}"), "type": kind, "config": target_config(kind, n) }),
            )
        }
        "createApiToken" => ("/api/v1/auth/tokens".to_owned(), json!({ "name": format!("token{n}") })),
        "setAuditRetention" => ("/api/v1/organization/audit-retention".to_owned(), json!({ "days": null })),
        "createNotificationRule" => {
            let channel = notification_channel(h, &w.a.scope, &format!("ch{n}")).await.id;
            let body = json!({ "project_id": pa, "name": format!("r{n}"), "events": ["cert.issued"], "channel_ids": [channel] });
            ("/api/v1/notification-rules".to_owned(), body)
        }
        "updateNotificationRule" => {
            let channel = notification_channel(h, &w.a.scope, &format!("ch{n}")).await.id;
            let now = h.state.now();
            let rule = certautopilot_core::model::NotificationRule {
                id: certautopilot_core::ids::RuleId::new(),
                project_id: pa,
                name: format!("r{n}"),
                enabled: true,
                events: vec![certautopilot_core::model::EventKind::Issued],
                channel_ids: vec![channel],
                expiry: None,
                digest_minutes: None,
                created_by: w.owner.user.as_ref().unwrap().id,
                created_at: now,
                updated_at: now,
                version: 1,
            };
            h.store.insert(&w.a.scope, &rule).await.unwrap();
            (format!("/api/v1/notification-rules/{}", rule.id), json!({ "version": 1 }))
        }
        // By a catalogue entry (`ca`); with EAB, which some of them require. The harness fetches no
        // directory, so no CA is contacted.
        "createAcmeAccount" => (
            "/api/v1/acme-accounts".to_owned(),
            json!({ "project_id": pa, "name": format!("ca{n}"), "tos_agreed": true, "eab_kid": "kid",
                "eab_hmac_key": "c2VjcmV0LWtleQ" }),
        ),
        "joinCluster" => ("/api/v1/admin/cluster/join".to_owned(), json!({ "node_id": 2, "addr": "127.0.0.1:7400" })),
        "leaveCluster" => ("/api/v1/admin/cluster/leave".to_owned(), json!({ "node_id": 2 })),
        "createDnsCredential" => {
            // The settings of the provider under test (an owner calls: the exec hook is allowed).
            let provider = match (property, value) {
                ("provider", Value::String(p)) => serde_json::from_value(json!(p)).ok(),
                _ => None,
            };
            let config = certautopilot_core::model::example_request(
                provider.unwrap_or(certautopilot_core::model::DnsProvider::Rfc2136),
            );
            (
                "/api/v1/dns-credentials".to_owned(),
                json!({ "project_id": pa, "name": format!("d{n}"), "provider": "rfc2136", "config": config }),
            )
        }
        _ => return None,
    };
    body.as_object_mut().map(|b: &mut Map<String, Value>| b.insert(property.to_owned(), value.clone()));
    Some((path, body))
}

#[actix_web::test]
async fn every_enum_and_bound_in_the_document_is_what_the_server_accepts() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let doc = crate::api::openapi::document(&crate::api::routes::table());
    // A signed-in session, not an API token: only sessions may create tokens.
    let session = session_token(&h, &w.org_scope, w.owner.user.as_ref().unwrap()).await;
    let mut n = 0;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(reference) = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let id = operation["operationId"].as_str().unwrap();
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            for property in constrained_properties(resolve(&doc, reference)) {
                for (value, good) in
                    property.good.iter().map(|v| (v, true)).chain(property.bad.iter().map(|v| (v, false)))
                {
                    n += 1;
                    let Some((url, body)) = base(&h, &w, id, n, &property.name, value).await else {
                        panic!(
                            "{method} {path} ({id}) constrains `{}`: give this test a valid body for it",
                            property.name
                        );
                    };
                    let resp = send(&app, Req::new(method.clone(), url).bearer(&session).json(body)).await;
                    if good && NEEDS_A_CLUSTER.contains(&id) {
                        continue;
                    }
                    if good {
                        assert!(
                            resp.status.is_success(),
                            "{id}: `{}` = {value} is in the document: {resp:?}",
                            property.name
                        );
                    } else {
                        assert!(
                            resp.status.is_client_error(),
                            "{id}: `{}` = {value} is outside the document: {resp:?}",
                            property.name
                        );
                        assert_eq!(resp.json["field"], json!(property.name), "{id}: {value}: {resp:?}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} values were checked: the document lost its enums or bounds");
}
