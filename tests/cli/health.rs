//! Honest health end to end through the real binary: a certificate whose CA goes down is shown
//! `renewal_failing` with the CA's failure as the reason and the next attempt, then `overdue`, then
//! `expired`, while one from a CA that stays up is `ok`; REST lists by health; `/readyz` says a
//! scheduler is ticking; and the metrics it serves, fed to `promtool test rules` with the shipped
//! alerting rules, fire exactly the renewal-failing alert for exactly that certificate.

use std::fmt::Write;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, Pebble, PebbleOptions, ZONE};
use serde_json::{Value, json};

use crate::issuance::{
    ISSUE_DEADLINE, account_body, install_ring, project, request, server_metrics, start, wait_status,
};
use crate::process::ApiClient;

/// Pebble's lifetime for the certificate whose CA goes down: it renews at half (60 s, a short-lived
/// certificate), is overdue with a third of the window left (100 s) and expires at 120 s.
const LIFETIME: Duration = Duration::from_secs(120);
/// Where promtool evaluates the alerts: the scrape's instant, 20 minutes into the series, so every
/// `for:` has passed.
const EVAL_SECS: i64 = 1_200;

#[test]
fn a_renewal_against_a_ca_that_is_down_is_shown_failing_then_overdue_then_expired_and_alerts_once() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let options = AcmeEnvOptions { validity: Some(LIFETIME), ..Default::default() };
    let mut env = AcmeEnv::start(&dir.path().join("env"), options);
    let steady_ca = Pebble::start(&dir.path().join("pebble-2"), PebbleOptions::new(env.bind.addr()));
    let mut server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "health", None);
    let steady_account = c.ok("POST", "/api/v1/acme-accounts", Some(account_body(&steady_ca, &pid, "steady CA")), 201)
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let down = request(&c, &pid, &account, &format!("down.{ZONE}"), &[]);
    let steady = request(&c, &pid, &steady_account, &format!("steady.{ZONE}"), &[]);
    let issued = wait_status(&c, &down, "issued", ISSUE_DEADLINE);
    assert_eq!(issued["health"]["state"], json!("ok"), "{issued}");
    let steady_view = wait_status(&c, &steady, "issued", ISSUE_DEADLINE);
    assert_eq!(steady_view["health"]["state"], json!("ok"), "{steady_view}");
    env.pebble.stop();

    // --- its window opens, the renewal cannot reach the CA: failing, with why and when next.
    let path = format!("/api/v1/certificates/{down}");
    let failing =
        c.wait_for(&path, LIFETIME, "renewal failing", |cert| cert["health"]["state"] == json!("renewal_failing"));
    let reason = failing["health"]["reason"].as_str().unwrap_or_else(|| panic!("a reason: {failing}"));
    assert_eq!(Some(reason), failing["last_error"].as_str(), "the reason is the attempt's error: {failing}");
    assert!(failing["health"]["overdue_at"].is_string(), "{failing}");

    // --- REST lists by health; an unknown health is refused with the names it takes.
    let listed = |health: &str| -> Vec<String> {
        let page = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}&health={health}"), None, 200);
        page["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(listed("renewal_failing"), vec![down.clone()]);
    assert_eq!(listed("ok"), vec![steady.clone()]);
    assert!(listed("expired").is_empty());
    let (status, refused) = c.call("GET", &format!("/api/v1/certificates?project_id={pid}&health=fine"), None);
    assert_eq!((status, refused["field"].as_str()), (422, Some("health")), "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("renewal_failing"), "{refused}");

    // --- a scheduler is ticking, as /readyz says.
    let ready = crate::process::http_get(server.addr, "/readyz");
    let ready: Value = serde_json::from_str(&ready.1).unwrap();
    assert_eq!(ready["scheduler"]["absent"], json!(false), "{ready}");

    // --- the metrics, through the shipped rules: exactly one alert, renewal failing, for it.
    let metrics = server_metrics(&mut server);
    let series = |health: &str| {
        format!(
            "certautopilot_certificate_health{{id=\"{down}\",name=\"down.{ZONE}\",project=\"health\",issuer=\"pebble\",health=\"{health}\"}} 1"
        )
    };
    assert!(metrics.contains(&series("renewal_failing")), "{metrics}");
    assert!(
        metrics.contains("certautopilot_certificates{project=\"health\",health=\"renewal_failing\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("certautopilot_certificates{project=\"health\",health=\"ok\"} 1"), "{metrics}");
    assert!(metrics.contains("certautopilot_scheduler_up 1"), "{metrics}");
    let ready_false = format!(
        "certautopilot_certificate_ready_status{{id=\"{down}\",name=\"down.{ZONE}\",project=\"health\",issuer=\"pebble\",condition=\"False\"}} 1"
    );
    assert!(metrics.contains(&ready_false), "{metrics}");
    let firing = promtool_alerts(dir.path(), &metrics);
    assert_eq!(firing, vec![("CertAutoPilotCertificateRenewalFailing".to_owned(), down.clone())], "{metrics}");

    // --- nothing renews it: overdue with the error as the reason, then expired.
    let overdue = c.wait_for(&path, LIFETIME, "overdue", |cert| cert["health"]["state"] == json!("overdue"));
    let reason = overdue["health"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("renewal has not finished: "), "{overdue}");
    let expired = c.wait_for(&path, LIFETIME, "expired", |cert| cert["health"]["state"] == json!("expired"));
    assert!(expired["health"]["reason"].as_str().unwrap().starts_with("expired at "), "{expired}");
    let steady_view = c.ok("GET", &format!("/api/v1/certificates/{steady}"), None, 200);
    assert_eq!(steady_view["health"]["state"], json!("ok"), "the other CA's certificate is untouched: {steady_view}");
}

/// The alerts `deploy/prometheus/certautopilot-alerts.yml` fires on `metrics` held for 20 minutes
/// (timestamps moved so the scrape's instant is promtool's 20-minute mark), as (alert, certificate
/// id) pairs, by promtool's own evaluation.
fn promtool_alerts(dir: &std::path::Path, metrics: &str) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut input = String::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let watched =
            ["certautopilot_certificate", "certautopilot_scheduler", "certautopilot_siem", "certautopilot_store_up"];
        if !watched.iter().any(|p| series.starts_with(p)) {
            continue;
        }
        let mut value: f64 = value.parse().unwrap_or_else(|_| panic!("a number in {line:?}"));
        let name = series.split('{').next().unwrap_or_default();
        if name.ends_with("_timestamp_seconds") {
            value = value - now as f64 + EVAL_SECS as f64;
        }
        let _ = writeln!(input, "      - series: '{}'\n        values: '{value}+0x30'", series.replace('\'', "''"));
    }
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/certautopilot-alerts.yml");
    let test = format!(
        "rule_files: ['{}']\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{input}    promql_expr_test:\n      - expr: count by (alertname, id) (ALERTS{{alertstate=\"firing\"}})\n        eval_time: {EVAL_SECS}s\n        exp_samples: []\n",
        rules.display()
    );
    let file = dir.join("alerts-from-metrics.test.yml");
    std::fs::write(&file, test).unwrap();
    let out =
        std::process::Command::new("promtool").args(["test", "rules"]).arg(&file).output().unwrap_or_else(|e| {
            panic!("promtool (Debian package prometheus, installed by scripts/test) cannot run: {e}")
        });
    // Expecting no alert makes promtool list the ones that fire as `got:`; a run that fails for any
    // other reason has no such list and fails here.
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let got = text.split("got:").nth(1).unwrap_or_else(|| panic!("promtool gave no alerts to compare: {text}"));
    let mut firing = Vec::new();
    for sample in got.split('{').skip(1) {
        let labels = sample.split('}').next().unwrap_or_default();
        let label = |name: &str| {
            labels
                .split(", ")
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        firing.push((label("alertname").unwrap_or_default(), label("id").unwrap_or_default()));
    }
    firing.sort();
    firing
}

/// The shipped rules are valid and pass their own unit tests (synthetic series for every alert,
/// firing and quiet), with the promtool of Debian's `prometheus` package.
#[test]
fn the_shipped_alerting_rules_pass_their_own_tests() {
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    for args in [["check", "rules", "certautopilot-alerts.yml"], ["test", "rules", "certautopilot-alerts.test.yml"]] {
        let out = std::process::Command::new("promtool").args(args).current_dir(&deploy).output().unwrap_or_else(|e| {
            panic!("promtool (Debian package prometheus, installed by scripts/test) cannot run: {e}")
        });
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("SUCCESS"), "promtool {args:?}: {text}");
    }
}
