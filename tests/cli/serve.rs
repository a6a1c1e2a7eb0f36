//! `serve` with no configuration file starts, serves its probes, creates the embedded store under
//! `./data`, and exits 0 on SIGTERM or SIGINT after draining.

use std::time::Duration;

use crate::process::{Server, http_get, wait_for_status};

/// The README's first command, minus the fixed port: from an empty directory `serve` answers
/// `/healthz`, turns ready once the store is migrated, and creates `./data/certautopilot.db`.
#[test]
fn serve_without_config_serves_probes_and_creates_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[], &[]);
    let (status, body) = http_get(server.addr, "/healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let ready = wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    assert_eq!(ready["status"], serde_json::json!("ready"), "{ready}");
    // Serving all roles, its own scheduler is ticking (or has not had the time to be missed).
    assert_eq!(ready["scheduler"]["absent"], serde_json::json!(false), "{ready}");
    assert!(dir.path().join("data/certautopilot.db").is_file());
    // Issue M2.1 item 10: the data directory and every file in it are for the service's user only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("data")), 0o700);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("data")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(files.iter().any(|f| f.ends_with("certautopilot.db-wal")), "{files:?}");
    for file in &files {
        assert_eq!(mode(file) & 0o077, 0, "{} is readable by others", file.display());
    }
    let (status, body) = http_get(server.addr, "/no/such/route/%3Cscript%3E");
    assert_eq!(status, 404);
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "not_found");
    assert!(!body.contains("script") && !body.contains("/no/such"), "the path is not echoed: {body}");

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    let messages: Vec<&str> = server.log.iter().filter_map(|l| crate::process::log_message(l)).collect();
    let shutting = messages.iter().position(|m| *m == "shutting down").expect("logged shutdown");
    let stopped = messages.iter().position(|m| *m == "stopped").expect("logged stop");
    assert!(shutting < stopped, "{messages:?}");
}

/// A worker-only process serves its probes too and stops cleanly on SIGINT (Ctrl-C).
#[test]
fn worker_mode_serves_probes_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--mode", "worker"], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let started = server.wait_for_log(Duration::from_secs(10), "job pump started");
    assert!(started.contains("rotate_kek"), "{started}");
    server.signal(libc::SIGINT);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    assert!(server.log.iter().any(|l| l.contains("\"signal\":\"SIGINT\"")), "{:#?}", server.log);
}

/// A store path that cannot be opened ends `serve` with a non-zero exit and the reason.
#[test]
fn serve_refuses_to_start_on_an_invalid_store_path() {
    let dir = tempfile::tempdir().unwrap();
    let output = crate::process::command(dir.path())
        .args(["serve"])
        .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_STORE__SQLITE__PATH", "/nonexistent-dir-for-test/x.db")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("store.sqlite.path: parent directory /nonexistent-dir-for-test does not exist"),
        "{stderr}"
    );
}
