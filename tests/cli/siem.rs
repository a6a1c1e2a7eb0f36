//! `serve` with a `[[siem]]` destination: the audit chain reaches a real rsyslog over RELP as changes
//! happen, and the forwarder's backlog is on the metrics page; the forwarder and the job pump are
//! listed with the other actors and restarted after a forced panic.

use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::Rsyslog;
use serde_json::json;

use crate::process::{ApiClient, Server, http_get, http_request, wait_for_status};

#[test]
fn serve_forwards_the_audit_chain_to_rsyslog() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(&dir.path().join("rsyslog"));
    std::fs::create_dir_all(dir.path().join("rsyslog")).unwrap();
    rsyslog.start();
    let config = format!(
        "[[siem]]\nname = \"soc\"\nformat = \"rfc5424\"\ntransport = \"relp\"\naddress = \"{}\"\n",
        rsyslog.relp()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let mut server = Server::start(dir.path(), &["--config", "c.toml"], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let body = json!({ "org_name": "Soc", "email": "owner@soc.test", "password": "correct horse battery staple" });
    assert_eq!(http_request(server.addr, "POST", "/api/v1/setup", &[], Some(&body)).0, 201);
    let login = json!({ "email": "owner@soc.test", "password": "wrong password here" });
    assert_eq!(http_request(server.addr, "POST", "/api/v1/auth/login", &[], Some(&login)).0, 401);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = rsyslog.lines("relp.log");
        if lines.iter().any(|l| l.contains("action=\"login.failed\"")) {
            assert!(lines[0].contains("seq=\"1\"") && lines[0].contains("action=\"org.created\""), "{lines:?}");
            break;
        }
        assert!(Instant::now() < deadline, "events did not reach rsyslog: {lines:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let line = server.wait_for_log(Duration::from_secs(10), "metrics listening");
    let metrics_addr = serde_json::from_str::<serde_json::Value>(&line).unwrap()["addr"].as_str().unwrap().to_owned();
    let (_, metrics) = http_get(metrics_addr.parse().unwrap(), "/metrics");
    assert!(metrics.contains("certautopilot_siem_sent_total{destination=\"soc\"}"), "{metrics}");
    // Both events reached rsyslog, so both were chained: nothing waits in the outbox.
    assert!(metrics.contains("certautopilot_audit_outbox_events 0\n"), "{metrics}");
}

/// Issue 16, item 3: `GET /api/v1/admin/actors` lists the SIEM forwarder (keyed by destination) and
/// the job pump (keyed by node) with their state and snapshot; a forced panic in each shows as
/// `restarts: 1`, and an audited change made after the forwarder's restart still reaches rsyslog.
#[test]
fn the_forwarder_and_the_pump_are_listed_and_restarted_after_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(&dir.path().join("rsyslog"));
    std::fs::create_dir_all(dir.path().join("rsyslog")).unwrap();
    rsyslog.start();
    let config = format!(
        "[node]\nid = \"n1\"\n[[siem]]\nname = \"soc\"\nformat = \"rfc5424\"\ntransport = \"tcp\"\naddress = \"{}\"\n",
        rsyslog.tcp()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let server =
        Server::start(dir.path(), &["--config", "c.toml"], &[("CERTAUTOPILOT_DEBUG__FAULT_INJECTION", "true")]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let c = ApiClient::setup_and_login(server.addr);

    let forwarder = c.wait_for("/api/v1/admin/actors/siem_forwarder/soc", Duration::from_secs(10), "listed", |a| {
        a["alive"] == json!(true) && a["detail"]["destination"] == json!("soc")
    });
    assert_eq!(forwarder["restarts"], json!(0), "{forwarder}");
    let listed = c.ok("GET", "/api/v1/admin/actors?kind=job_pump", None, 200);
    let pump = &listed["items"][0];
    assert_eq!((&pump["key"], &pump["restarts"]), (&json!("n1"), &json!(0)), "{listed}");
    assert!(pump["state"].is_string() && pump["detail"]["kinds"].as_array().is_some_and(|k| !k.is_empty()), "{pump}");

    for (kind, key) in [("siem_forwarder", "soc"), ("job_pump", "n1")] {
        c.ok("POST", &format!("/api/v1/admin/actors/{kind}/{key}/panic"), None, 202);
        let path = format!("/api/v1/admin/actors/{kind}/{key}");
        let restarted = c.wait_for(&path, Duration::from_secs(10), "restart", |a| {
            a["restarts"] == json!(1) && a["alive"] == json!(true)
        });
        assert!(restarted["last_error"].as_str().unwrap_or_default().contains("forced panic"), "{restarted}");
    }

    let login = json!({ "email": "owner@acme.test", "password": "wrong password here" });
    assert_eq!(http_request(server.addr, "POST", "/api/v1/auth/login", &[], Some(&login)).0, 401);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rsyslog.lines("tcp.log").iter().any(|l| l.contains("action=\"login.failed\"")) {
        assert!(Instant::now() < deadline, "the change after the restart did not reach rsyslog");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A forwarding `serve` is SIGKILLed three times while it sends a 3,000-event backlog over RELP.
/// Afterwards every event is in rsyslog, and repeats are at most one batch (100) per kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_forwarder_loses_nothing_and_repeats_at_most_a_batch_per_kill() {
    use certautopilot_core::store::prelude::*;

    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(&dir.path().join("rsyslog"));
    std::fs::create_dir_all(dir.path().join("rsyslog")).unwrap();
    rsyslog.start();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    {
        let store = certautopilot_core::store::sqlite::SqliteStore::open_in(&dir.path().join("data")).await.unwrap();
        let org = certautopilot_core::model::Organization::new("crash", certautopilot_core::Timestamp::now());
        store.create_organization(&org).await.unwrap();
        let secret = std::sync::Arc::new(certautopilot_core::crypto::SecretBytes::new(vec![3; 32]));
        for i in 0..3_000 {
            let draft = certautopilot_core::audit::AuditDraft {
                org_id: org.id,
                actor: certautopilot_core::Principal::System("test".into()),
                action: "cert.renewed".into(),
                object: None,
                project_id: None,
                details: json!({ "i": i }),
            };
            store.append_audit(certautopilot_core::store::AuditWrite { draft }).await.unwrap();
        }
        certautopilot_core::audit::ChainWriter::new(org.id, secret).drain(&store).await.unwrap();
    }
    let config = format!(
        "[[siem]]\nname = \"soc\"\nformat = \"rfc5424\"\ntransport = \"relp\"\naddress = \"{}\"\nbatch = 100\n",
        rsyslog.relp()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let seqs = |lines: &[String]| -> Vec<u64> {
        lines
            .iter()
            .filter_map(|l| l.split_once("seq=\"").and_then(|(_, r)| r.split('"').next()).and_then(|s| s.parse().ok()))
            .collect()
    };
    for at_least in [300usize, 1_200, 2_100] {
        let mut server = Server::start(dir.path(), &["--config", "c.toml"], &[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while rsyslog.lines("relp.log").len() < at_least {
            assert!(Instant::now() < deadline, "forwarding stalled before {at_least}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }
    let server = Server::start(dir.path(), &["--config", "c.toml"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = rsyslog.lines("relp.log");
        let distinct: std::collections::BTreeSet<u64> = seqs(&lines).into_iter().collect();
        if distinct.len() == 3_000 {
            break lines;
        }
        assert!(Instant::now() < deadline, "{} of 3000 delivered", distinct.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    drop(server);
    let all = seqs(&lines);
    let distinct: std::collections::BTreeSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct, (1..=3_000).collect());
    let repeats = all.len() - distinct.len();
    assert!(repeats <= 3 * 100, "{repeats} repeated events after 3 kills with batches of 100");
}
