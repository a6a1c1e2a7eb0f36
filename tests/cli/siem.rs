//! `serve` with a `[[siem]]` destination: the audit chain reaches a real rsyslog over RELP as changes
//! happen, and the forwarder's backlog is on the metrics page.

use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::Rsyslog;
use serde_json::json;

use crate::process::{Server, http_get, http_request, wait_for_status};

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
}
