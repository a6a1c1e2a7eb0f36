//! This binary serving in a child process for the benches that attack its API, and one plain
//! HTTP/1.1 exchange with it. Invariant: the service listens on a port it chose itself (port 0),
//! read back from its own socket, and is ready before a bench starts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use certautopilot_connectors::testsupport::{ChildGuard, wait_for_own_port};

/// This binary serving under `dir/service` on a free loopback port with `env` added, ready.
pub fn start_service(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let service_dir = dir.join("service");
    std::fs::create_dir_all(&service_dir)?;
    let mut child = ChildGuard::new(
        Command::new(std::env::current_exe()?)
            .args(["serve", "--log-format", "json"])
            .current_dir(&service_dir)
            // Port 0: the service takes a free port, read back from its own listening socket (the
            // only one: metrics are off), so no other process can be in the way.
            .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_METRICS__ENABLED", "false")
            .env("CERTAUTOPILOT_LOG__FILTER", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the service")?,
    );
    let port = wait_for_own_port(&mut child, Duration::from_secs(30))
        .map_err(|e| anyhow::anyhow!("the service did not listen: {e:?}"))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let started = Instant::now();
    while !matches!(call(addr, "GET", "/readyz", &[], None), Ok((200, _))) {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the service did not become ready");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((child, addr))
}

/// One HTTP/1.1 request on its own connection: status and body.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status line")?;
    Ok((status, response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()))
}
