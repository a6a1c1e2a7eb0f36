//! The systemd units in `deploy/systemd/`: each service unit passes `systemd-analyze verify` and
//! scores under 2.0 ("OK") in `systemd-analyze security` (printed for the record); the path unit
//! that reloads nginx for the service's own certificate, and the root helper it starts, verify
//! (the helper's score is printed: it runs nginx as root by design); and the service speaks systemd's
//! notify protocol: `READY=1` once it answers, `WATCHDOG=1` at half the watchdog period, and
//! `STOPPING=1` on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{BIN, Server, http_get};

const UNITS: &[(&str, &str)] = &[
    ("certautopilot.service", "certautopilot.service"),
    ("certautopilot@.service", "certautopilot@api.service"),
    ("certautopilot-worker@.service", "certautopilot-worker@1.service"),
];

/// The shipped unit `file` as `name`, its binary the one this test run built.
fn unit(dir: &Path, file: &str, name: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd").join(file)).unwrap();
    assert!(text.contains("/usr/local/bin/certautopilot "), "{file} runs the installed binary");
    let path = dir.join(name);
    std::fs::write(&path, text.replace("/usr/local/bin/certautopilot ", &format!("{BIN} "))).unwrap();
    path
}

#[test]
fn every_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    for (file, name) in UNITS {
        let path = unit(dir.path(), file, name);
        let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze");
        let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
        assert!(verify.status.success() && said.trim().is_empty(), "{name}: {said}");
        let security =
            Command::new("systemd-analyze").args(["security", "--offline=true"]).arg(&path).output().unwrap();
        let report = String::from_utf8_lossy(&security.stdout).into_owned();
        let line = report.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{report}"));
        let score: f64 = line
            .split(':')
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        println!("{name}: exposure {score}");
        assert!(score < 2.0 && line.contains("OK"), "{name}: {line}");
    }
}

#[test]
fn the_nginx_reload_path_unit_and_its_helper_verify() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    for name in ["certautopilot-tls.path", "certautopilot-tls-reload.service"] {
        std::fs::copy(source.join(name), dir.path().join(name)).unwrap();
    }
    let path_unit = std::fs::read_to_string(dir.path().join("certautopilot-tls.path")).unwrap();
    assert!(path_unit.contains("PathChanged=/etc/certautopilot/tls/fullchain.pem"), "the chain is written last");
    for name in ["certautopilot-tls.path", "certautopilot-tls-reload.service"] {
        let verify = Command::new("systemd-analyze").arg("verify").arg(dir.path().join(name)).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
        assert!(verify.status.success() && said.trim().is_empty(), "{name}: {said}");
    }
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(dir.path().join("certautopilot-tls-reload.service"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout).into_owned();
    let line = report.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{report}"));
    println!("certautopilot-tls-reload.service: {line}");
}

/// Waits for the next datagram that starts with `prefix`.
fn expect(socket: &UnixDatagram, prefix: &str, deadline: Duration) -> String {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.checked_sub(start.elapsed()).unwrap_or_else(|| panic!("no {prefix} within {deadline:?}"));
        socket.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        let n = socket.recv(&mut buf).unwrap_or_else(|e| panic!("no {prefix} within {deadline:?}: {e}"));
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.starts_with(prefix) {
            return message;
        }
    }
}

#[test]
fn the_service_tells_systemd_it_is_ready_pings_the_watchdog_and_says_when_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let notify = socket_path.display().to_string();
    let env = [("NOTIFY_SOCKET", notify.as_str()), ("WATCHDOG_USEC", "400000")];
    let mut server = Server::start(dir.path(), &[], &env);
    let ready = expect(&socket, "READY=1", Duration::from_secs(30));
    assert!(ready.contains("STATUS=serving"), "{ready}");
    assert_eq!(http_get(server.addr, "/readyz").0, 200, "ready means it answers");
    for _ in 0..2 {
        expect(&socket, "WATCHDOG=1", Duration::from_secs(5));
    }
    server.signal(libc::SIGTERM);
    expect(&socket, "STOPPING=1", Duration::from_secs(10));
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
}
