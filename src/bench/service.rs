//! This binary serving in a child process for the benches that attack its API, and one plain
//! HTTP/1.1 exchange with it. Invariant: the service listens on a port it chose itself (port 0),
//! read back from its own socket, and is ready before a bench starts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use certautopilot_connectors::testsupport::{ChildGuard, listening_tcp_ports, wait_for_own_port};

/// This binary serving under `dir/service` on a free loopback port with `env` added, ready.
pub fn start_service(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    start_service_with_metrics(dir, env, None)
}

/// As `start_service`, with the metrics endpoint on `metrics` (a port the caller holds) when given.
pub fn start_service_with_metrics(
    dir: &Path,
    env: &[(&str, &str)],
    metrics: Option<u16>,
) -> anyhow::Result<(ChildGuard, SocketAddr)> {
    let service_dir = dir.join("service");
    std::fs::create_dir_all(&service_dir)?;
    let metrics_listen = metrics.map(|port| format!("127.0.0.1:{port}"));
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--log-format", "json"])
        .current_dir(&service_dir)
        // Port 0: the service takes a free port, read back from its own listening sockets (the
        // only one besides the metrics port the caller chose), so no other process can be in the way.
        .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_LOG__FILTER", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    match &metrics_listen {
        Some(listen) => {
            command.env("CERTAUTOPILOT_METRICS__ENABLED", "true").env("CERTAUTOPILOT_METRICS__LISTEN", listen)
        }
        None => command.env("CERTAUTOPILOT_METRICS__ENABLED", "false"),
    };
    let mut child = ChildGuard::new(command.spawn().context("cannot start the service")?);
    let port = match metrics {
        None => wait_for_own_port(&mut child, Duration::from_secs(30))
            .map_err(|e| anyhow::anyhow!("the service did not listen: {e:?}"))?,
        Some(metrics) => api_port_beside(&mut child, metrics)?,
    };
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

/// The service's API port: the one it listens on besides `metrics`, once both are bound.
fn api_port_beside(child: &mut ChildGuard, metrics: u16) -> anyhow::Result<u16> {
    let started = Instant::now();
    loop {
        if child.exited().is_some() {
            bail!("the service exited at start");
        }
        let pid = child.pid().context("the service stopped")?;
        let ports = listening_tcp_ports(pid);
        if ports.contains(&metrics)
            && let [api] = ports.iter().copied().filter(|p| *p != metrics).collect::<Vec<_>>()[..]
        {
            return Ok(api);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the service did not listen (ports {ports:?})");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
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

/// The service's SQLite store at `db`, opened beside it (SQLite takes writers from several
/// processes) to load what would take hours through the API, with the owner's scope of `project`.
pub async fn store_beside(
    db: &Path,
    owner_email: &str,
    project: certautopilot_core::ids::ProjectId,
) -> anyhow::Result<(certautopilot_core::store::sqlite::SqliteStore, certautopilot_core::ProjectScope)> {
    use certautopilot_core::model::{Project, User};
    use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
    use certautopilot_core::store::{RecordStore, prelude::*};
    // Loading is not what is measured: NORMAL skips an fsync per batch.
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
    let store = SqliteStore::open(db, options, std::sync::Arc::new(certautopilot_core::SystemClock)).await?;
    let org = store.list_organizations().await?.into_iter().next().context("no organization")?;
    let system = certautopilot_core::OrgScope::for_system("bench", &org);
    let owner: User = store.find_unique(&system, owner_email).await?;
    let project: Project = store.get(&system, &project).await?;
    let scope = certautopilot_core::ProjectScope::for_owner(&owner, &project)?;
    Ok((store, scope))
}
