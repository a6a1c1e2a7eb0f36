//! Drift scans through the real binary: a deployed file changed behind the system's back is found
//! by the scheduler's scan and, with auto-redeploy on, put back (`cert.drift_resolved`); a TLS
//! endpoint that serves an old certificate is reported (and left alone without auto-redeploy); a
//! revoked certificate left on its target is `revoked_in_place`, leaves the expiry metric, and is
//! flagged while a scan still finds it there.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, make_tls_certificates};
use certautopilot_connectors::x509::leaf_summary;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};

use crate::process::ApiClient;

/// A TLS server on loopback presenting `cert.pem`; it completes handshakes and hangs up.
fn serve_tls(dir: &std::path::Path) -> u16 {
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem")).unwrap().map(|c| c.unwrap()).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = Arc::new(rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config).unwrap(), stream);
                let mut buf = [0u8; 64];
                let _ = tls.read(&mut buf);
            });
        }
    });
    port
}

fn deployment<'a>(items: &'a [Value], target: &str) -> &'a Value {
    items.iter().find(|d| d["target_id"] == json!(target)).expect("deployment listed")
}

#[test]
fn drift_is_found_and_repaired() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = crate::issuance::start(dir.path(), &[("CERTAUTOPILOT_ISSUANCE__SCAN_EVERY_SECS", "1")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "drift", None);

    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let repaired = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "repaired", "type": "file",
        "config": { "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem"), "auto_redeploy": true } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = dir.path().join("old-tls");
    make_tls_certificates(&old, "www.example.test", "DNS:www.example.test");
    let port = serve_tls(&old);
    let watched = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "lb", "type": "file", "config": {
        "cert_path": out.join("lb-cert.pem"), "key_path": out.join("lb-key.pem"),
        "tls_endpoint": format!("127.0.0.1:{port}"), "tls_server_name": "www.example.test" } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "x", "type": "file",
        "config": { "cert_path": out.join("x-cert.pem"), "key_path": out.join("x-key.pem"), "tls_endpoint": "no-port" } })),
        422,
    );
    assert_eq!(bad["field"], json!("config.tls_endpoint"));

    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": format!("www.{ZONE}"),
        "key_type": "ecdsa-p256", "acme_account_id": account, "target_ids": [repaired, watched] })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();
    let deployments = format!("/api/v1/certificates/{cid}/deployments");
    let deadline = Duration::from_secs(60);
    c.wait_for(&deployments, deadline, "both deployed", |d| {
        d["items"].as_array().is_some_and(|i| i.len() == 2 && i.iter().all(|x| x["status"] == json!("deployed")))
    });
    let (_, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);

    // --- behind the system's back: the deployed file is replaced.
    std::fs::write(out.join("cert.pem"), "-----BEGIN CERTIFICATE-----\nnot ours\n-----END CERTIFICATE-----\n").unwrap();
    c.wait_for(&format!("/api/v1/certificates/{cid}/timeline"), deadline, "drift detected", |t| {
        t["items"].as_array().is_some_and(|items| items.iter().any(|e| e["event"] == json!("cert.drift_detected")))
    });
    let restored = c.wait_for(&deployments, deadline, "drift repaired", |d| {
        d["items"].as_array().is_some_and(|i| {
            let r = deployment(i, &repaired);
            r["drift"].is_null() && r["attempts"].as_u64() >= Some(2)
        })
    });
    assert_eq!(std::fs::read_to_string(out.join("cert.pem")).unwrap(), chain, "auto-redeploy put it back: {restored}");
    let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
    let resolved = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == json!("cert.drift_resolved"))
        .unwrap_or_else(|| panic!("cert.drift_resolved in the timeline: {timeline}"));
    assert_eq!(resolved["details"]["by"], json!("redeploy"), "{resolved}");
    assert_eq!(resolved["details"]["target_id"], json!(repaired), "{resolved}");
    assert!(resolved["details"]["was"].is_string(), "what the scan had found: {resolved}");

    // --- `scanned_at` is the last scan, also when nothing changed: it moves on a clean target.
    let first = c.wait_for(&deployments, deadline, "a clean scan", |d| {
        d["items"].as_array().is_some_and(|i| {
            let r = deployment(i, &repaired);
            r["drift"].is_null() && r["scanned_at"].is_string()
        })
    });
    let scanned = deployment(first["items"].as_array().unwrap(), &repaired)["scanned_at"].clone();
    let scanned: certautopilot_core::Timestamp = serde_json::from_value(scanned).unwrap();
    c.wait_for(&deployments, deadline, "a later clean scan", |d| {
        d["items"].as_array().is_some_and(|i| {
            let r = deployment(i, &repaired);
            let at: Option<certautopilot_core::Timestamp> = serde_json::from_value(r["scanned_at"].clone()).ok();
            r["drift"].is_null() && at.is_some_and(|at| at > scanned)
        })
    });

    // --- the TLS endpoint still serves the old certificate: reported, not touched.
    let old_fingerprint =
        leaf_summary(&std::fs::read_to_string(old.join("server.pem")).unwrap(), None).unwrap().fingerprint_sha256;
    let found = c.wait_for(&deployments, deadline, "endpoint drift", |d| {
        d["items"].as_array().is_some_and(|i| deployment(i, &watched)["drift"] == json!(old_fingerprint))
    });
    assert_eq!(
        deployment(found["items"].as_array().unwrap(), &watched)["attempts"],
        json!(1),
        "no redeploy without auto_redeploy"
    );
    let queued = c.ok("POST", &format!("/api/v1/targets/{watched}/scan"), None, 202);
    assert_eq!(queued["job"]["kind"], json!("scan"));
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.drift_detected"), None, 200);
    assert!(audit["items"].as_array().unwrap().len() >= 2, "{audit}");
}

