//! A renewal policy cannot turn into a loop against the CA, end to end through the API of the real
//! binary: `renew_before_days = 30` on certificates that live 12 seconds is clamped to half the
//! lifetime (the certificate says so), and an account's order budget stops new orders with a clear
//! reason once spent.

use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, request, start, wait_status};
use crate::process::ApiClient;

fn at_ms(v: &Value) -> i64 {
    let text = v.as_str().unwrap_or_else(|| panic!("a time: {v}"));
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The review's measurement was a renewal at every 2-second scan. Here the certificate renews
/// twice, each time half-way through its 12 s life (Pebble makes it 11.x s), never sooner; Pebble
/// sees about three orders.
#[test]
fn a_policy_longer_than_the_lifetime_renews_at_half_and_says_so() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let options = AcmeEnvOptions { validity: Some(Duration::from_secs(12)), ..Default::default() };
    let env = AcmeEnv::start(&dir.path().join("env"), options);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "loop", None);
    let body = json!({ "project_id": pid, "common_name": format!("loop.{ZONE}"), "key_type": "ecdsa-p256",
        "acme_account_id": account, "renew_before_days": 30 });
    let (status, refused) = c.call("POST", "/api/v1/certificates", Some(body.clone()));
    assert_eq!(status, 202, "30 days is below the 90 days expected before issuance: {refused}");
    let cid = refused["certificate"]["id"].as_str().unwrap().to_owned();
    let issued = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let warning = issued["renewal_warning"].as_str().unwrap_or_else(|| panic!("a warning: {issued}"));
    assert!(warning.contains("renew_before_days = 30") && warning.contains("seconds before expiry"), "{warning}");

    let twice = c.wait_for(&format!("/api/v1/certificates/{cid}"), Duration::from_secs(60), "two renewals", |cert| {
        cert["history"].as_array().is_some_and(|h| h.len() >= 2) && cert["status"] == json!("issued")
    });
    let history = twice["history"].as_array().unwrap();
    let starts = [at_ms(&history[1]["not_before"]), at_ms(&history[0]["not_before"]), at_ms(&twice["not_before"])];
    for pair in starts.windows(2) {
        assert!(pair[1] - pair[0] >= 5_000, "renewed half-way (6 s), not at once: {starts:?}");
    }
    assert!(env.pebble.orders_placed() <= 4, "one order per issuance: {}", env.pebble.orders_placed());
}

/// With a budget of two new orders an hour, two certificates are issued and the third waits with
/// the budget named, still `issuing`, no order placed for it.
#[test]
fn a_spent_order_budget_stops_new_orders_with_its_reason() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[("CERTAUTOPILOT_ISSUANCE__ORDERS_PER_ACCOUNT_PER_HOUR", "2")]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "budget", None);
    for i in 0..2 {
        let cid = request(&c, &pid, &account, &format!("b{i}.{ZONE}"), &[]);
        wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    }
    let third = request(&c, &pid, &account, &format!("b2.{ZONE}"), &[]);
    let waiting = c.wait_for(&format!("/api/v1/certificates/{third}"), ISSUE_DEADLINE, "the budget named", |cert| {
        cert["last_error"].as_str().is_some_and(|e| e.contains("order budget"))
    });
    assert_eq!(waiting["status"], json!("issuing"), "it waits, it has not failed: {waiting}");
    let error = waiting["last_error"].as_str().unwrap();
    assert!(error.contains("2 new orders an hour") && error.contains("orders_per_account_per_hour"), "{error}");
    assert_eq!(env.pebble.orders_placed(), 2, "no order for the third");
}
