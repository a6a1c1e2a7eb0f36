//! Several writers on one queue: separate store instances (each its own connections) in one process,
//! and separate OS processes, on each backend. On SQLite the file lock serializes them; on MongoDB
//! the server's transactions do. These tests prove the queue's guarantees rest on the store, not on
//! anything one process holds in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::model::{JobKind, JobStatus, NewJob};
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::store::{ClaimRequest, Store};
use certautopilot_core::testsupport::shared_mongodb_uri;
use certautopilot_core::{JobId, SystemClock};

use crate::child;

/// The backend a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Mongo,
}

impl Backend {
    /// How many jobs a draining test queues: MongoDB commits each claim and completion as a
    /// majority-written transaction, so it drains fewer in the same time on this machine.
    fn jobs(self, sqlite: usize) -> usize {
        match self {
            Backend::Sqlite => sqlite,
            Backend::Mongo => sqlite / 5,
        }
    }
}

/// Where the processes of one test meet: a SQLite file, or a fresh database on the MongoDB server.
/// Handed to children as one string in `CAP_STORE_DB`.
#[derive(Clone, Debug)]
enum Shared {
    Sqlite(PathBuf),
    Mongo { database: String, uri: String },
}

impl Shared {
    fn new(backend: Backend, dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => Shared::Sqlite(dir.join("q.db")),
            Backend::Mongo => {
                Shared::Mongo { database: format!("p{}", uuid::Uuid::new_v4().simple()), uri: shared_mongodb_uri() }
            }
        }
    }

    fn encode(&self) -> String {
        match self {
            Shared::Sqlite(path) => format!("sqlite {}", path.display()),
            Shared::Mongo { database, uri } => format!("mongodb {database} {uri}"),
        }
    }

    /// The store a child was told to open.
    fn from_child_env() -> Self {
        let text = child::env_path(child::DB_VAR).into_os_string().into_string().expect("utf-8");
        match text.split_once(' ') {
            Some(("sqlite", path)) => Shared::Sqlite(path.into()),
            Some(("mongodb", rest)) => {
                let (database, uri) = rest.split_once(' ').expect("database and uri");
                Shared::Mongo { database: database.into(), uri: uri.into() }
            }
            _ => panic!("unknown store for a child: {text}"),
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            // A long busy timeout: under two processes and a 2-core machine a writer can wait a while.
            Shared::Sqlite(path) => {
                let options = SqliteOptions { busy_timeout: Duration::from_secs(30), ..Default::default() };
                Arc::new(SqliteStore::open(path, options, Arc::new(SystemClock)).await.expect("open store"))
            }
            Shared::Mongo { database, uri } => Arc::new(
                MongoStore::connect(MongoOptions::new(uri.clone(), database.clone()), Arc::new(SystemClock))
                    .await
                    .expect("connect to MongoDB"),
            ),
        }
    }

    /// Drops the test's MongoDB database; a SQLite file goes with its temporary directory.
    async fn clean_up(&self) {
        if let Shared::Mongo { database, uri } = self {
            let store = MongoStore::connect_with_defaults(uri, database).await.expect("connect to MongoDB");
            store.drop_database().await.expect("drop the test database");
        }
    }

    fn spawn(&self, test: &str, role: &str, out: &Path) -> std::process::Child {
        child::spawn(test, role, self.encode(), out)
    }
}

/// Runs `$body(backend, test name)` as one test per backend, named `$name` and `mongodb_$name`
/// (a child process re-runs its parent's test by that exact name).
macro_rules! on_both_backends {
    ($name:ident, $mongo:ident, $threads:literal, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $name() {
            $body(Backend::Sqlite, concat!("processes::", stringify!($name))).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = $threads)]
        async fn $mongo() {
            $body(Backend::Mongo, concat!("processes::", stringify!($mongo))).await;
        }
    };
}

fn claim(node: &str) -> ClaimRequest {
    ClaimRequest {
        node_id: node.into(),
        incarnation: format!("{node}-start"),
        kinds: vec![JobKind::Issue],
        limit: 4,
        lease: Duration::from_secs(120),
    }
}

