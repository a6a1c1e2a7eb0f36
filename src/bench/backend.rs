//! Which store a bench's service runs on, and what that store's round trips to its database cost
//! per unit of work, read from the service's own metrics
//! (`certautopilot_store_round_trips_total{operation}`): a figure independent of the database's
//! speed, for comparing the backends (issue 17: MongoDB within 1.5× SQLite's statements).
//! Invariant: the MongoDB server a bench starts is its own (SecantusDB from the test support) and
//! stops with the bench; its absolute speed is never quoted as MongoDB's.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchStore {
    /// The embedded default: one SQLite file in the bench's directory.
    Sqlite,
    /// A MongoDB-protocol server (SecantusDB) started for the bench on loopback.
    Mongodb,
}

/// The store a bench's service uses: its settings as environment, and the server kept running.
pub struct StoreUnderTest {
    pub kind: BenchStore,
    env: Vec<(String, String)>,
    _server: Option<MongoServer>,
}

impl StoreUnderTest {
    pub fn start(kind: BenchStore, dir: &Path) -> Self {
        match kind {
            BenchStore::Sqlite => StoreUnderTest { kind, env: Vec::new(), _server: None },
            BenchStore::Mongodb => {
                let server = MongoServer::start(&dir.join("mongodb"), MongoServerOptions::default());
                let env = vec![
                    ("CERTAUTOPILOT_STORE__BACKEND".into(), "mongodb".into()),
                    ("CERTAUTOPILOT_STORE__MONGODB__URI".into(), server.uri()),
                    ("CERTAUTOPILOT_STORE__MONGODB__DATABASE".into(), "bench".into()),
                ];
                StoreUnderTest { kind, env, _server: Some(server) }
            }
        }
    }

    /// The service's environment for this store.
    pub fn env(&self) -> impl Iterator<Item = (&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

impl BenchStore {
    pub fn name(self) -> &'static str {
        match self {
            BenchStore::Sqlite => "SQLite",
            BenchStore::Mongodb => "MongoDB (SecantusDB, a one-node replica set on loopback)",
        }
    }
}

/// Round trips by operation, as the service's metrics report them.
pub type Trips = BTreeMap<String, u64>;

pub fn scrape(metrics: SocketAddr) -> anyhow::Result<Trips> {
    series(metrics, "certautopilot_store_round_trips_total", "operation")
}

/// One metric of the service's exposition, by the value of its one `label`.
pub fn series(metrics: SocketAddr, name: &str, label: &str) -> anyhow::Result<BTreeMap<String, u64>> {
    let (status, body) = super::service::call(metrics, "GET", "/metrics", &[], None)?;
    anyhow::ensure!(status == 200, "metrics answered {status}");
    let prefix = format!("{name}{{{label}=\"");
    let mut values = BTreeMap::new();
    for line in body.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else { continue };
        let (key, value) = rest.split_once("\"} ").with_context(|| format!("a {name} line without a value"))?;
        values.insert(key.to_owned(), value.trim().parse()?);
    }
    Ok(values)
}

/// `after - before`, operation by operation.
pub fn difference(after: &Trips, before: &Trips) -> Trips {
    after.iter().map(|(op, n)| (op.clone(), n.saturating_sub(before.get(op).copied().unwrap_or(0)))).collect()
}

/// What the service does on its own while nothing is asked of it (job polling, timers, the
/// scrapes themselves), per second, to take out of a measured run.
pub fn idle_rate(metrics: SocketAddr, window: Duration) -> anyhow::Result<BTreeMap<String, f64>> {
    let before = scrape(metrics)?;
    std::thread::sleep(window);
    let after = scrape(metrics)?;
    Ok(difference(&after, &before).into_iter().map(|(op, n)| (op, n as f64 / window.as_secs_f64())).collect())
}

/// Prints the trips of a run of `units` units of work over `elapsed`, total and by operation, with
/// the idle background and `observer`'s trips (the bench's own reads, by operation) taken out.
pub fn report(
    run: &Trips,
    idle: &BTreeMap<String, f64>,
    elapsed: Duration,
    units: usize,
    unit: &str,
    observer: &BTreeMap<String, f64>,
) {
    let units = units.max(1) as f64;
    let taken_out = |op: &str| {
        idle.get(op).copied().unwrap_or(0.0) * elapsed.as_secs_f64() + observer.get(op).copied().unwrap_or(0.0)
    };
    let per_unit = |op: &str, n: u64| (n as f64 - taken_out(op)).max(0.0) / units;
    let total: f64 = run.iter().map(|(op, n)| per_unit(op, *n)).sum();
    let raw: u64 = run.values().sum();
    println!(
        "  store round trips per {unit}: {total:.1} (idle background of {:.1}/s and the bench's own reads \
         taken out; {:.1} with them)",
        idle.values().sum::<f64>(),
        raw as f64 / units
    );
    let mut by_op: Vec<(&String, f64)> = run.iter().map(|(op, n)| (op, per_unit(op, *n))).collect();
    by_op.sort_by(|a, b| b.1.total_cmp(&a.1));
    let breakdown: Vec<String> =
        by_op.into_iter().filter(|(_, n)| *n >= 0.05).map(|(op, n)| format!("{op} {n:.1}")).collect();
    println!("    by operation: {}", breakdown.join(", "));
}
