//! The exec hook DNS provider end to end through the HTTP API of the real binary: an owner
//! configures a hook (a shell script calling `nsupdate` against the test BIND) for `example.test`;
//! issuance runs it with `ACTION=present`, then `cleanup`, with the documented environment.

use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, nsupdate_hook};
use serde_json::json;

use crate::issuance::{ISSUE_DEADLINE, create_account, install_ring, request, start, wait_status};
use crate::process::ApiClient;

const NAME: &str = "hooked.example.test";

/// A project whose zone `example.test` is served by an exec hook credential; returns (project,
/// ACME account).
fn hooked_project(c: &ApiClient, env: &AcmeEnv, hook: &str) -> (String, String) {
    let project = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "hooked" })), 201);
    let pid = project["id"].as_str().unwrap().to_owned();
    let account = create_account(c, env, &pid, "pebble", None);
    let credential = c.ok(
        "POST",
        "/api/v1/dns-credentials",
        Some(json!({ "project_id": pid, "name": "hook", "provider": "exec",
            "config": { "command": hook, "timeout_seconds": 10 } })),
        201,
    );
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(json!({ "project_id": pid, "apex": ZONE, "credential_id": credential["id"],
            "propagation": { "strategy": "authoritative", "nameservers": [env.bind.addr().to_string()] } })),
        201,
    );
    (pid, account)
}

/// The service runs the owner's hook for the challenge: `present` with the challenge name (with
/// its final dot), the value and the zone, which the hook publishes in BIND; then `cleanup` with
/// the same, which removes it again.
#[test]
fn issuance_runs_the_hook_to_present_and_clean_up() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let log = dir.path().join("hook.log");
    let hook = nsupdate_hook(dir.path(), &env.bind, Some(&log)).display().to_string();
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = hooked_project(&c, &env, &hook);
    request(&c, &pid, &account, NAME, &[]);

    let deadline = Instant::now() + ISSUE_DEADLINE;
    let calls = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let calls: Vec<Vec<String>> = text.lines().map(|l| l.split(' ').map(str::to_owned).collect()).collect();
        if calls.iter().any(|c| c[0] == "cleanup") {
            break calls;
        }
        assert!(Instant::now() < deadline, "the hook was not run to clean up: {text:?}");
        std::thread::sleep(Duration::from_millis(25));
    };
    let fqdn = format!("_acme-challenge.{NAME}.");
    let present = &calls[0];
    assert_eq!((present[0].as_str(), present[1].as_str(), present[3].as_str()), ("present", fqdn.as_str(), ZONE));
    assert_eq!(present[2].len(), 43, "a DNS-01 value: {present:?}");
    let cleanup = calls.iter().find(|c| c[0] == "cleanup").unwrap();
    assert_eq!(&cleanup[1..], &present[1..], "cleanup gets what present got");
    assert!(env.bind.txt(&format!("_acme-challenge.{NAME}")).is_empty(), "the hook removed the record");
}

/// The whole issuance through the hook: the zone names the test BIND as the server to check, since
/// a hook is no DNS server to ask for the zone's NS records.
#[test]
fn a_certificate_is_issued_through_the_hook() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let hook = nsupdate_hook(dir.path(), &env.bind, None).display().to_string();
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = hooked_project(&c, &env, &hook);
    let cid = request(&c, &pid, &account, NAME, &[]);
    let issued = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    assert_eq!(issued["common_name"], json!(NAME), "{issued}");
}