/// Claims and completes until nothing is left; returns the ids it completed, each with its attempt.
async fn drain(store: &dyn Store, node: &str) -> Vec<(JobId, u32)> {
    drain_pausing(store, node, None).await
}

/// Like `drain`, resting `pause` after each batch. Between processes SQLite's lock is not fair: a
/// process re-taking it at once can starve another whose busy handler is asleep, so the
/// two-process test leaves a gap for the other claimer.
async fn drain_pausing(store: &dyn Store, node: &str, pause: Option<Duration>) -> Vec<(JobId, u32)> {
    let mut done = Vec::new();
    loop {
        let jobs = store.claim_jobs(&claim(node)).await.expect("claim");
        if jobs.is_empty() {
            return done;
        }
        for job in jobs {
            let lease = job.lease().expect("claimed job has a lease");
            store.complete_job(&lease, "done").await.expect("complete a job we hold");
            done.push((job.id, job.attempts));
        }
        if let Some(pause) = pause {
            tokio::time::sleep(pause).await;
        }
    }
}

fn assert_each_once(all: &[(JobId, u32)], expected: usize) {
    let unique: BTreeSet<JobId> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(all.len(), expected, "every job completed");
    assert_eq!(unique.len(), expected, "no job completed twice");
    assert!(all.iter().all(|(_, attempt)| *attempt == 1), "no job needed a second attempt");
}

