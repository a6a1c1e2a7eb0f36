//! A misbehaving CA, end to end through the API of the real binary: Pebble rejecting most nonces
//! (its own `PEBBLE_WFE_NONCEREJECT`), and a front for Pebble that resets connections and answers
//! 503 with `Retry-After`. Every certificate is issued in its job's first attempt: the failures
//! are retried inside the attempt, each retry written to the job log with its reason.

use certautopilot_chaos_tests::harness::bind_zones;
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, FaultyCa, FrontOptions, ZONE};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, account_body, install_ring, request, start, wait_status};
use crate::process::ApiClient;

/// Every issue job of the project, and the job-log lines of its certificates that retried a call.
fn jobs_and_retries(c: &ApiClient, pid: &str, certificates: &[String]) -> (Vec<Value>, Vec<String>) {
    let jobs = c.ok("GET", &format!("/api/v1/jobs?project_id={pid}&limit=100"), None, 200);
    let issue: Vec<Value> =
        jobs["items"].as_array().unwrap().iter().filter(|j| j["kind"] == json!("issue")).cloned().collect();
    let mut retries = Vec::new();
    for cid in certificates {
        let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
        for e in timeline["items"].as_array().unwrap() {
            let event = e["event"].as_str().unwrap_or_default();
            if event.contains("; retrying in ") {
                retries.push(event.to_owned());
            }
        }
    }
    (issue, retries)
}

/// Requests `count` certificates in the project and waits until each is issued.
fn issue_all(c: &ApiClient, pid: &str, account: &str, label: &str, count: usize) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| request(c, pid, account, &format!("{label}-{i}.{ZONE}"), &[])).collect();
    for cid in &ids {
        wait_status(c, cid, "issued", ISSUE_DEADLINE);
    }
    ids
}

/// With half of the nonces rejected, six certificates are issued and no issue job needed a second
/// attempt; the rejections that got past the client's own two retries are retried in place and
/// logged as `badNonce`. (Three rejections in a row happen with 12.5 % per request, so over the
/// sixty-odd signed requests here a logged retry is all but certain: 1 in 3,000 runs has none.)
#[test]
fn rejected_nonces_are_retried_inside_the_attempt() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let options = AcmeEnvOptions { nonce_reject_percent: 50, ..Default::default() };
    let env = AcmeEnv::start(&dir.path().join("env"), options);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let pid =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "nonces" })), 201)["id"].as_str().unwrap().to_owned();
    let account = c.ok("POST", "/api/v1/acme-accounts", Some(account_body(&env.pebble, &pid, "pebble")), 201);
    bind_zones(&c, &env, &pid, &[]);
    let ids = issue_all(&c, &pid, account["id"].as_str().unwrap(), "nonce", 6);

    let (jobs, retries) = jobs_and_retries(&c, &pid, &ids);
    assert_eq!(jobs.len(), 6, "{jobs:#?}");
    assert!(jobs.iter().all(|j| j["attempts"] == json!(1)), "no job needed a second attempt: {jobs:#?}");
    assert!(!retries.is_empty(), "some rejection got past the client's own retries");
    assert!(retries.iter().all(|r| r.contains("badNonce")), "{retries:#?}");
}

/// A front for Pebble resets every tenth signed request's connection and answers every fifteenth
/// with 503 and `Retry-After: 1` (an HTML page, no problem document): spaced so that a call's
/// retry meets at most one more fault. Three certificates are issued in
/// their jobs' first attempts; the job logs name both failures; the 503 page is nowhere.
#[test]
fn resets_and_unavailable_answers_are_retried_inside_the_attempt() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let faults = FrontOptions { reset_every: 10, unavailable_every: 15, retry_after_secs: 1, ..Default::default() };
    let front =
        FaultyCa::start(&dir.path().join("front"), &env.pebble.directory_url(), &env.pebble.https_ca_pem(), faults);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let pid =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "front" })), 201)["id"].as_str().unwrap().to_owned();
    let mut body = account_body(&env.pebble, &pid, "through the front");
    body["directory_url"] = json!(front.directory_url());
    body["ca_bundle_pem"] = json!(front.https_ca_pem());
    let account = c.ok("POST", "/api/v1/acme-accounts", Some(body), 201);
    bind_zones(&c, &env, &pid, &[]);
    let ids = issue_all(&c, &pid, account["id"].as_str().unwrap(), "front", 3);

    let (resets, unavailable, forwarded) = front.injected();
    assert!(resets >= 2 && unavailable >= 1 && forwarded > 20, "{:?}", front.injected());
    let (jobs, retries) = jobs_and_retries(&c, &pid, &ids);
    assert!(jobs.iter().all(|j| j["attempts"] == json!(1)), "no job needed a second attempt: {jobs:#?}");
    // The 503's `Retry-After: 1` is the wait (less the moment since it arrived).
    let waited = |r: &str| r.split("retrying in ").nth(1).and_then(|w| w.split(' ').next()?.parse::<u64>().ok());
    assert!(
        retries.iter().any(|r| r.contains("http 503 from the CA") && waited(r).is_some_and(|ms| ms >= 900)),
        "{retries:#?}"
    );
    assert!(retries.iter().any(|r| !r.contains("http 503")), "the resets are retried too: {retries:#?}");
    for cid in &ids {
        let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
        assert!(!timeline.to_string().contains("Temporarily Unavailable"), "the 503 page is not copied: {timeline}");
    }
}
