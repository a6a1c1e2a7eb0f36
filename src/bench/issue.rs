//! Issuance end to end, as an operator sees it: Pebble and BIND 9 from the test support, this binary
//! serving in a child process, and N certificates requested over HTTP by C clients, each timed from
//! its `POST /api/v1/certificates` to the GET that first shows it `issued`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, ChildGuard, DELEGATED_ZONE, PortReservation, ZONE,
};
use serde_json::{Value, json};

use super::backend::{self, BenchStore, StoreUnderTest};
use super::{millis, percentile};

/// How often a client asks whether its certificate is issued.
const POLL: Duration = Duration::from_millis(5);

/// Runs the bench with Pebble rejecting `nonce_reject_percent` of nonces; returns the
/// certificates issued per minute.
pub fn run(
    dir: &Path,
    count: usize,
    concurrency: usize,
    store: BenchStore,
    nonce_reject_percent: u8,
) -> anyhow::Result<f64> {
    let concurrency = concurrency.max(1);
    let store = StoreUnderTest::start(store, dir);
    println!(
        "bench issue: {count} single-name ECDSA P-256 certificates, {concurrency} at a time, Pebble + BIND 9 on loopback, store {}, {nonce_reject_percent} % of nonces rejected",
        store.name()
    );
    let options = AcmeEnvOptions { nonce_reject_percent, ..Default::default() };
    let env = AcmeEnv::start(&dir.join("env"), options);
    // Held until the service binds it (SO_REUSEADDR), so nothing else takes it meanwhile.
    let metrics_port = PortReservation::tcp();
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port.port()));
    let (mut child, client) = start_service_on(dir, concurrency.max(4), &store, Some(metrics_port.port()), &[])?;
    let pid = child.pid().unwrap_or_default();
    let client = prepare(client, &env)?;

    // Warm-up: registers the account and starts the actors; not counted.
    let warm = issue(&client, "warmup")?;
    println!("  warm-up certificate (account registration included): {}", millis(warm));
    let idle = backend::idle_rate(metrics, Duration::from_secs(2))?;
    // What one status read costs, to take the clients' polling out of the figure: polls depend on
    // how fast issuance is, issuance's own trips do not.
    let poll = {
        let before = backend::scrape(metrics)?;
        let path = "/api/v1/certificates?limit=1";
        let reads = 20;
        for _ in 0..reads {
            client.call("GET", path, None)?;
        }
        let spent = backend::difference(&backend::scrape(metrics)?, &before);
        spent.into_iter().map(|(op, n)| (op, n as f64 / f64::from(reads))).collect::<std::collections::BTreeMap<_, _>>()
    };
    POLLS.store(0, Ordering::Relaxed);
    let trips_before = backend::scrape(metrics)?;

    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(count));
    let failures = AtomicUsize::new(0);
    let run_started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    match issue(&client, &format!("bench-{i}")) {
                        Ok(latency) => latencies.lock().unwrap_or_else(|e| e.into_inner()).push(latency),
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("  certificate {i} failed: {e:#}");
                        }
                    }
                }
            });
        }
    });
    let elapsed = run_started.elapsed();
    let trips = backend::difference(&backend::scrape(metrics)?, &trips_before);
    let mut samples = latencies.into_inner().unwrap_or_else(|e| e.into_inner());
    samples.sort();
    let per_minute = samples.len() as f64 / elapsed.as_secs_f64() * 60.0;
    println!(
        "  {} issued in {:.2} s: {per_minute:.0} certificates per minute; {} failed",
        samples.len(),
        elapsed.as_secs_f64(),
        failures.load(Ordering::Relaxed)
    );
    println!(
        "  latency request → issued: p50 {} p90 {} p99 {} max {}",
        millis(percentile(&samples, 50.0)),
        millis(percentile(&samples, 90.0)),
        millis(percentile(&samples, 99.0)),
        millis(samples.last().copied().unwrap_or_default())
    );
    if let Some(rss) = rss_kib(pid) {
        println!("  service resident memory after the run: {:.1} MiB", rss as f64 / 1024.0);
    }
    println!("  new-order requests at Pebble (rejected nonces included): {}", env.pebble.orders_placed());
    let polls = POLLS.load(Ordering::Relaxed);
    println!(
        "  status polls by the clients: {polls}, about {:.1} store round trips each (taken out below)",
        poll.values().sum::<f64>()
    );
    let observer = poll.into_iter().map(|(op, n)| (op, n * polls as f64)).collect();
    backend::report(&trips, &idle, elapsed, samples.len(), "issued certificate", &observer);
    child.stop();
    Ok(per_minute)
}

/// This binary serving in a child process under `dir/service`, ready, with a client for it.
pub(super) fn start_service(dir: &Path, job_concurrency: usize) -> anyhow::Result<(ChildGuard, Client)> {
    start_service_on(dir, job_concurrency, &StoreUnderTest::start(BenchStore::Sqlite, dir), None, &[])
}

