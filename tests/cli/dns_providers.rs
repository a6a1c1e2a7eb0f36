//! Issuance end to end through the HTTP API of the real binary with DNS servers other than the test
//! BIND: Knot DNS through the `rfc2136` provider and PowerDNS through the `pdns` provider (its HTTP
//! API). Pebble validates DNS-01 by asking the server under test itself (`-dnsserver`), so a
//! certificate is issued only if the record really was published there.

use std::net::SocketAddr;
use std::time::Duration;

use certautopilot_connectors::testsupport::{
    Knot, PdnsServer, Pebble, PebbleOptions, Rfc2136Server, TestZone, TsigKey, ZONE, verify_chain,
};
use serde_json::{Value, json};

use crate::issuance::{account_body, install_ring, request, start, timeline_events};
use crate::process::ApiClient;

const ISSUE_DEADLINE: Duration = Duration::from_secs(60);

/// A project with an ACME account at `pebble`, a credential made from `credential` (provider and
/// config) and the zone `ZONE` bound to it, checked at `check_at` when given (its propagation
/// settings' `nameservers`). Returns (project id, account id).
fn project(c: &ApiClient, pebble: &Pebble, credential: Value, check_at: Option<SocketAddr>) -> (String, String) {
    let pid = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "dns" })), 201)["id"].as_str().unwrap().to_owned();
    let account = c.ok("POST", "/api/v1/acme-accounts", Some(account_body(pebble, &pid, "pebble")), 201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = credential;
    body["project_id"] = json!(pid);
    body["name"] = json!("dns");
    let credential = c.ok("POST", "/api/v1/dns-credentials", Some(body), 201);
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(match check_at {
            Some(server) => json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"],
                "propagation": { "strategy": "authoritative", "nameservers": [server.to_string()] } }),
            None => json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"] }),
        }),
        201,
    );
    (pid, account)
}

/// Requests the apex and its wildcard (two values at one challenge name, in one order), waits until
/// issued, and checks the chain for both names against Pebble's root; `txt` reads the challenge
/// name at the server under test, which must be empty afterwards.
fn issue_apex_and_wildcard(
    c: &ApiClient,
    pebble: &Pebble,
    pid: &str,
    account: &str,
    txt: &dyn Fn(&str) -> Vec<String>,
) {
    let wildcard = format!("*.{ZONE}");
    let cid = request(c, pid, account, ZONE, &[&wildcard]);
    // A failed attempt ends the wait at once, with its reason in the assertion.
    let cert = c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "issued or failed", |cert| {
        cert["status"] == json!("issued") || cert["status"] == json!("failed")
    });
    assert!(cert["status"] == json!("issued") && cert["serial"].is_string(), "{cert}");
    let (status, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(status, 200);
    let root = pebble.issuing_root_pem();
    for name in [ZONE.to_owned(), format!("www.{ZONE}")] {
        verify_chain(&chain, &root, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(timeline_events(c, &cid).iter().any(|e| e == "cert.issued"));
    assert!(txt(&format!("_acme-challenge.{ZONE}")).is_empty(), "challenge records are removed");
}

/// Knot DNS as the RFC 2136 server: updates signed with its TSIG key, visibility checked at the
/// servers its NS records name (found by asking Knot), and Pebble validating at Knot.
#[test]
fn issue_through_knot_with_rfc2136() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let knot = Knot::start(&dir.path().join("knot"), TsigKey::random("certautopilot-test"), vec![TestZone::new(ZONE)]);
    let pebble = Pebble::start(&dir.path().join("pebble"), PebbleOptions::new(knot.addr()));
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let key = knot.key();
    let (pid, account) = project(
        &c,
        &pebble,
        json!({ "provider": "rfc2136", "config": { "server": knot.addr().to_string(), "key_name": key.name,
            "algorithm": key.algorithm, "secret": key.secret } }),
        None,
    );
    issue_apex_and_wildcard(&c, &pebble, &pid, &account, &|name| knot.txt(name));
}

/// PowerDNS through its HTTP API: records written by `PATCH` (both values at the one name kept),
/// Pebble validating at pdns's DNS port. A `pdns` credential names no DNS server, so the zone names
/// pdns's DNS port as the server to check.
#[test]
fn issue_through_powerdns_api() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let pdns = PdnsServer::start(&dir.path().join("pdns"), &[ZONE]);
    let pebble = Pebble::start(&dir.path().join("pebble"), PebbleOptions::new(pdns.dns_addr()));
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(
        &c,
        &pebble,
        json!({ "provider": "pdns", "config": { "api_url": pdns.api_url(), "api_key": pdns.api_key() } }),
        Some(pdns.dns_addr()),
    );
    issue_apex_and_wildcard(&c, &pebble, &pid, &account, &|name| pdns.txt(name));
}
