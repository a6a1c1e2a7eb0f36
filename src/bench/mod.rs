//! `certautopilot bench …`: figures measured on this machine, printed for people (no timed asserts in
//! tests: targets are checked here). Each bench works in a temporary directory unless told otherwise.

mod actors;
mod audit;
mod audit_archive;
mod backend;
mod distribute;
mod graphql;
mod health_probe;
mod issue;
mod jobs;
mod kek;
mod login_flood;
mod propagation;
mod providers;
mod recovery;
mod renewal_scan;
mod renewal_storm;
mod service;
mod siem;
mod slow_bodies;
mod ui;

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Job queue on SQLite with durable commits: enqueue + claim + complete, jobs per second.
    Jobs {
        /// Jobs to push through.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Concurrent producer-consumers (each enqueues, claims and completes in a loop).
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Directory for the database (default: a temporary one).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The store the queue lives in (MongoDB: a SecantusDB server of the bench's own).
        #[arg(long, value_enum, default_value_t = backend::BenchStore::Sqlite)]
        store: backend::BenchStore,
    },
    /// Audit chain: durable appends with their state change, and verification of a long chain, each
    /// beside the raw HMAC-SHA256 rate.
    Audit {
        #[arg(long, default_value_t = 1_000_000)]
        entries: usize,
        #[arg(long, default_value_t = 20_000)]
        changes: usize,
        #[arg(long, default_value_t = 32)]
        writers: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Audit retention at scale: a long chain mostly moved into archive segments (time, peak
    /// memory), then `audit verify` from the checkpoint and mark, and the full walk of the archives.
    AuditArchive {
        #[arg(long, default_value_t = 10_000_000)]
        entries: u64,
        /// Entries left in the live chain.
        #[arg(long, default_value_t = 100_000)]
        live: u64,
        /// Entries per segment (what the service writes; more per segment means a bigger delete
        /// per store transaction, and more memory).
        #[arg(long, default_value_t = 10_000)]
        segment: u64,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// SIEM forwarding throughput to a running receiver (e.g. rsyslog with an imtcp input).
    Siem {
        /// The receiver, `ip:port`.
        #[arg(long)]
        address: std::net::SocketAddr,
        /// `udp`, `tcp` or `relp`.
        #[arg(long, default_value = "tcp")]
        transport: String,
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Re-wrap throughput of the envelope code beside the raw AES-256-GCM bound, one core.
    KekRewrap {
        #[arg(long, default_value_t = 1_000_000)]
        count: usize,
    },
    /// `kek rotate` end to end over N secrets stored in SQLite (the configured PKCS#11 KEK, or a
    /// key file made for the bench).
    KekRotate {
        #[arg(long, default_value_t = 1_000_000)]
        secrets: usize,
        #[arg(long, default_value_t = 1_000)]
        batch: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Propagation wait per strategy (authoritative, resolvers, delay, none) against a test-support
    /// BIND 9: p50 per strategy.
    Propagation {
        #[arg(long, default_value_t = 20)]
        samples: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Issuance end to end against the test-support Pebble + BIND 9: certificates per minute and
    /// latency from request to `issued`, with this binary serving in a child process.
    Issue {
        #[arg(long, default_value_t = 50)]
        count: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// The store the service runs on; the run also prints its round trips per certificate.
        #[arg(long, value_enum, default_value_t = backend::BenchStore::Sqlite)]
        store: backend::BenchStore,
        /// Pebble rejects this share of nonces (`PEBBLE_WFE_NONCEREJECT`); above 0 the bench runs a
        /// clean batch first and prints the ratio of the two throughputs.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=90))]
        nonce_reject: u8,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Issuance latency per DNS provider (RFC 2136 on BIND 9 and Knot DNS, PowerDNS, Route 53 on
    /// moto, the exec hook, the cloud API stand-ins): request → issued, p50 and max.
    Providers {
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Only the providers whose row starts with this (`rfc2136`, `route53`, …).
        #[arg(long)]
        only: Option<String>,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// One renewal fanned out to many file targets and ssh targets (a test-support sshd).
    Distribute {
        #[arg(long, default_value_t = 200)]
        files: usize,
        #[arg(long, default_value_t = 20)]
        ssh: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Resident memory with N certificates stored and M certificate actors active at once.
    Actors {
        #[arg(long, default_value_t = 100_000)]
        certificates: usize,
        #[arg(long, default_value_t = 10_000)]
        active: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Concurrent bad logins (rotating X-Forwarded-For) against this binary serving in a child
    /// process: its resident memory before, during and after, /healthz latency, and the answers.
    LoginFlood {
        #[arg(long, default_value_t = 200)]
        logins: usize,
        /// Every login for the owner's e-mail (its slow-down spreads them out) instead of each for
        /// its own unknown e-mail (the worst case for hashing: nothing delays them).
        #[arg(long)]
        same_account: bool,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Slow request bodies from one address against this binary serving with its default caps:
    /// connections shed, descriptors held, /healthz latency meanwhile.
    SlowBodies {
        /// Connections to open (the bench's own open-file limit bounds it).
        #[arg(long, default_value_t = 19_000)]
        connections: usize,
        /// Stop opening connections after this long.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A worker SIGKILLed while holding jobs and started again as the same node: time from the
    /// restart to the first reclaimed job completing, and to the last.
    Recovery {
        /// Jobs the killed worker holds.
        #[arg(long, default_value_t = 8)]
        jobs: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// The lease the killed worker's jobs hold (what a restart used to wait out).
        #[arg(long, default_value_t = 60)]
        lease_secs: u64,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The store the workers share.
        #[arg(long, value_enum, default_value_t = backend::BenchStore::Sqlite)]
        store: backend::BenchStore,
        /// Internal: run as one of the bench's worker processes.
        #[arg(long, hide = true, requires = "worker_store")]
        worker: Option<recovery::WorkerRole>,
        /// Internal: the store the worker process opens.
        #[arg(long, hide = true)]
        worker_store: Option<recovery::WorkerStore>,
    },
    /// Store trips of one GraphQL query, "N certificates with account, targets and last 5 timeline
    /// entries", for N = 5 and N = 50 on a seeded store (DataLoaders: the count should not grow).
    Graphql {
        /// The store to seed and query (MongoDB: a SecantusDB server of the bench's own).
        #[arg(long, value_enum, default_value_t = backend::BenchStore::Sqlite)]
        store: backend::BenchStore,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The web console over a large store: server time of the overview and the inventory (p50,
    /// p95) as a signed-in owner, and the overview's page weight with its assets.
    Ui {
        #[arg(long, default_value_t = 100_000)]
        certificates: usize,
        /// Requests per page.
        #[arg(long, default_value_t = 20)]
        samples: usize,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// A renewal storm against the test-support Pebble + BIND 9: N issued certificates whose
    /// windows open at once; time to queue them, renewals per minute, peak memory, dead jobs.
    RenewalStorm {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Jobs the service runs at once.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Stop waiting after this many seconds (the goal is all renewed within 300).
        #[arg(long, default_value_t = 900)]
        deadline_secs: u64,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// "Certificates due for renewal before T, oldest first, page of 500" over a large store.
    RenewalScan {
        #[arg(long, default_value_t = 1_000_000)]
        certificates: usize,
        #[arg(long, default_value_t = 100)]
        projects: usize,
        /// Directory for the database (default: a temporary one). An existing database of the right
        /// size there is reused, so the query can be re-measured without reloading.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The store to load and query (MongoDB: a SecantusDB server of the bench's own).
        #[arg(long, value_enum, default_value_t = backend::BenchStore::Sqlite)]
        store: backend::BenchStore,
    },
}

pub async fn run(command: BenchCommand, config: &certautopilot_config::Config) -> anyhow::Result<()> {
    match command {
        BenchCommand::KekRewrap { count } => kek::rewrap(count),
        BenchCommand::Siem { address, transport, events, batch, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            siem::run(&dir, address, &transport, events, batch).await
        }
        BenchCommand::Audit { entries, changes, writers, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            audit::run(&dir, entries, changes, writers).await
        }
        BenchCommand::AuditArchive { entries, live, segment, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            audit_archive::run(&dir, entries, live, segment.max(1)).await
        }
        BenchCommand::KekRotate { secrets, batch, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            kek::rotate_end_to_end(&dir, config, secrets, batch).await
        }
        BenchCommand::Jobs { jobs, concurrency, dir, store } => {
            let (dir, _guard) = work_dir(dir)?;
            jobs::run(&dir, jobs, concurrency, store).await
        }
        BenchCommand::Propagation { samples, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            propagation::run(&dir, samples.max(1)).await
        }
        BenchCommand::Issue { count, concurrency, store, nonce_reject, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            tokio::task::spawn_blocking(move || {
                if nonce_reject == 0 {
                    return issue::run(&dir, count, concurrency, store, 0).map(drop);
                }
                let (clean_dir, rejecting_dir) = (dir.join("clean"), dir.join("rejecting"));
                std::fs::create_dir_all(&clean_dir)?;
                std::fs::create_dir_all(&rejecting_dir)?;
                let clean = issue::run(&clean_dir, count, concurrency, store, 0)?;
                let rejecting = issue::run(&rejecting_dir, count, concurrency, store, nonce_reject)?;
                println!(
                    "throughput with {nonce_reject} % of nonces rejected: {:.0} % of the clean run's ({rejecting:.0} against {clean:.0} per minute)",
                    rejecting / clean * 100.0
                );
                Ok(())
            })
            .await?
        }
        BenchCommand::Providers { count, only, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            tokio::task::spawn_blocking(move || providers::run(&dir, count, only.as_deref())).await?
        }
        BenchCommand::Distribute { files, ssh, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            distribute::run(&dir, files, ssh).await
        }
        BenchCommand::Actors { certificates, active, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            actors::run(&dir, certificates, active).await
        }
        BenchCommand::LoginFlood { logins, same_account, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            tokio::task::spawn_blocking(move || login_flood::run(&dir, logins, same_account)).await?
        }
        BenchCommand::SlowBodies { connections, seconds, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            tokio::task::spawn_blocking(move || slow_bodies::run(&dir, connections, seconds)).await?
        }
        BenchCommand::Recovery { jobs, rounds, lease_secs, dir, store, worker, worker_store } => {
            let lease = Duration::from_secs(lease_secs.max(1));
            if let (Some(role), Some(shared)) = (worker, worker_store) {
                return recovery::worker(role, &shared, jobs, lease).await;
            }
            let (dir, _guard) = work_dir(dir)?;
            recovery::run(&dir, jobs, rounds, lease, store).await
        }
        BenchCommand::Graphql { store, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            // On a single-threaded actix system, as each HTTP worker of `serve` runs: the DataLoaders'
            // batching is measured as the service does it.
            let auth = config.auth.clone();
            tokio::task::spawn_blocking(move || actix_rt::System::new().block_on(graphql::run(&dir, store, auth)))
                .await?
        }
        BenchCommand::Ui { certificates, samples, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            ui::run(&dir, certificates, samples.max(1)).await
        }
        BenchCommand::RenewalStorm { count, concurrency, deadline_secs, dir } => {
            let (dir, _guard) = work_dir(dir)?;
            let deadline = Duration::from_secs(deadline_secs);
            tokio::task::spawn_blocking(move || renewal_storm::run(&dir, count, concurrency.max(1), deadline)).await?
        }
        BenchCommand::RenewalScan { certificates, projects, dir, store } => {
            let (dir, _guard) = work_dir(dir)?;
            renewal_scan::run(&dir, certificates, projects, store).await
        }
    }
}

fn work_dir(dir: Option<PathBuf>) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            Ok((dir, None))
        }
        None => {
            // Next to the working directory rather than /tmp, which may be a RAM disk and flatter fsync.
            let temp = tempfile::Builder::new().prefix("certautopilot-bench-").tempdir_in(".")?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

/// p-th percentile (0–100) of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1_000.0)
}
