//! Test DNS servers (BIND, Knot, PowerDNS) started and asked with `dig` (bind9-dnsutils),
//! independent of our own DNS client: the TXT values one answers, and a start that waits until it
//! has bound its ports and answers a zone's SOA (servers listen before they have loaded zones).

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::ChildGuard;
use super::ports::wait_until_bound;

/// How long a test DNS server may take to bind its ports, and then to load its first zone.
const START_WAIT: Duration = Duration::from_secs(20);

/// Spawns `command` (its output to `log`), waits until it listens on `tcp` and has bound `udp`
/// (their reservations, `held`, are dropped then) and answers the SOA of `apex` at `addr`. On
/// failure it is stopped and why is returned with its log.
pub(super) fn launch_dns_server<Held>(
    command: &mut Command,
    log: &Path,
    held: Held,
    (tcp, udp): (&[u16], &[u16]),
    addr: SocketAddr,
    apex: &str,
) -> Result<ChildGuard, String> {
    let file = std::fs::File::create(log).unwrap();
    let program = command.get_program().to_string_lossy().into_owned();
    let child = command
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} is installed (./scripts/test installs it): {e}"));
    let mut child = ChildGuard::new(child);
    let bound = wait_until_bound(&mut child, tcp, udp, START_WAIT);
    drop(held);
    let ready = bound
        .map_err(|e| format!("ports {tcp:?}: {e:?}"))
        .and_then(|()| wait_answers_soa(&mut child, addr, apex, START_WAIT));
    ready.map(|()| child).map_err(|e| format!("{program} {e}: {}", std::fs::read_to_string(log).unwrap_or_default()))
}

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
fn wait_answers_soa(child: &mut ChildGuard, server: SocketAddr, apex: &str, timeout: Duration) -> Result<(), String> {
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
