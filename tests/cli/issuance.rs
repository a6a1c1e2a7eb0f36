//! Issuance end to end through the HTTP API of the real binary, against a real Pebble validating
//! DNS-01 through a real BIND 9: issue (EAB required), a refused EAB key, inspection and a forced
//! panic, manual renewal and revocation, the scheduler's renewal, a worker killed mid-order, the CA
//! and the DNS server going away, and a challenge the CA cannot see.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, AriProxy, CNAME_NAME, EAB_KID, Pebble, ZONE, verify_chain,
};
use serde_json::{Value, json};

use crate::process::{ApiClient, Server, wait_for_status};

pub(crate) const ISSUE_DEADLINE: Duration = Duration::from_secs(60);

/// Fast polling and short backoffs (the defaults are for real CAs); fault injection on.
pub(crate) const FAST: &[(&str, &str)] = &[
    ("CERTAUTOPILOT_ISSUANCE__POLL_INITIAL_MS", "10"),
    ("CERTAUTOPILOT_ISSUANCE__POLL_MAX_MS", "200"),
    ("CERTAUTOPILOT_ISSUANCE__ACME_TIMEOUT_SECS", "5"),
    // A CA that is away fails an attempt after a few in-place retries, not after the default 15 s.
    ("CERTAUTOPILOT_ISSUANCE__ACME_RETRY_BUDGET_MS", "3000"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_PROPAGATION_TIMEOUT_SECS", "5"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_QUERY_TIMEOUT_MS", "500"),
    ("CERTAUTOPILOT_ISSUANCE__RENEWAL_SCAN_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_BASE_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_MAX_SECS", "2"),
    ("CERTAUTOPILOT_JOBS__LEASE_SECS", "5"),
    ("CERTAUTOPILOT_JOBS__HEARTBEAT_SECS", "1"),
    ("CERTAUTOPILOT_DEBUG__FAULT_INJECTION", "true"),
];

pub(crate) fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) fn start(dir: &Path, extra: &[(&str, &str)]) -> Server {
    // File targets may write anywhere under the test's directory (its data directory excepted).
    let allowed = dir.display().to_string();
    let files = [("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", allowed.as_str())];
    let env: Vec<(&str, &str)> = FAST.iter().chain(&files).chain(extra).copied().collect();
    let server = Server::start(dir, &[], &env);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    server
}

/// A project with an ACME account at the environment's Pebble, its BIND as the RFC 2136
/// credential, and both test zones. Returns (project id, account id).
pub(crate) fn project(c: &ApiClient, env: &AcmeEnv, name: &str, eab_key: Option<&str>) -> (String, String) {
    project_with(c, env, name, eab_key, &[])
}

/// Like `project`, with the credential checking visibility at `nameservers` instead of the NS records.
fn project_with(
    c: &ApiClient,
    env: &AcmeEnv,
    name: &str,
    eab_key: Option<&str>,
    nameservers: &[String],
) -> (String, String) {
    let project = c.ok("POST", "/api/v1/projects", Some(json!({ "name": name })), 201);
    let pid = project["id"].as_str().unwrap().to_owned();
    let account = create_account(c, env, &pid, "pebble", eab_key);
    certautopilot_chaos_tests::harness::bind_zones(c, env, &pid, nameservers);
    (pid, account)
}

pub(crate) fn create_account(c: &ApiClient, env: &AcmeEnv, pid: &str, name: &str, eab_key: Option<&str>) -> String {
    let mut body = account_body(&env.pebble, pid, name);
    if let Some(key) = eab_key {
        body["eab_kid"] = json!(EAB_KID);
        body["eab_hmac_key"] = json!(key);
    }
    c.ok("POST", "/api/v1/acme-accounts", Some(body), 201)["id"].as_str().unwrap().to_owned()
}

pub(crate) fn request(c: &ApiClient, pid: &str, account: &str, cn: &str, sans: &[&str]) -> String {
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": cn, "sans": sans, "key_type": "ecdsa-p256", "acme_account_id": account })),
        202,
    );
    created["certificate"]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn wait_status(c: &ApiClient, cid: &str, status: &str, deadline: Duration) -> Value {
    c.wait_for(&format!("/api/v1/certificates/{cid}"), deadline, &format!("certificate {status}"), |cert| {
        cert["status"] == json!(status)
    })
}

