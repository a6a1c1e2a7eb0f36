//! A CNAME-delegated name through acme-dns, end to end through the HTTP API of the real binary:
//! `_acme-challenge.acmedns.example.test` is a CNAME (in the test BIND) to the acme-dns
//! subdomain `<uuid>.auth.example.test`; the project has `example.test` on the RFC 2136
//! credential (its server answers the CNAME lookup) and `auth.example.test` on an acme-dns
//! credential; the acme-dns stand-in publishes what it is given into BIND, where Pebble looks.

use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{AcmeDnsAccount, AcmeDnsStandIn, AcmeEnv, AcmeEnvOptions, TestZone};
use serde_json::json;

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, request, start, wait_status};
use crate::process::{ApiClient, Server};

const ACMEDNS_DOMAIN: &str = "auth.example.test";
const NAME: &str = "acmedns.example.test";

/// The acme-dns stand-in with one registration, and BIND (with Pebble) serving the acme-dns
/// domain and the CNAME from `NAME`'s challenge to the registration's subdomain.
fn environment(dir: &std::path::Path) -> (AcmeDnsStandIn, AcmeDnsAccount, AcmeEnv) {
    let acmedns = AcmeDnsStandIn::start(ACMEDNS_DOMAIN);
    let account = acmedns.register(&[]);
    let options = AcmeEnvOptions {
        extra_zones: vec![TestZone::new(ACMEDNS_DOMAIN)],
        zone_records: vec![format!("_acme-challenge.{NAME}. IN CNAME {}.", account.fulldomain)],
        ..Default::default()
    };
    let env = AcmeEnv::start(&dir.join("env"), options);
    acmedns.publish_to(env.bind.addr(), env.bind.key().clone());
    (acmedns, account, env)
}

/// The project's zone `auth.example.test` on an acme-dns credential (the secret `password` in the
/// request's config, sealed apart).
fn acmedns_zone(c: &ApiClient, pid: &str, acmedns: &AcmeDnsStandIn, account: &AcmeDnsAccount, env: &AcmeEnv) {
    let credential = c.ok(
        "POST",
        "/api/v1/dns-credentials",
        Some(json!({ "project_id": pid, "name": "acme-dns", "provider": "acmedns", "config": {
            "api_url": acmedns.url(), "username": account.username, "subdomain": account.subdomain,
            "password": account.password } })),
        201,
    );
    assert!(!credential.to_string().contains(&account.password), "the password is write-only: {credential}");
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(json!({ "project_id": pid, "apex": ACMEDNS_DOMAIN, "credential_id": credential["id"],
            "propagation": { "strategy": "authoritative", "nameservers": [env.bind.addr().to_string()] } })),
        201,
    );
}

/// A certificate requested for `NAME` in a project with both zones, and what it runs against.
struct Order {
    acmedns: AcmeDnsStandIn,
    account: AcmeDnsAccount,
    env: AcmeEnv,
    c: ApiClient,
    cid: String,
    /// Kept running for the test.
    _server: Server,
}

fn order(dir: &std::path::Path) -> Order {
    install_ring();
    let (acmedns, account, env) = environment(dir);
    let server = start(dir, &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, pebble) = project(&c, &env, "acmedns", None);
    acmedns_zone(&c, &pid, &acmedns, &account, &env);
    let cid = request(&c, &pid, &pebble, NAME, &[]);
    Order { acmedns, account, env, c, cid, _server: server }
}

/// The flow follows the CNAME into the acme-dns zone and publishes there with the acme-dns
/// credential: the update carries the registration's subdomain and a DNS-01 value, and BIND then
/// answers that value for the name's `_acme-challenge` through the CNAME, as the CA will see it.
#[test]
fn a_delegated_challenge_is_published_through_acme_dns() {
    let dir = tempfile::tempdir().unwrap();
    let o = order(dir.path());
    let (acmedns, account, env) = (&o.acmedns, &o.account, &o.env);

    let deadline = Instant::now() + ISSUE_DEADLINE;
    let value = loop {
        if let Some(value) = acmedns.txt(&account.subdomain).pop() {
            break value;
        }
        assert!(Instant::now() < deadline, "no update reached acme-dns: {:?}", acmedns.requests());
        std::thread::sleep(Duration::from_millis(25));
    };
    assert_eq!(value.len(), 43, "a DNS-01 value: {value}");
    let update = acmedns.requests().into_iter().find(|r| r.path == "/update").unwrap();
    assert_eq!(update.header("x-api-user"), Some(account.username.as_str()));
    assert_eq!(update.body["subdomain"], json!(account.subdomain));
    assert!(env.bind.txt(&format!("_acme-challenge.{NAME}")).contains(&value), "visible through the CNAME");
}

/// The whole issuance for the delegated name: the acme-dns zone names the test BIND (which serves
/// it) as the server to check, since acme-dns is an HTTP API and no DNS server to ask.
#[test]
fn a_delegated_name_is_issued_through_acme_dns() {
    let dir = tempfile::tempdir().unwrap();
    let o = order(dir.path());
    let (acmedns, account, c, cid) = (&o.acmedns, &o.account, &o.c, &o.cid);
    let issued = wait_status(c, cid, "issued", ISSUE_DEADLINE);
    assert_eq!(issued["common_name"], json!(NAME), "{issued}");
    // acme-dns has no delete: the value stays, one of the subdomain's two, until rotated out.
    assert_eq!(acmedns.txt(&account.subdomain).len(), 1);
}