/// Four store instances on one queue, each with four concurrent claimers, drain it (1,000 jobs on
/// SQLite): every job is completed exactly once, at its first attempt.
async fn separate_connections(backend: Backend, _test: &str) {
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(backend, dir.path());
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(shared.open().await);
    }
    let total = backend.jobs(1_000);
    for i in 0..total {
        stores[i % 4].enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for t in 0..4 {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move { drain(store.as_ref(), &format!("s{s}-t{t}")).await }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_each_once(&all, total);
    shared.clean_up().await;
}

on_both_backends!(
    threads_with_separate_connections_never_share_a_job,
    mongodb_threads_with_separate_connections_never_share_a_job,
    4,
    separate_connections
);

fn ready_path(out: &std::path::Path) -> std::path::PathBuf {
    out.with_extension("ready")
}

/// Announces this child is ready, then waits for the parent's go file beside its output.
async fn await_start(out: &std::path::Path) {
    std::fs::write(ready_path(out), "").unwrap();
    let go = out.with_file_name("go");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !go.exists() {
        assert!(std::time::Instant::now() < deadline, "parent never said go");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Two OS processes drain one queue together (2,000 jobs on SQLite): every job is completed exactly
/// once, at its first attempt, and both processes did part of the work.
async fn two_processes(backend: Backend, name: &str) {
    if let Some(role) = child::role() {
        let store = Shared::from_child_env().open().await;
        await_start(&child::env_path(child::OUT_VAR)).await;
        let done = drain_pausing(store.as_ref(), &role, Some(Duration::from_millis(1))).await;
        let lines: String = done.iter().map(|(id, attempt)| format!("{id} {attempt}\n")).collect();
        std::fs::write(child::env_path(child::OUT_VAR), lines).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(backend, dir.path());
    let store = shared.open().await;
    let total = backend.jobs(2_000);
    for _ in 0..total {
        store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap();
    }
    let outs = [dir.path().join("a.out"), dir.path().join("b.out")];
    let mut children: Vec<_> =
        ["proc-a", "proc-b"].iter().zip(&outs).map(|(role, out)| shared.spawn(name, role, out)).collect();
    // Both processes start draining together, so "both did part of the work" does not depend on
    // how long one of them took to start on a loaded machine.
    start_together(dir.path(), &outs).await;
    for c in &mut children {
        child::wait_ok(c, Duration::from_secs(120), "claimer");
    }
    let mut all = Vec::new();
    for out in &outs {
        let text = std::fs::read_to_string(out).unwrap();
        let part: Vec<(JobId, u32)> = text
            .lines()
            .map(|l| {
                let (id, attempt) = l.split_once(' ').unwrap();
                (id.parse().unwrap(), attempt.parse().unwrap())
            })
            .collect();
        assert!(!part.is_empty(), "{} did no work", out.display());
        all.extend(part);
    }
    assert_each_once(&all, total);
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts, BTreeMap::from([(JobStatus::Succeeded, total as u64)]));
    shared.clean_up().await;
}

on_both_backends!(two_processes_never_share_a_job, mongodb_two_processes_never_share_a_job, 2, two_processes);

/// Two OS processes enqueue the same 300 dedupe keys at the same time (released together by a start
/// barrier, and their enqueue windows shown to overlap): 300 jobs exist afterwards, and exactly one
/// enqueue per key reported creating it.
async fn dedupe_across_processes(backend: Backend, name: &str) {
    if let Some(_role) = child::role() {
        let store = Shared::from_child_env().open().await;
        let out = child::env_path(child::OUT_VAR);
        await_start(&out).await;
        let started = unix_micros();
        let mut created = 0;
        for i in 0..300 {
            let outcome =
                store.enqueue_job(NewJob::system(JobKind::Renew, 3).dedupe_key(format!("renew:{i}"))).await.unwrap();
            created += usize::from(outcome.created);
        }
        std::fs::write(out, format!("{created} {started} {}", unix_micros())).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(backend, dir.path());
    let store = shared.open().await;
    let outs = [dir.path().join("a.out"), dir.path().join("b.out")];
    let mut children: Vec<_> = ["a", "b"].iter().zip(&outs).map(|(role, out)| shared.spawn(name, role, out)).collect();
    start_together(dir.path(), &outs).await;
    for c in &mut children {
        child::wait_ok(c, Duration::from_secs(120), "enqueuer");
    }
    let results: Vec<[u128; 3]> = outs
        .iter()
        .map(|o| {
            let text = std::fs::read_to_string(o).unwrap();
            let fields: Vec<u128> = text.split_whitespace().map(|f| f.parse().unwrap()).collect();
            [fields[0], fields[1], fields[2]]
        })
        .collect();
    // Each window is [start, end]; they overlap when each began before the other ended.
    let (a, b) = (&results[0], &results[1]);
    assert!(a[1] < b[2] && b[1] < a[2], "the two enqueuers did not run at the same time: {results:?}");
    let created: u128 = results.iter().map(|r| r[0]).sum();
    assert_eq!(created, 300);
    assert_eq!(store.job_counts().await.unwrap(), BTreeMap::from([(JobStatus::Queued, 300)]));
    shared.clean_up().await;
}

on_both_backends!(
    dedupe_key_holds_across_processes,
    mongodb_dedupe_key_holds_across_processes,
    2,
    dedupe_across_processes
);

fn unix_micros() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros()
}

/// The parent's side of the start barrier: waits until every child (writing beside `outs`) is ready,
/// then lets them all go at once.
async fn start_together(dir: &std::path::Path, outs: &[std::path::PathBuf]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !outs.iter().all(|out| ready_path(out).exists()) {
        assert!(std::time::Instant::now() < deadline, "children never became ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    std::fs::write(dir.join("go"), "").unwrap();
}

/// How long the doomed child's lease runs: long enough to see it hold after the kill.
const DOOMED_LEASE: Duration = Duration::from_secs(4);

/// A worker process killed while holding a lease: once the lease runs out, another process's claim
/// takes the job over as attempt 2 and completes it.
async fn killed_process_lease(backend: Backend, name: &str) {
    if let Some(_role) = child::role() {
        let store = Shared::from_child_env().open().await;
        let short = ClaimRequest { lease: DOOMED_LEASE, ..claim("doomed") };
        let jobs = store.claim_jobs(&short).await.unwrap();
        std::fs::write(child::env_path(child::OUT_VAR), jobs.len().to_string()).unwrap();
        // Hold the lease until killed.
        std::future::pending::<()>().await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(backend, dir.path());
    let out = dir.path().join("held");
    let store = shared.open().await;
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    // The child claims after it is spawned, so its lease surely runs until `spawned + DOOMED_LEASE`.
    let spawned = std::time::Instant::now();
    let mut doomed = shared.spawn(name, "doomed", &out);
    child::wait_for(Duration::from_secs(30), "the child to claim the job", || async {
        std::fs::read_to_string(&out).map(|t| t == "1").unwrap_or(false)
    })
    .await;
    doomed.kill().unwrap();
    doomed.wait().unwrap();
    // A claim made while the lease surely holds finds nothing. On a machine so loaded that the
    // child took the whole lease to start, that moment has passed and only the take-over is checked.
    let mut early = store.claim_jobs(&claim("survivor")).await.unwrap();
    if spawned.elapsed() < DOOMED_LEASE {
        assert_eq!(early.len(), 0, "lease still valid right after the kill");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let taken = loop {
        if let Some(job) = early.pop() {
            break Some(job);
        }
        if let Some(job) = store.claim_jobs(&claim("survivor")).await.unwrap().pop() {
            break Some(job);
        }
        assert!(std::time::Instant::now() < deadline, "expired lease was not reclaimed within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let job = taken.unwrap();
    assert_eq!((job.id, job.attempts), (id, 2));
    store.complete_job(&job.lease().unwrap(), "done").await.unwrap();
    shared.clean_up().await;
}

on_both_backends!(
    lease_of_a_killed_process_is_reclaimed,
    mongodb_lease_of_a_killed_process_is_reclaimed,
    2,
    killed_process_lease
);

/// The lease the killed start of `worker-1` holds: far longer than the test may take, so a claim
/// that gets the job cannot be explained by the lease running out.
const UNEXPIRED_LEASE: Duration = Duration::from_secs(600);

/// A worker process SIGKILLed while holding jobs under a long lease, then started again as the same
/// node (a new incarnation): its start ends the dead start's leases at once, and its first claim
/// continues every job as attempt 2, while a claim by another node before that restart found
/// nothing (the lease was still valid, nobody could take the jobs). No waiting out the lease.
async fn restarted_node(backend: Backend, test: &str) {
    let first_start = || ClaimRequest { incarnation: "start-1".into(), lease: UNEXPIRED_LEASE, ..claim("worker-1") };
    if let Some(_role) = child::role() {
        let store = Shared::from_child_env().open().await;
        let jobs = store.claim_jobs(&first_start()).await.unwrap();
        std::fs::write(child::env_path(child::OUT_VAR), jobs.len().to_string()).unwrap();
        // Hold the leases until killed.
        std::future::pending::<()>().await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shared = Shared::new(backend, dir.path());
    let out = dir.path().join("held");
    let store = shared.open().await;
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        ids.insert(store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id);
    }
    let mut killed = shared.spawn(test, "worker-1", &out);
    child::wait_for(Duration::from_secs(30), "the child to claim the jobs", || async {
        std::fs::read_to_string(&out).map(|t| t == "3").unwrap_or(false)
    })
    .await;
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(store.claim_jobs(&claim("worker-2")).await.unwrap().is_empty(), "the dead start's leases still hold");

    // The node starts again: what the job pump does before its first claim.
    assert_eq!(store.reclaim_own_leases("worker-1", "start-2").await.unwrap(), 3);
    let second_start = ClaimRequest { incarnation: "start-2".into(), ..first_start() };
    let continued = store.claim_jobs(&second_start).await.unwrap();
    assert_eq!(continued.iter().map(|j| j.id).collect::<BTreeSet<_>>(), ids);
    for job in continued {
        assert_eq!(job.attempts, 2);
        store.complete_job(&job.lease().unwrap(), "done").await.unwrap();
        let logs = store.job_logs(&certautopilot_core::SystemScope::new("test"), job.id).await.unwrap();
        assert!(logs.iter().any(|l| l.message == "lease of node worker-1 ended: the node restarted"), "{logs:?}");
    }
    shared.clean_up().await;
}

on_both_backends!(
    restarted_node_continues_the_jobs_of_its_killed_start_at_once,
    mongodb_restarted_node_continues_the_jobs_of_its_killed_start_at_once,
    2,
    restarted_node
);