pub(crate) fn timeline_events(c: &ApiClient, cid: &str) -> Vec<String> {
    let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
    timeline["items"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap_or_default().to_owned()).collect()
}

/// An ACME account at `pebble` (trusting its HTTPS CA), without EAB, as the API takes it.
pub(crate) fn account_body(pebble: &Pebble, pid: &str, name: &str) -> Value {
    json!({ "project_id": pid, "name": name, "directory_url": pebble.directory_url(),
        "contact": ["mailto:ops@example.test"], "tos_agreed": true, "ca_bundle_pem": pebble.https_ca_pem() })
}

fn random_eab_key() -> String {
    let mut key = [0u8; 32];
    rand::fill(&mut key);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
}

/// Every byte of the store (database and write-ahead log).
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["data/certautopilot.db", "data/certautopilot.db-wal"] {
        all.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    all
}

#[test]
fn issue_inspect_renew_and_revoke_through_the_api() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions { require_eab: true, ..Default::default() });
    let mut server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "web", Some(env.eab_hmac_key()));

    // --- a certificate for two names (one CNAME-delegated) is issued and verifies against Pebble's root.
    let cid = request(&c, &pid, &account, &format!("www.{ZONE}"), &[CNAME_NAME]);
    let cert = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    assert!(cert["serial"].is_string() && cert["renew_at"].is_string(), "{cert}");
    let (status, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(status, 200);
    let root = env.pebble.issuing_root_pem();
    for name in [format!("www.{ZONE}"), CNAME_NAME.to_owned()] {
        verify_chain(&chain, &root, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let events = timeline_events(&c, &cid);
    for expected in ["cert.requested", "cert.issuing", "cert.order_placed", "order placed", "cert.issued", "issued"] {
        assert!(events.iter().any(|e| e == expected), "{expected} missing from the timeline: {events:?}");
    }
    assert!(env.bind.txt(&format!("_acme-challenge.www.{ZONE}")).is_empty(), "challenge records are removed");
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.issued"), None, 200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);
    let bytes = store_bytes(dir.path());
    assert!(!bytes.windows(11).any(|w| w == b"PRIVATE KEY"), "no PEM private key appears in the store files");
    let db = rusqlite::Connection::open(dir.path().join("data/certautopilot.db")).unwrap();
    let sealed: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM sealed_secrets WHERE record_table = 'certificates' AND record_id = ?1 AND field = 'private_key'",
            [&cid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sealed, 1, "the key is stored sealed");

    // --- an RSA 2048 certificate (key made by the rsa crate; ring signs the CSR) verifies as well.
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": format!("rsa.{ZONE}"), "key_type": "rsa2048", "acme_account_id": account })),
        202,
    );
    let rsa = created["certificate"]["id"].as_str().unwrap().to_owned();
    wait_status(&c, &rsa, "issued", ISSUE_DEADLINE);
    let (_, rsa_chain) = c.call_text("GET", &format!("/api/v1/certificates/{rsa}/chain"), None);
    verify_chain(&rsa_chain, &root, &format!("rsa.{ZONE}")).unwrap();

    // --- the actors that did the work are listed; a forced panic restarts one, which works again.
    let actors = c.ok("GET", "/api/v1/admin/actors", None, 200);
    let kinds: Vec<&str> = actors["items"].as_array().unwrap().iter().filter_map(|a| a["kind"].as_str()).collect();
    for kind in ["certificate", "acme_account", "kek", "job_pump", "scheduler"] {
        assert!(kinds.contains(&kind), "{kind} not in {kinds:?}");
    }
    assert_eq!(c.ok("GET", &format!("/api/v1/admin/actors/certificate/{cid}"), None, 200)["restarts"], json!(0));
    c.ok("POST", &format!("/api/v1/admin/actors/certificate/{cid}/panic"), None, 202);
    let restarted =
        c.wait_for(&format!("/api/v1/admin/actors/certificate/{cid}"), Duration::from_secs(10), "restart", |a| {
            a["restarts"] == json!(1) && a["alive"] == json!(true)
        });
    assert!(restarted["last_error"].as_str().unwrap_or_default().contains("forced panic"), "{restarted}");

    // --- renew by hand: a new serial, the old one kept in the history; the restarted actor did it.
    let serial = cert["serial"].as_str().unwrap().to_owned();
    c.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    let renewed = c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed", |cert| {
        cert["status"] == json!("issued") && cert["serial"].as_str() != Some(&serial)
    });
    assert_eq!(renewed["history"][0]["serial"], json!(serial));
    assert!(timeline_events(&c, &cid).iter().any(|e| e == "cert.renewed"));
    assert_eq!(c.ok("GET", &format!("/api/v1/admin/actors/certificate/{cid}"), None, 200)["restarts"], json!(1));

    // --- metrics carry the expiry.
    let metrics_line = server_metrics(&mut server);
    assert!(
        metrics_line.contains(&format!("certautopilot_certificate_expiry_seconds{{certificate_id=\"{cid}\"")),
        "{metrics_line}"
    );

    // --- revoke; a second revoke and a renewal of a revoked certificate are refused.
    c.ok("POST", &format!("/api/v1/certificates/{cid}/revoke"), Some(json!({ "reason": "superseded" })), 202);
    let revoked = wait_status(&c, &cid, "revoked", ISSUE_DEADLINE);
    assert!(revoked["revoked_at"].is_string());
    // The request and the revocation record the reason by name (not the RFC 5280 code 4).
    for action in ["cert.revoke_requested", "cert.revoked"] {
        let events = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action={action}"), None, 200);
        let reasons: Vec<&Value> =
            events["items"].as_array().unwrap().iter().map(|e| &e["details"]["reason"]).collect();
        assert_eq!(reasons, [&json!("superseded")], "{action}: {events}");
    }
    let (status, body) = c.call("POST", &format!("/api/v1/certificates/{cid}/revoke"), Some(json!({})));
    assert_eq!((status, body["code"].as_str()), (409, Some("conflict")), "{body}");
    let (status, _) = c.call("POST", &format!("/api/v1/certificates/{cid}/renew"), None);
    assert_eq!(status, 409);
    let (status, body) =
        c.call("POST", &format!("/api/v1/certificates/{cid}/revoke"), Some(json!({ "reason": "because" })));
    assert_eq!(status, 422, "{body}");

    // --- an account with a wrong EAB key: the certificate fails with the CA's reason, the account too.
    let bad_account = create_account(&c, &env, &pid, "wrong-eab", Some(&random_eab_key()));
    let bad = request(&c, &pid, &bad_account, &format!("bad.{ZONE}"), &[]);
    let failed = wait_status(&c, &bad, "failed", ISSUE_DEADLINE);
    let reason = failed["last_error"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("CA refused"), "{reason}");
    let account_view = c.ok("GET", &format!("/api/v1/acme-accounts/{bad_account}"), None, 200);
    assert_eq!(account_view["status"], json!("failed"), "{account_view}");
    assert!(timeline_events(&c, &bad).iter().any(|e| e == "cert.failed"));
    assert!(env.pebble.orders_placed() >= 2);
}

