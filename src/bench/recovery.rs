//! Recovery of a worker SIGKILLed while it holds jobs: the time from its restart (a new process with
//! the same node id) to the first of those jobs completing again, and to the last. Before leases
//! carried the incarnation (M2.3), the restarted node waited for its dead process's leases to
//! expire (`jobs.lease`, 60 s by default); now its job pump ends them before its first claim.
//! Each worker is this binary again (`bench recovery --worker …`) running the real job pump on the
//! store the bench was given (SQLite, or a MongoDB-protocol server it starts on loopback); figures
//! only, nothing asserted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use certautopilot_actors::{ActorRegistry, JobContext, JobError, JobHandler, JobPump, PumpConfig};
use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::{Job, JobKind, JobStatus, NewJob};
use certautopilot_core::store::Store;
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};
use certautopilot_core::{JobId, SystemClock, SystemScope};

use super::backend::BenchStore;

/// The node id both processes run as: the second is the first one restarted.
const NODE: &str = "bench-recovery-worker";

/// What a worker process does with the jobs it claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkerRole {
    /// Works on them until killed (the process to SIGKILL).
    Hold,
    /// Completes them at once (the restarted process).
    Finish,
}

/// Where the bench and its worker processes meet; handed to a worker as `--worker-store`.
#[derive(Debug, Clone)]
pub enum WorkerStore {
    Sqlite(PathBuf),
    Mongodb { database: String, uri: String },
}

impl std::str::FromStr for WorkerStore {
    type Err = String;

    /// `sqlite <path>` or `mongodb <database> <uri>`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text.split_once(' ') {
            Some(("sqlite", path)) => Ok(WorkerStore::Sqlite(path.into())),
            Some(("mongodb", rest)) => rest
                .split_once(' ')
                .map(|(database, uri)| WorkerStore::Mongodb { database: database.into(), uri: uri.into() })
                .ok_or_else(|| "mongodb needs a database and a URI".to_owned()),
            _ => Err("expected `sqlite <path>` or `mongodb <database> <uri>`".into()),
        }
    }
}

impl std::fmt::Display for WorkerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerStore::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            WorkerStore::Mongodb { database, uri } => write!(f, "mongodb {database} {uri}"),
        }
    }
}

impl WorkerStore {
    async fn open(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(match self {
            WorkerStore::Sqlite(path) => {
                Arc::new(SqliteStore::open(path, SqliteOptions::default(), Arc::new(SystemClock)).await?)
            }
            WorkerStore::Mongodb { database, uri } => Arc::new(
                MongoStore::connect(MongoOptions::new(uri.clone(), database.clone()), Arc::new(SystemClock)).await?,
            ),
        })
    }
}