/// Issue 15 item 6: revoking an issued and deployed certificate (real Pebble) leaves its files on
/// the target; the deployment shows `revoked_in_place` (audited), the metrics stop exporting the
/// certificate's expiry and count the deployment by that status, and the scan (every second here)
/// flags the revoked certificate while the file still holds it, then records its removal.
#[test]
fn a_revoked_certificate_left_in_place_is_flagged() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let mut server = crate::issuance::start(dir.path(), &[("CERTAUTOPILOT_ISSUANCE__SCAN_EVERY_SECS", "1")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "revoked", None);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let target = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "web", "type": "file",
        "config": { "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem"), "auto_redeploy": true } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": format!("revoked.{ZONE}"),
        "key_type": "ecdsa-p256", "acme_account_id": account, "target_ids": [target] })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();
    let deployments = format!("/api/v1/certificates/{cid}/deployments");
    let deadline = Duration::from_secs(60);
    c.wait_for(&deployments, deadline, "deployed", |d| deployment_status(d, &target) == Some("deployed"));
    let metrics = crate::issuance::server_metrics(&mut server);
    let expiry = format!("certautopilot_certificate_expiry_seconds{{certificate_id=\"{cid}\"");
    assert!(metrics.contains(&expiry), "live before the revocation: {metrics}");

    // --- revoke: the file stays, the deployment says so.
    c.ok("POST", &format!("/api/v1/certificates/{cid}/revoke"), Some(json!({ "reason": "keyCompromise" })), 202);
    c.wait_for(&deployments, deadline, "revoked in place", |d| {
        deployment_status(d, &target) == Some("revoked_in_place")
    });
    assert!(out.join("cert.pem").exists(), "revocation removes nothing from the target");
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.revoked_in_place"), None, 200);
    assert_eq!(audit["items"][0]["details"]["target_ids"], json!([target]), "{audit}");
    let metrics = crate::issuance::server_metrics(&mut server);
    assert!(!metrics.contains(&expiry), "a revoked certificate is not exported as live: {metrics}");
    assert!(metrics.contains("certautopilot_deployments{status=\"revoked_in_place\"} 1"), "{metrics}");
    assert!(metrics.contains("certautopilot_deployments{status=\"deployed\"} 0"), "{metrics}");

    // --- the scan finds the revoked certificate still served: flagged, and never redeployed.
    let flagged = c.wait_for(&deployments, deadline, "revoked still served", |d| {
        d["items"].as_array().is_some_and(|i| deployment(i, &target)["revoked_served"] == json!(true))
    });
    let record = deployment(flagged["items"].as_array().unwrap(), &target);
    assert!(record["scanned_at"].is_string() && record["drift"].is_null(), "{record}");
    let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
    assert!(
        timeline["items"].as_array().unwrap().iter().any(|e| e["event"] == json!("cert.revoked_still_served")),
        "{timeline}"
    );
    let metrics = crate::issuance::server_metrics(&mut server);
    assert!(metrics.contains("certautopilot_deployments_revoked_served 1"), "{metrics}");

    // --- the operator removes it: the next scan records that it is gone.
    std::fs::remove_file(out.join("cert.pem")).unwrap();
    c.wait_for(&deployments, deadline, "revoked certificate removed", |d| {
        d["items"].as_array().is_some_and(|i| deployment(i, &target)["revoked_served"] == json!(false))
    });
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.revoked_removed"), None, 200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
    assert!(!out.join("cert.pem").exists(), "nothing put the revoked certificate back");
    let jobs = c.ok("GET", &format!("/api/v1/jobs?project_id={pid}&limit=100"), None, 200);
    let distributes = jobs["items"].as_array().unwrap().iter().filter(|j| j["kind"] == json!("distribute")).count();
    assert_eq!(distributes, 1, "only the first deployment, no redeploy of a revoked certificate: {jobs}");
}

fn deployment_status<'a>(list: &'a Value, target: &str) -> Option<&'a str> {
    list["items"].as_array()?.iter().find(|d| d["target_id"] == json!(target))?["status"].as_str()
}