pub(crate) fn server_metrics(server: &mut Server) -> String {
    let line = server.wait_for_log(Duration::from_secs(5), "metrics listening");
    let event: Value = serde_json::from_str(&line).unwrap();
    let addr = event["addr"].as_str().unwrap().parse().unwrap();
    crate::process::http_get(addr, "/metrics").1
}

/// The scheduler renews a certificate whose window opened exactly once: scans every second see the
/// same window, one renew job exists for it.
#[test]
fn the_scheduler_renews_once_when_the_window_opens() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(
        &dir.path().join("env"),
        AcmeEnvOptions { validity: Some(Duration::from_secs(12)), ..Default::default() },
    );
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "short", None);
    let cid = request(&c, &pid, &account, &format!("short.{ZONE}"), &[]);
    let first = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let serial = first["serial"].as_str().unwrap().to_owned();
    // Half of a 12 s lifetime (short-lived: ten days or less): the window opens 6 s after issuance.
    let renewed = c.wait_for(&format!("/api/v1/certificates/{cid}"), Duration::from_secs(40), "renewal", |cert| {
        cert["status"] == json!("issued") && cert["serial"].as_str() != Some(&serial)
    });
    assert_eq!(renewed["history"].as_array().unwrap().len(), 1);
    assert_eq!(renewed["history"][0]["serial"], json!(serial));
    let jobs = c.ok("GET", &format!("/api/v1/jobs?project_id={pid}&limit=100"), None, 200);
    let renews: Vec<&Value> =
        jobs["items"].as_array().unwrap().iter().filter(|j| j["kind"] == json!("renew")).collect();
    assert_eq!(renews.len(), 1, "one renewal for the window: {renews:?}");
    assert!(timeline_events(&c, &cid).iter().any(|e| e == "cert.renewed"));
}

