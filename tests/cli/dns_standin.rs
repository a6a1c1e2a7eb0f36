//! Issuance end to end through the API with a DNS provider reached over its HTTP API: a Cloudflare
//! stand-in (written from Cloudflare's published reference) stores the challenge records and
//! publishes them to BIND by RFC 2136, so Pebble validates for real. A wildcard and its base put two
//! values at one name in one order.

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, cloudflare_standin, verify_chain};
use serde_json::json;

use crate::issuance::{ISSUE_DEADLINE, create_account, install_ring, request, start, wait_status};
use crate::process::ApiClient;

const TOKEN: &str = "cf-token-Secret-0123456789";

/// The credential is Cloudflare's (settings and a write-only token), the zone names BIND as the
/// server to check visibility at (Cloudflare's client is no DNS server to ask for NS records), and
/// the certificate is issued with both records created and then deleted through the API.
#[test]
fn issue_through_the_cloudflare_api() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let api = cloudflare_standin(TOKEN, &[("z-example", ZONE, "active")], Some(&env.bind));
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let project = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "cloudflare" })), 201);
    let pid = project["id"].as_str().unwrap().to_owned();
    let account = create_account(&c, &env, &pid, "pebble", None);

    // --- a Cloudflare credential and its zone, checked at BIND (where the stand-in publishes).
    let credential = c.ok(
        "POST",
        "/api/v1/dns-credentials",
        Some(json!({ "project_id": pid, "name": "cloudflare", "provider": "cloudflare",
            "config": { "api_url": api.url(), "api_token": TOKEN } })),
        201,
    );
    assert!(!credential.to_string().contains(TOKEN), "the token is write-only: {credential}");
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"],
            "propagation": { "strategy": "authoritative", "nameservers": [env.bind.addr().to_string()] } })),
        201,
    );

    // --- the apex and its wildcard: two values at _acme-challenge.example.test in one order.
    let cid = request(&c, &pid, &account, ZONE, &[&format!("*.{ZONE}")]);
    wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let (_, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    // The wildcard covers any one label: a name under it verifies.
    for name in [ZONE.to_owned(), format!("www.{ZONE}")] {
        verify_chain(&chain, &env.pebble.issuing_root_pem(), &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }

    // --- both records went through the API with the token, and are gone from it and from BIND.
    let name = format!("_acme-challenge.{ZONE}");
    let requests = api.requests();
    let creates = requests.iter().filter(|r| r.method == "POST").count();
    let deletes = requests.iter().filter(|r| r.method == "DELETE").count();
    assert_eq!((creates, deletes), (2, 2), "{requests:#?}");
    assert!(requests.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {TOKEN}"))));
    assert!(api.values_at(&name).is_empty() && env.bind.txt(&name).is_empty(), "challenge records are removed");
}