pub async fn run(dir: &Path, jobs: usize, rounds: usize, lease: Duration, kind: BenchStore) -> anyhow::Result<()> {
    let (jobs, rounds) = (jobs.max(1), rounds.max(1));
    let server =
        (kind == BenchStore::Mongodb).then(|| MongoServer::start(&dir.join("mongodb"), MongoServerOptions::default()));
    println!(
        "bench recovery on {}: a worker holding {jobs} jobs is SIGKILLed and started again as the same node; \
         {rounds} rounds, lease {} s",
        kind.name(),
        lease.as_secs()
    );
    let (mut first, mut all) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let shared = match &server {
            None => WorkerStore::Sqlite(dir.canonicalize()?.join(format!("bench-recovery-{round}.db"))),
            Some(server) => WorkerStore::Mongodb { database: format!("recovery{round}"), uri: server.uri() },
        };
        let store = shared.open().await?;
        let mut ids = Vec::new();
        for _ in 0..jobs {
            ids.push(store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await?.job.id);
        }
        let mut holder = spawn_worker(WorkerRole::Hold, &shared, jobs, lease)?;
        wait_until(store.as_ref(), &ids, Duration::from_secs(60), |j| j.status == JobStatus::Running).await?;
        holder.kill()?;
        holder.wait()?;

        let restarted = Instant::now();
        let mut worker = spawn_worker(WorkerRole::Finish, &shared, jobs, lease)?;
        let done = |j: &Job| j.status == JobStatus::Succeeded;
        wait_until_any(store.as_ref(), &ids, Duration::from_secs(120), done).await?;
        let to_first = restarted.elapsed();
        wait_until(store.as_ref(), &ids, Duration::from_secs(120), done).await?;
        let to_all = restarted.elapsed();
        worker.kill()?;
        worker.wait()?;
        println!(
            "  round {}: first reclaimed job done {} after the restart, all {jobs} after {}",
            round + 1,
            super::millis(to_first),
            super::millis(to_all)
        );
        first.push(to_first);
        all.push(to_all);
    }
    first.sort();
    all.sort();
    println!(
        "  restart → first reclaimed job done: p50 {}, max {}; → all done: p50 {}, max {} (goal < 2 s; \
         before incarnations: the rest of the {} s lease)",
        super::millis(super::percentile(&first, 50.0)),
        super::millis(first[first.len() - 1]),
        super::millis(super::percentile(&all, 50.0)),
        super::millis(all[all.len() - 1]),
        lease.as_secs()
    );
    Ok(())
}

/// The worker process: the job pump of node `NODE` on the bench's store, until killed.
pub async fn worker(role: WorkerRole, shared: &WorkerStore, jobs: usize, lease: Duration) -> anyhow::Result<()> {
    let store = shared.open().await?;
    let config = PumpConfig {
        node_id: NODE.into(),
        concurrency: jobs,
        lease,
        heartbeat: lease / 3,
        poll_interval: Duration::from_secs(1),
        backoff: Backoff { base: Duration::from_secs(1), max: Duration::from_secs(60) },
    };
    let registry = ActorRegistry::new();
    let _pump = JobPump::new(store, config)
        .with_handler(Arc::new(Worker(role)))
        .start(&registry, &actix_rt::Arbiter::current());
    std::future::pending::<()>().await;
    Ok(())
}

struct Worker(WorkerRole);

#[async_trait]
impl JobHandler for Worker {
    fn kind(&self) -> JobKind {
        JobKind::Issue
    }

    async fn run(&self, _job: &Job, _ctx: JobContext) -> Result<String, JobError> {
        if self.0 == WorkerRole::Hold {
            std::future::pending::<()>().await;
        }
        Ok("done".into())
    }
}

fn spawn_worker(role: WorkerRole, shared: &WorkerStore, jobs: usize, lease: Duration) -> anyhow::Result<Child> {
    let role = match role {
        WorkerRole::Hold => "hold",
        WorkerRole::Finish => "finish",
    };
    Ok(Command::new(std::env::current_exe()?)
        .args(["bench", "recovery", "--jobs", &jobs.to_string(), "--lease-secs", &lease.as_secs().to_string()])
        .args(["--worker", role, "--worker-store"])
        .arg(shared.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?)
}

/// Polls the jobs until `done` holds for every one of them.
async fn wait_until(
    store: &dyn Store,
    ids: &[JobId],
    deadline: Duration,
    done: impl Fn(&Job) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let mut all = true;
        for id in ids {
            all &= done(&store.get_job(&SystemScope::new("bench"), *id).await?);
        }
        if all {
            return Ok(());
        }
        anyhow::ensure!(started.elapsed() < deadline, "jobs not there after {deadline:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Polls the jobs until `done` holds for one of them.
async fn wait_until_any(
    store: &dyn Store,
    ids: &[JobId],
    deadline: Duration,
    done: impl Fn(&Job) -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        for id in ids {
            if done(&store.get_job(&SystemScope::new("bench"), *id).await?) {
                return Ok(());
            }
        }
        anyhow::ensure!(started.elapsed() < deadline, "no job done after {deadline:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