/// A worker killed between placing the order and finalizing it: a new process resumes the same order
/// once the lease expires, and Pebble saw exactly one order. While paused, the actors are inspectable.
#[test]
fn a_worker_killed_mid_order_is_resumed_by_the_next() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let mut server = start(dir.path(), &[("FAILPOINTS", "issue.after_challenges=sleep(60000)")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "crash", None);
    let cid = request(&c, &pid, &account, &format!("crash.{ZONE}"), &[]);
    c.wait_for(&format!("/api/v1/certificates/{cid}/timeline"), ISSUE_DEADLINE, "challenges answered", |t| {
        t["items"].as_array().is_some_and(|items| {
            items.iter().any(|e| e["event"] == json!("challenge records visible at the authoritative servers"))
        })
    });
    let working = c.ok("GET", &format!("/api/v1/admin/actors/certificate/{cid}"), None, 200);
    assert_eq!(working["mailbox_depth"], json!(1), "busy with the job: {working}");
    assert!(c.ok("GET", "/api/v1/admin/actors?kind=acme_account", None, 200)["items"].as_array().unwrap().len() == 1);
    let order_url =
        c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200)["order_url"].as_str().unwrap().to_owned();

    server.signal(libc::SIGKILL);
    server.wait_exit(Duration::from_secs(10));
    let server = start(dir.path(), &[]);
    let mut c = ApiClient { addr: server.addr, token: None };
    c.login();
    wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let events = timeline_events(&c, &cid);
    assert!(events.iter().any(|e| e == "resuming order"), "{events:?}");
    assert_eq!(env.pebble.orders_placed(), 1, "the order was resumed, not placed again ({order_url})");
}

/// The CA away: attempts fail and are retried, and the certificate is issued once it is back (a new
/// Pebble that has forgotten the account: it is registered again). The DNS server away: the failure
/// names it.
#[test]
fn ca_and_dns_outages() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let mut env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS", "20")]);
    let c = ApiClient::setup_and_login(server.addr);
    // Visibility checked at a configured server rather than the NS records.
    let (pid, account) = project_with(&c, &env, "outage", None, &[env.bind.addr().to_string()]);
    // Registered with the first Pebble.
    let first = request(&c, &pid, &account, &format!("first.{ZONE}"), &[]);
    wait_status(&c, &first, "issued", ISSUE_DEADLINE);

    env.pebble.stop();
    let cid = request(&c, &pid, &account, &format!("outage.{ZONE}"), &[]);
    let waiting = c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "a failed attempt", |cert| {
        cert["last_error"].as_str().is_some_and(|e| e.contains("unreachable"))
    });
    assert_eq!(waiting["status"], json!("issuing"), "still trying: {waiting}");
    env.pebble.restart();
    wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    assert!(timeline_events(&c, &cid).iter().any(|e| e == "cert.retrying"));
    let audit = c.ok("GET", "/api/v1/audit/events?action=acme_account.reregistered", None, 200);
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "the new CA did not know the account");

    env.bind.stop();
    let dns = request(&c, &pid, &account, &format!("dns.{ZONE}"), &[]);
    let failing = c.wait_for(&format!("/api/v1/certificates/{dns}"), ISSUE_DEADLINE, "a DNS failure", |cert| {
        cert["last_error"].as_str().is_some_and(|e| e.contains("did not answer"))
    });
    let reason = failing["last_error"].as_str().unwrap();
    assert!(reason.contains(&env.bind.addr().to_string()), "the reason names the server: {reason}");
}

