//! Several writers on one database file: separate store instances (each its own writer thread and
//! connection) in one process, and separate OS processes. SQLite's lock is what serializes them here,
//! so these tests prove the queue's guarantees do not rest on the in-process writer alone.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::model::{JobKind, JobStatus, NewJob};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::store::{ClaimRequest, prelude::*};
use certautopilot_core::{JobId, SystemClock};

use crate::child;

async fn open(path: &std::path::Path) -> SqliteStore {
    // A long busy timeout: under two processes and a 2-core machine a writer can wait a while.
    let options = SqliteOptions { busy_timeout: Duration::from_secs(30), ..Default::default() };
    SqliteStore::open(path, options, Arc::new(SystemClock)).await.expect("open store")
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
async fn drain(store: &SqliteStore, node: &str) -> Vec<(JobId, u32)> {
    drain_pausing(store, node, None).await
}

/// Like `drain`, resting `pause` after each batch. Between processes SQLite's lock is not fair: a
/// process re-taking it at once can starve another whose busy handler is asleep, so the
/// two-process test leaves a gap for the other claimer.
async fn drain_pausing(store: &SqliteStore, node: &str, pause: Option<Duration>) -> Vec<(JobId, u32)> {
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

/// Four store instances on one file, each with four concurrent claimers, drain 1,000 jobs: every job
/// is completed exactly once, at its first attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn threads_with_separate_connections_never_share_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let stores: Vec<Arc<SqliteStore>> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(Arc::new(open(&path).await));
        }
        v
    };
    for i in 0..1_000 {
        stores[i % 4].enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap();
    }
    let mut tasks = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for t in 0..4 {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move { drain(&store, &format!("s{s}-t{t}")).await }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    assert_each_once(&all, 1_000);
}

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

/// Two OS processes drain one queue file together: every job is completed exactly once, at its first
/// attempt, and both processes did part of the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_never_share_a_job() {
    if let Some(role) = child::role() {
        let store = open(&child::env_path(child::DB_VAR)).await;
        await_start(&child::env_path(child::OUT_VAR)).await;
        let done = drain_pausing(&store, &role, Some(Duration::from_millis(1))).await;
        let lines: String = done.iter().map(|(id, attempt)| format!("{id} {attempt}\n")).collect();
        std::fs::write(child::env_path(child::OUT_VAR), lines).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = open(&path).await;
    for _ in 0..2_000 {
        store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap();
    }
    let name = "processes::two_processes_never_share_a_job";
    let outs = [dir.path().join("a.out"), dir.path().join("b.out")];
    let mut children: Vec<_> =
        ["proc-a", "proc-b"].iter().zip(&outs).map(|(role, out)| child::spawn(name, role, &path, out)).collect();
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
    assert_each_once(&all, 2_000);
    let counts = store.job_counts().await.unwrap();
    assert_eq!(counts, BTreeMap::from([(JobStatus::Succeeded, 2_000)]));
}

/// Two OS processes enqueue the same 300 dedupe keys at the same time (released together by a start
/// barrier, and their enqueue windows shown to overlap): 300 jobs exist afterwards, and exactly one
/// enqueue per key reported creating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_key_holds_across_processes() {
    if let Some(_role) = child::role() {
        let store = open(&child::env_path(child::DB_VAR)).await;
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
    let path = dir.path().join("q.db");
    let store = open(&path).await;
    let name = "processes::dedupe_key_holds_across_processes";
    let outs = [dir.path().join("a.out"), dir.path().join("b.out")];
    let mut children: Vec<_> =
        ["a", "b"].iter().zip(&outs).map(|(role, out)| child::spawn(name, role, &path, out)).collect();
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
}

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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_of_a_killed_process_is_reclaimed() {
    if let Some(_role) = child::role() {
        let store = open(&child::env_path(child::DB_VAR)).await;
        let short = ClaimRequest { lease: DOOMED_LEASE, ..claim("doomed") };
        let jobs = store.claim_jobs(&short).await.unwrap();
        std::fs::write(child::env_path(child::OUT_VAR), jobs.len().to_string()).unwrap();
        // Hold the lease until killed.
        std::future::pending::<()>().await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let out = dir.path().join("held");
    let store = open(&path).await;
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    // The child claims after it is spawned, so its lease surely runs until `spawned + DOOMED_LEASE`.
    let spawned = std::time::Instant::now();
    let mut doomed = child::spawn("processes::lease_of_a_killed_process_is_reclaimed", "doomed", &path, &out);
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
}

/// The lease the killed start of `worker-1` holds: far longer than the test may take, so a claim
/// that gets the job cannot be explained by the lease running out.
const UNEXPIRED_LEASE: Duration = Duration::from_secs(600);

/// A worker process SIGKILLed while holding jobs under a long lease, then started again as the same
/// node (a new incarnation): its start ends the dead start's leases at once, and its first claim
/// continues every job as attempt 2, while a claim by another node before that restart found
/// nothing (the lease was still valid, nobody could take the jobs). No waiting out the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_continues_the_jobs_of_its_killed_start_at_once() {
    let first_start = || ClaimRequest { incarnation: "start-1".into(), lease: UNEXPIRED_LEASE, ..claim("worker-1") };
    if let Some(_role) = child::role() {
        let store = open(&child::env_path(child::DB_VAR)).await;
        let jobs = store.claim_jobs(&first_start()).await.unwrap();
        std::fs::write(child::env_path(child::OUT_VAR), jobs.len().to_string()).unwrap();
        // Hold the leases until killed.
        std::future::pending::<()>().await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let out = dir.path().join("held");
    let store = open(&path).await;
    let mut ids = BTreeSet::new();
    for _ in 0..3 {
        ids.insert(store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id);
    }
    let test = "processes::restarted_node_continues_the_jobs_of_its_killed_start_at_once";
    let mut killed = child::spawn(test, "worker-1", &path, &out);
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
}
