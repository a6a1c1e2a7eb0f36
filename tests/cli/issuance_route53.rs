//! Issuance end to end through the HTTP API of the real binary with a Route 53 credential, against
//! moto (the Route 53 REST API in server mode) and a real Pebble.
//!
//! moto answers no DNS queries, so nothing here can look the challenge record up over DNS: this
//! Pebble is a second one started with `PEBBLE_VA_ALWAYS_VALID=1` (it passes every challenge
//! without a lookup), the test instead reads the record back through the Route 53 API
//! (`ListResourceRecordSets`) while the order waits, and propagation is Route 53's own report
//! (the change `INSYNC`, which moto gives at once) rather than a query at authoritative servers.

use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{
    MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY, Moto, Pebble, PebbleOptions, verify_chain,
};
use serde_json::json;

use crate::issuance::start;
use crate::process::ApiClient;

const ZONE: &str = "route53.test";
const DEADLINE: Duration = Duration::from_secs(60);

/// A certificate for a name in a Route 53 hosted zone is issued through the API: the challenge
/// record is written to the hosted zone (seen through the API while the order waits), the
/// certificate chains to Pebble's root, and the record is removed afterwards. The credential's
/// secret never appears in the credential's view.
///
/// The zone's propagation strategy is `none`: moto answers no DNS, so the provider's own report
/// (`wait_applied`, the change `INSYNC`) is the only wait.
#[test]
fn issue_with_a_route53_hosted_zone() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&dir.path().join("moto"));
    let zone_id = moto.create_zone(ZONE);
    let mut options = PebbleOptions::new("127.0.0.1:9".parse().unwrap());
    options.always_valid = true;
    let pebble = Pebble::start(&dir.path().join("pebble"), options);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);

    let pid = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "aws" })), 201)["id"].as_str().unwrap().to_owned();
    let account = c.ok(
        "POST",
        "/api/v1/acme-accounts",
        Some(json!({ "project_id": pid, "name": "pebble", "directory_url": pebble.directory_url(),
            "contact": ["mailto:ops@example.test"], "tos_agreed": true, "ca_bundle_pem": pebble.https_ca_pem() })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential = c.ok(
        "POST",
        "/api/v1/dns-credentials",
        Some(json!({ "project_id": pid, "name": "route53", "provider": "route53", "config": {
            "access_key_id": MOTO_ACCESS_KEY_ID, "secret_access_key": MOTO_SECRET_ACCESS_KEY,
            "endpoint": moto.url() } })),
        201,
    );
    assert!(!credential.to_string().contains(MOTO_SECRET_ACCESS_KEY), "{credential}");
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"],
            "propagation": { "strategy": "none" } })),
        201,
    );

    let name = format!("www.{ZONE}");
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": name, "sans": [], "key_type": "ecdsa-p256", "acme_account_id": account })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();

    // The challenge record shows in the hosted zone, read through the Route 53 API.
    let record = format!("_acme-challenge.{name}");
    let started = Instant::now();
    let mut values = moto.txt_values(&zone_id, &record);
    while values.is_empty() {
        assert!(started.elapsed() < DEADLINE, "no challenge record in the hosted zone: {}", moto.log());
        std::thread::sleep(Duration::from_millis(50));
        values = moto.txt_values(&zone_id, &record);
    }
    assert_eq!(values.len(), 1, "{values:?}");
    assert_eq!(values[0].len(), 45, "a quoted base64url SHA-256 digest: {values:?}");

    let cert = c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "certificate issued", |cert| {
        cert["status"] == json!("issued") || cert["status"] == json!("failed")
    });
    assert_eq!(cert["status"], json!("issued"), "{cert}");
    let (status, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(status, 200);
    verify_chain(&chain, &pebble.issuing_root_pem(), &name).unwrap();

    // The record is removed once the order is done.
    let started = Instant::now();
    while !moto.txt_values(&zone_id, &record).is_empty() {
        assert!(started.elapsed() < DEADLINE, "the challenge record was not removed");
        std::thread::sleep(Duration::from_millis(50));
    }
}