/// A challenge the CA cannot see (it asks a DNS server that never gets our records): the
/// certificate fails with the CA's reason, and no retry is spent on it.
#[test]
fn an_invalid_challenge_fails_with_the_cas_reason() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env =
        AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions { pebble_sees_stale_dns: true, ..Default::default() });
    let server = start(dir.path(), &[("CERTAUTOPILOT_ISSUANCE__PASSIVATE_AFTER_SECS", "1")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "invalid", None);
    let cid = request(&c, &pid, &account, &format!("invalid.{ZONE}"), &[]);
    let failed = wait_status(&c, &cid, "failed", ISSUE_DEADLINE);
    let reason = failed["last_error"].as_str().unwrap();
    assert!(reason.contains("CA refused") && reason.to_lowercase().contains("txt"), "{reason}");
    assert!(
        env.bind.txt(&format!("_acme-challenge.invalid.{ZONE}")).is_empty(),
        "records removed after the failure too"
    );
    // The job is marked dead after the certificate is saved as failed, in its own write.
    let jobs = c.wait_for(&format!("/api/v1/jobs?project_id={pid}"), Duration::from_secs(10), "a dead job", |jobs| {
        jobs["items"][0]["status"] == json!("dead")
    });
    let issue = &jobs["items"][0];
    assert_eq!((issue["status"].clone(), issue["attempts"].clone()), (json!("dead"), json!(1)), "{issue}");
    // Idle for a second, the certificate actor is passivated: it leaves the registry.
    c.wait_for("/api/v1/admin/actors?kind=certificate", Duration::from_secs(10), "passivation", |list| {
        list["items"].as_array().is_some_and(Vec::is_empty)
    });
}

/// A CA that offers ACME Renewal Information: the certificate's renewal time falls inside the CA's
/// window (not half-way through its 40-second lifetime), and the scheduler renews it there, not
/// before. The window opens after the minimum age (a quarter of the lifetime, 10 s), which no CA
/// answer can shorten.
#[test]
fn the_cas_renewal_window_is_honoured() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let options = AcmeEnvOptions { validity: Some(Duration::from_secs(40)), ..Default::default() };
    let env = AcmeEnv::start(&dir.path().join("env"), options);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let window = (now + 14, now + 16);
    let ari = AriProxy::start(&dir.path().join("ari"), &env.pebble.directory_url(), &env.pebble.https_ca_pem(), window);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, _) = project(&c, &env, "ari", None);
    let account = c.ok(
        "POST",
        "/api/v1/acme-accounts",
        Some(json!({ "project_id": pid, "name": "pebble-with-ari", "directory_url": ari.directory_url(), "tos_agreed": true,
            "ca_bundle_pem": format!("{}{}", env.pebble.https_ca_pem(), ari.https_ca_pem()) })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cid = request(&c, &pid, &account, &format!("ari.{ZONE}"), &[]);
    let issued = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let renew_at: certautopilot_core::Timestamp = serde_json::from_value(issued["renew_at"].clone()).unwrap();
    let at = renew_at.as_unix_millis() / 1_000;
    assert!(
        (window.0 as i64..=window.1 as i64).contains(&at),
        "renew_at {renew_at} outside the CA's window {window:?}"
    );
    let serial = issued["serial"].as_str().unwrap().to_owned();
    c.wait_for(&format!("/api/v1/certificates/{cid}"), Duration::from_secs(40), "renewal in the window", |cert| {
        cert["status"] == json!("issued") && cert["serial"].as_str() != Some(&serial)
    });
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.renewing"), None, 200);
    let started: certautopilot_core::Timestamp = serde_json::from_value(audit["items"][0]["at"].clone()).unwrap();
    assert!(
        started.as_unix_millis() / 1_000 >= window.0 as i64,
        "renewal started {started}, before the window {window:?}"
    );
    assert_eq!(ari.answered().len(), 2, "asked for the first and the renewed certificate");
}
