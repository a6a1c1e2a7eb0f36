//! Discovery scans through the API of the real binary, against TLS servers the test starts on
//! loopback addresses (127.0.0.0/8 offers many): a certificate the project manages is matched by
//! its fingerprint and noted in its timeline; an unknown one, served at two addresses, is recorded
//! once as `unmanaged` (origin `discovered`); an address the egress policy refuses is never
//! connected to; a second scan records nothing twice; bad scans are refused naming their field.

use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ElsewhereCa, ServedTls, ZONE};
use serde_json::{Value, json};

use crate::issuance::{install_ring, project, start, timeline_events};
use crate::process::ApiClient;

const DAY: Duration = Duration::from_secs(86_400);

/// Queues a scan, waits for its job to end, and returns the job with its log.
fn scan(c: &ApiClient, body: Value) -> Value {
    let queued = c.ok("POST", "/api/v1/discovery/scans", Some(body), 202);
    let id = queued["job"]["id"].as_str().unwrap().to_owned();
    c.wait_for(&format!("/api/v1/jobs/{id}"), Duration::from_secs(60), "the scan ends", |j| {
        j["job"]["status"] == json!("succeeded") || j["job"]["status"] == json!("dead")
    })
}

fn log_lines(job: &Value) -> Vec<String> {
    job["log"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_scan_matches_known_certificates_and_records_the_others_unmanaged() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[("CERTAUTOPILOT_EGRESS__DENY", "127.0.0.9/32")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "discovery", None);
    let ca = ElsewhereCa::new("Another CA");
    let known = ca.leaf(&[&format!("known.{ZONE}")], DAY, DAY * 90);
    let unknown = ca.leaf(&["shadow.internal.test"], DAY, DAY * 30);
    let hidden = ca.leaf(&["hidden.internal.test"], DAY, DAY * 30);
    // The project knows one certificate (imported, then managed: its issuer would renew it).
    let imported = c.ok(
        "POST",
        "/api/v1/certificates/import",
        Some(json!({ "project_id": pid, "chain_pem": known.chain_pem, "private_key_pem": known.key_pem })),
        201,
    );
    let kid = imported["id"].as_str().unwrap().to_owned();
    c.ok(
        "POST",
        &format!("/api/v1/certificates/{kid}/manage"),
        Some(json!({ "version": imported["version"], "acme_account_id": account })),
        200,
    );
    let at_known = ServedTls::start("127.0.0.2", 0, &known.chain_pem, &known.key_pem);
    let port = at_known.addr().port();
    let at_unknown = ServedTls::start("127.0.0.3", port, &unknown.chain_pem, &unknown.key_pem);
    let at_unknown_too = ServedTls::start("127.0.0.4", port, &unknown.chain_pem, &unknown.key_pem);
    let refused = ServedTls::start("127.0.0.9", port, &hidden.chain_pem, &hidden.key_pem);

    // --- refused before anything runs, naming the field.
    for (body, field) in [
        (json!({ "project_id": pid, "endpoints": ["no-port"] }), "endpoints[0]"),
        (json!({ "project_id": pid, "cidrs": ["127.0.0.0/8"], "ports": [port] }), "cidrs[0]"),
        (json!({ "project_id": pid, "cidrs": ["127.0.0.0/30"] }), "ports"),
        (json!({ "project_id": pid }), "endpoints"),
    ] {
        let (status, refusal) = c.call("POST", "/api/v1/discovery/scans", Some(body));
        assert_eq!((status, refusal["field"].as_str()), (422, Some(field)), "{refusal}");
    }

    // --- the scan: .2 and .3 (a /31), .4, .9 and .10 (hosts of a /30), and .5 where nothing listens.
    let body = json!({ "project_id": pid, "endpoints": [format!("127.0.0.5:{port}")],
        "cidrs": ["127.0.0.2/31", "127.0.0.4/32", "127.0.0.8/30"], "ports": [port] });
    let job = scan(&c, body.clone());
    assert_eq!(job["job"]["status"], json!("succeeded"), "{job}");
    let lines = log_lines(&job);
    assert!(lines.iter().any(|l| l.starts_with(&format!("127.0.0.2:{port}: serves certificate {kid}"))), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("127.0.0.3:{port}: serves shadow.internal.test"))),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("127.0.0.9:{port}: no certificate read")) && l.contains("egress")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with(&format!("127.0.0.5:{port}: no certificate read"))), "{lines:?}");
    assert_eq!(refused.accepted(), 0, "the address the egress policy refuses was never connected to");
    assert!(at_unknown.accepted() >= 1 && at_unknown_too.accepted() >= 1);

    let listed = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    let found: Vec<&Value> =
        listed["items"].as_array().unwrap().iter().filter(|c| c["origin"] == json!("discovered")).collect();
    assert_eq!(found.len(), 1, "served at two addresses, recorded once: {listed}");
    assert_eq!(
        (found[0]["status"].as_str(), found[0]["common_name"].as_str()),
        (Some("unmanaged"), Some("shadow.internal.test"))
    );
    let found_id = found[0]["id"].as_str().unwrap().to_owned();
    assert!(timeline_events(&c, &found_id).iter().any(|e| e == "cert.discovered"));
    assert!(timeline_events(&c, &kid).iter().any(|e| e == "cert.served"), "{:?}", timeline_events(&c, &kid));
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=discovery.scanned"), None, 200);
    let details = &audit["items"][0]["details"];
    assert_eq!(
        (details["serving"].clone(), details["known"].clone(), details["recorded"].clone()),
        (json!(3), json!(1), json!(1)),
        "{audit}"
    );

    // --- a second scan finds the same, records nothing new.
    let again = scan(&c, body);
    assert_eq!(again["job"]["status"], json!("succeeded"));
    let listed = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(refused.accepted(), 0);
}