/// As `start_service`, on `store`, with the metrics endpoint on `metrics` when given and `extra`
/// settings (environment) after the bench's own.
pub(super) fn start_service_on(
    dir: &Path,
    job_concurrency: usize,
    store: &StoreUnderTest,
    metrics: Option<u16>,
    extra: &[(&str, &str)],
) -> anyhow::Result<(ChildGuard, Client)> {
    let concurrency = job_concurrency.to_string();
    // File targets (bench distribute) write under the bench's directory; its data stays protected.
    let allowed = dir.display().to_string();
    let mut env = vec![
        ("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", allowed.as_str()),
        ("CERTAUTOPILOT_JOBS__CONCURRENCY", concurrency.as_str()),
        ("CERTAUTOPILOT_ISSUANCE__POLL_INITIAL_MS", "10"),
        ("CERTAUTOPILOT_ISSUANCE__POLL_MAX_MS", "250"),
        // Pebble and BIND listen on loopback.
        ("CERTAUTOPILOT_EGRESS__ALLOW_LOOPBACK", "true"),
    ];
    env.extend(store.env());
    env.extend(extra.iter().copied());
    let (child, addr) = super::service::start_service_with_metrics(dir, &env, metrics)?;
    Ok((child, Client { addr, token: None, project: None }))
}

/// Resident set size of a process, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The e-mail address of the organization's owner in the benches that serve.
pub(super) const OWNER_EMAIL: &str = "bench@example.test";

/// The organization's first owner, signed in.
pub(super) fn sign_in(mut c: Client) -> anyhow::Result<Client> {
    let password = "bench password, long enough";
    c.expect("POST", "/api/v1/setup", json!({ "org_name": "Bench", "email": OWNER_EMAIL, "password": password }), 201)?;
    let login = c.expect("POST", "/api/v1/auth/login", json!({ "email": OWNER_EMAIL, "password": password }), 200)?;
    c.token = login["token"].as_str().map(str::to_owned);
    Ok(c)
}

/// Signed in, with a project whose ACME account is `env`'s Pebble and whose zones are on its BIND.
pub(super) fn prepare(c: Client, env: &AcmeEnv) -> anyhow::Result<Client> {
    let mut c = sign_in(c)?;
    let project = c.expect("POST", "/api/v1/projects", json!({ "name": "bench" }), 201)?;
    let pid = project["id"].clone();
    let account = c.expect(
        "POST",
        "/api/v1/acme-accounts",
        json!({ "project_id": pid, "name": "pebble", "directory_url": env.pebble.directory_url(), "tos_agreed": true,
            "ca_bundle_pem": env.pebble.https_ca_pem() }),
        201,
    )?;
    let key = env.bind.key();
    let credential = c.expect(
        "POST",
        "/api/v1/dns-credentials",
        json!({ "project_id": pid, "name": "bind", "provider": "rfc2136", "config": {
            "server": env.bind.addr().to_string(), "key_name": key.name, "algorithm": key.algorithm, "secret": key.secret } }),
        201,
    )?;
    for apex in [ZONE, DELEGATED_ZONE] {
        c.expect(
            "POST",
            "/api/v1/zones",
            json!({ "project_id": pid, "apex": apex, "credential_id": credential["id"] }),
            201,
        )?;
    }
    c.project = Some((pid, account["id"].clone()));
    Ok(c)
}

/// Status reads the clients made while waiting (their store trips are the poll's, not issuance's).
static POLLS: AtomicUsize = AtomicUsize::new(0);

/// Requests `label.ZONE` in the client's project and waits until it is issued: the latency.
pub(super) fn issue(c: &Client, label: &str) -> anyhow::Result<Duration> {
    let (pid, account) = c.project.clone().context("not prepared")?;
    let started = Instant::now();
    let created = c.expect(
        "POST",
        "/api/v1/certificates",
        json!({ "project_id": pid, "common_name": format!("{label}.{ZONE}"), "key_type": "ecdsa-p256", "acme_account_id": account }),
        202,
    )?;
    let path = format!("/api/v1/certificates/{}", created["certificate"]["id"].as_str().unwrap_or_default());
    loop {
        let (status, body) = c.call("GET", &path, None)?;
        POLLS.fetch_add(1, Ordering::Relaxed);
        match (status, body["status"].as_str()) {
            (200, Some("issued")) => return Ok(started.elapsed()),
            (200, Some("failed")) => bail!("failed: {}", body["last_error"]),
            (200, _) => {}
            (other, _) => bail!("GET {path}: {other} {body}"),
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!("not issued within 120 s");
        }
        std::thread::sleep(POLL);
    }
}

pub(super) struct Client {
    addr: SocketAddr,
    token: Option<String>,
    pub(super) project: Option<(Value, Value)>,
}

impl Client {
    pub(super) fn call(&self, method: &str, path: &str, body: Option<&Value>) -> anyhow::Result<(u16, Value)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).context("no status line")?;
        let text = response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
        Ok((status, serde_json::from_str(text).unwrap_or(Value::Null)))
    }

    pub(super) fn expect(&self, method: &str, path: &str, body: Value, status: u16) -> anyhow::Result<Value> {
        let (got, value) = self.call(method, path, Some(&body))?;
        if got != status {
            bail!("{method} {path}: expected {status}, got {got}: {value}");
        }
        Ok(value)
    }
}
