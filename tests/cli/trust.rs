//! Issue 15 item 3 through the real binary: a CA whose TLS certificate the account's CA bundle does
//! not trust fails the certificate at once, permanently, with the cause named in `last_error`, the
//! timeline and the job (it used to read "ACME CA unreachable" and be retried eight times). The
//! accounts are created while Pebble is trusted (the API checks the directory at the door), then
//! Pebble's HTTPS certificate changes under them, as when a CA rotates its certificate.

use std::path::Path;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, make_tls_certificates};
use serde_json::{Value, json};

use crate::process::ApiClient;

const DEADLINE: Duration = Duration::from_secs(60);

fn request(c: &ApiClient, pid: &str, account: &str, cn: &str) -> String {
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": cn, "key_type": "ecdsa-p256", "acme_account_id": account })),
        202,
    );
    created["certificate"]["id"].as_str().unwrap().to_owned()
}

/// Waits for the certificate to fail and checks the failure: permanent after one attempt, the
/// cause named in `last_error`, in the timeline's `cert.failed` and in the job's last line.
fn fails_naming(c: &ApiClient, pid: &str, cid: &str, cause: &str) {
    let failed = c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "certificate failed", |cert| {
        cert["status"] == json!("failed")
    });
    let reason = failed["last_error"].as_str().unwrap_or_default();
    assert!(reason.starts_with("the CA's certificate is not trusted: "), "{reason}");
    assert!(reason.contains(cause), "{cause} not named: {reason}");
    assert!(!reason.contains("unreachable"), "{reason}");
    let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
    let items = timeline["items"].as_array().unwrap();
    let failure = items.iter().find(|e| e["event"] == json!("cert.failed")).expect("cert.failed in the timeline");
    assert_eq!(failure["details"]["reason"], json!(reason), "{failure}");
    assert!(!items.iter().any(|e| e["event"] == json!("cert.retrying")), "not retried: {timeline}");
    let jobs = c.wait_for(&format!("/api/v1/jobs?project_id={pid}&limit=100"), DEADLINE, "the job dead", |jobs| {
        jobs["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|j| j["subject"] == json!(cid) && j["status"] == json!("dead")))
    });
    let job: &Value =
        jobs["items"].as_array().unwrap().iter().find(|j| j["subject"] == json!(cid)).expect("the certificate's job");
    assert_eq!(job["attempts"], json!(1), "one attempt, no retries: {job}");
}

/// Pebble's HTTPS certificate files (`AcmeEnv` starts Pebble in `<env>/pebble`, its TLS in `tls/`).
fn pebble_tls(env_dir: &Path) -> std::path::PathBuf {
    env_dir.join("pebble/tls")
}

#[test]
fn an_untrusted_ca_fails_at_once_naming_the_cause() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env_dir = dir.path().join("env");
    let mut env = AcmeEnv::start(&env_dir, AcmeEnvOptions::default());
    let server = crate::issuance::start(dir.path(), &[("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS", "8")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "trust", None);

    // --- Pebble's certificate now comes from a new CA: the account's bundle holds the old one (a
    // CA of the same name with another key, so the signature is what fails).
    make_tls_certificates(&pebble_tls(&env_dir), "localhost", "IP:127.0.0.1,DNS:localhost");
    env.pebble.restart();
    let cid = request(&c, &pid, &account, &format!("rotated.{ZONE}"));
    fails_naming(&c, &pid, &cid, "(BadSignature)");
    let account_view = c.ok("GET", &format!("/api/v1/acme-accounts/{account}"), None, 200);
    assert_eq!(account_view["status"], json!("failed"), "registration failed for good: {account_view}");

    // --- the CA's own certificate served as Pebble's (the report's case): an account trusting that
    // CA, created while Pebble served a leaf of it, is refused with `CaUsedAsEndEntity`.
    let body = json!({ "project_id": pid, "name": "ca-as-leaf", "directory_url": env.pebble.directory_url(),
        "tos_agreed": true, "ca_bundle_pem": env.pebble.https_ca_pem() });
    let second = c.ok("POST", "/api/v1/acme-accounts", Some(body), 201)["id"].as_str().unwrap().to_owned();
    let tls = pebble_tls(&env_dir);
    std::fs::copy(tls.join("ca.pem"), tls.join("server.pem")).unwrap();
    std::fs::copy(tls.join("ca.key"), tls.join("server.key")).unwrap();
    env.pebble.restart();
    let cid = request(&c, &pid, &second, &format!("leaf.{ZONE}"));
    fails_naming(&c, &pid, &cid, "(CaUsedAsEndEntity)");
}
