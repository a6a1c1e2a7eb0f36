//! A renewal storm: N issued certificates whose renewal windows are all open at once, renewed by
//! this binary serving in a child process against the test-support Pebble and BIND 9. Prints how
//! long the scheduler takes to queue them all, the renewals per minute, the service's peak
//! resident memory while it works, and how many jobs died.
//! Invariant: the certificates are written into the service's own SQLite store beside it (as the
//! UI bench does), with the project, account and zones the service made over its API, so what is
//! measured is the scheduler and the renewals, not N issuances first.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, PortReservation, ZONE};
use certautopilot_core::Timestamp;
use certautopilot_core::ids::{AcmeAccountId, ProjectId};
use certautopilot_core::model::{Certificate, KeyType};
use certautopilot_core::store::RecordStore;

use super::backend::{BenchStore, StoreUnderTest};
use super::issue::{issue, prepare, rss_kib, start_service_on};

const INSERT_BATCH: usize = 2_000;
const HOUR: Duration = Duration::from_secs(3_600);
/// How often the bench reads the queue's gauges and the service's memory.
const SAMPLE: Duration = Duration::from_millis(500);
/// The renewal scan the service runs with: the storm is queued at the first scan after the load.
const SCAN_SECS: &str = "2";

/// Job counts by status, from the service's `certautopilot_jobs` gauge.
#[derive(Debug, Default, Clone, Copy)]
struct Queue {
    queued: u64,
    running: u64,
    succeeded: u64,
    failed: u64,
    dead: u64,
}

impl Queue {
    fn total(&self) -> u64 {
        self.queued + self.running + self.succeeded + self.failed + self.dead
    }
}

pub fn run(dir: &Path, count: usize, concurrency: usize, deadline: Duration) -> anyhow::Result<()> {
    println!(
        "bench renewal-storm: {count} issued certificates with their renewal windows open at once, {concurrency} jobs at a time, Pebble + BIND 9 on loopback, SQLite"
    );
    let env = AcmeEnv::start(&dir.join("env"), AcmeEnvOptions::default());
    let metrics_port = PortReservation::tcp();
    let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port.port()));
    let budget = (count * 2 + 100).to_string();
    let extra = [
        ("CERTAUTOPILOT_ISSUANCE__RENEWAL_SCAN_SECS", SCAN_SECS),
        // The storm is N orders in minutes from one account: far past the default budget (300 an
        // hour), which would stop it by design. The bench measures the renewals, not the guard.
        ("CERTAUTOPILOT_ISSUANCE__ORDERS_PER_ACCOUNT_PER_HOUR", budget.as_str()),
    ];
    let store = StoreUnderTest::start(BenchStore::Sqlite, dir);
    let (mut child, client) = start_service_on(dir, concurrency, &store, Some(metrics_port.port()), &extra)?;
    let pid = child.pid().unwrap_or_default();
    let client = prepare(client, &env)?;
    // Registers the account at Pebble, so every renewal finds it registered.
    issue(&client, "storm-warmup")?;
    let (project, account) = client.project.clone().context("not prepared")?;
    let project: ProjectId = project.as_str().context("project id")?.parse()?;
    let account: AcmeAccountId = account.as_str().context("account id")?.parse()?;
    // The warm-up's job finishes just after its certificate shows issued: wait for a quiet queue.
    let quiet = Instant::now();
    let mut before = queue(metrics)?;
    while before.queued + before.running > 0 && quiet.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(SAMPLE);
        before = queue(metrics)?;
    }
    let orders_before = env.pebble.orders_placed();

    let loading = Instant::now();
    let db = dir.join("service/data/certautopilot.db");
    tokio::runtime::Handle::current().block_on(load(&db, project, account, count))?;
    println!("  loaded {count} certificates in {:.1} s", loading.elapsed().as_secs_f64());

    let started = Instant::now();
    let (mut first_queued, mut all_queued, mut peak_rss) = (None, None, 0u64);
    let mut last;
    let goal = before.total() + count as u64;
    loop {
        let now = queue(metrics)?;
        if first_queued.is_none() && now.total() > before.total() {
            first_queued = Some(started.elapsed());
        }
        if all_queued.is_none() && now.total() >= goal {
            all_queued = Some(started.elapsed());
        }
        peak_rss = peak_rss.max(rss_kib(pid).unwrap_or(0));
        last = now;
        let finished = now.succeeded + now.dead + now.failed >= goal;
        if finished || started.elapsed() > deadline {
            break;
        }
        std::thread::sleep(SAMPLE);
    }
    let elapsed = started.elapsed();
    let renewed = last.succeeded.saturating_sub(before.succeeded);
    let first = first_queued.unwrap_or_default();
    match all_queued {
        Some(all) => println!(
            "  scheduler: first renew job queued {:.1} s after the load (scan every {SCAN_SECS} s), all {count} queued {:.1} s later",
            first.as_secs_f64(),
            all.saturating_sub(first).as_secs_f64()
        ),
        None => println!("  scheduler: only {} of {count} renew jobs queued", last.total() - before.total()),
    }
    let renewing = elapsed.saturating_sub(first).as_secs_f64().max(0.001);
    println!(
        "  renewed {renewed} of {count} in {:.1} s from the first queued job: {:.0} renewals per minute",
        renewing,
        renewed as f64 / renewing * 60.0
    );
    println!(
        "  jobs dead: {}, failed (retrying): {}, still queued or running: {}",
        last.dead - before.dead,
        last.failed - before.failed,
        last.queued + last.running
    );
    println!("  service peak resident memory: {:.1} MiB", peak_rss as f64 / 1024.0);
    println!("  new-order requests at Pebble during the storm: {}", env.pebble.orders_placed() - orders_before);
    if renewed < count as u64 {
        println!("  NOT all renewed within the bench's deadline of {} s", deadline.as_secs());
    }
    child.stop();
    Ok(())
}

/// `count` certificates of the project, issued three hours ago for four hours: short-lived, so the
/// window opened at half the lifetime (an hour ago), and older than the minimum age.
async fn load(db: &Path, project: ProjectId, account: AcmeAccountId, count: usize) -> anyhow::Result<()> {
    let (store, scope) = super::service::store_beside(db, super::issue::OWNER_EMAIL, project).await?;
    let project = scope.project_id();
    let now = Timestamp::now();
    let not_before = now.saturating_sub(HOUR * 3);
    let mut made = 0;
    while made < count {
        let n = (count - made).min(INSERT_BATCH);
        let batch: Vec<Certificate> = (made..made + n)
            .map(|k| {
                let name = format!("storm{k}.{ZONE}");
                let mut cert =
                    Certificate::new(project, &name, vec![name.clone()], KeyType::EcdsaP256, account, not_before);
                cert.issued_at = Some(not_before);
                cert.mark_issued(
                    format!("{k:032x}"),
                    not_before,
                    not_before.saturating_add(HOUR * 4),
                    format!("{k:064x}"),
                );
                cert
            })
            .collect();
        store.insert_many(&scope, &batch).await?;
        made += n;
    }
    Ok(())
}

/// The queue's gauges, from the service's metrics.
fn queue(metrics: SocketAddr) -> anyhow::Result<Queue> {
    let jobs = super::backend::series(metrics, "certautopilot_jobs", "status")?;
    let n = |status: &str| jobs.get(status).copied().unwrap_or(0);
    Ok(Queue {
        queued: n("queued"),
        running: n("running"),
        succeeded: n("succeeded"),
        failed: n("failed"),
        dead: n("dead"),
    })
}
