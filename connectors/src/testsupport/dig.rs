//! Asking a test DNS server with `dig` (bind9-dnsutils), independent of our own DNS client: the
//! TXT values it answers, and a ready-wait until it answers a zone's SOA (servers listen before
//! they have loaded their zones).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use super::ChildGuard;

/// TXT values at `name` as the server at `server` answers them (unquoted, one per record).
pub fn dig_txt(server: SocketAddr, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args(["+short", "+time=1", "+tries=2", "-p", &server.port().to_string(), &format!("@{}", server.ip())])
        .args([name, "TXT"])
        .output()
        .expect("dig is installed (bind9-dnsutils)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| l.trim_matches('"').to_owned())
        .collect()
}

/// Waits until the server at `server` answers the SOA of `apex`, for at most `timeout`; fails early
/// when `child` exits. `Err` carries why, for the caller to add the server's log to.
pub fn wait_answers_soa(
    child: &mut ChildGuard,
    server: SocketAddr,
    apex: &str,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = Command::new("dig")
            .args(["+short", "+time=1", "+tries=1", "-p", &server.port().to_string(), &format!("@{}", server.ip())])
            .args([apex, "SOA"])
            .output()
            .expect("dig is installed (bind9-dnsutils)");
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return Ok(());
        }
        if let Some(status) = child.exited() {
            return Err(format!("exited with {status}"));
        }
        if Instant::now() >= deadline {
            return Err(format!("did not load zone {apex} within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
