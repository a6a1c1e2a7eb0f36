//! The job pump against a real SQLite store: it runs what it has handlers for, retries failures,
//! finishes or releases work on shutdown, stops a job whose lease was taken over, and comes back
//! from a panic under supervision with its jobs released and claimed again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use certautopilot_actors::testing::wait_for;
use certautopilot_actors::{
    ActorRegistry, JobContext, JobError, JobHandler, JobPump, JobPumpHandle, PumpConfig, PumpSnapshot, ShutdownReport,
};
use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::{Job, JobKind, JobStatus, NewJob};
use certautopilot_core::store::conformance::Fixture;
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{ClaimRequest, prelude::*};
use certautopilot_core::{Clock, SystemClock, SystemScope};
use tokio::sync::Notify;

fn config(node: &str) -> PumpConfig {
    PumpConfig {
        node_id: node.into(),
        concurrency: 4,
        lease: Duration::from_secs(30),
        heartbeat: Duration::from_millis(50),
        poll_interval: Duration::from_millis(100),
        backoff: Backoff { base: Duration::from_millis(20), max: Duration::from_millis(40) },
    }
}

/// Starts the pump under supervision on this test's arbiter, with a registry of its own.
fn start(pump: JobPump) -> JobPumpHandle {
    start_in(pump, &ActorRegistry::new())
}

fn start_in(pump: JobPump, registry: &ActorRegistry) -> JobPumpHandle {
    pump.start(registry, &actix_rt::Arbiter::current())
}

async fn real_store() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("pump.db"), Default::default(), Arc::new(SystemClock)).await.unwrap();
    (Arc::new(store), dir)
}

async fn wait_for_job(
    store: &dyn Store,
    id: certautopilot_core::JobId,
    what: &str,
    pred: impl Fn(&Job) -> bool,
) -> Job {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = store.get_job(&SystemScope::new("test"), id).await.unwrap();
        if pred(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {job:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_running(handle: &JobPumpHandle, n: usize) {
    wait_snapshot(handle, &format!("{n} running jobs"), |s| s.running.len() >= n).await;
}

/// The pump's counters move after the store has the outcome, from the pump's own tasks: wait for
/// them with a deadline rather than read them once.
async fn wait_snapshot(handle: &JobPumpHandle, what: &str, done: impl Fn(&PumpSnapshot) -> bool) -> PumpSnapshot {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = handle.snapshot();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(Instant::now() < deadline, "pump never had {what}: {snapshot:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Succeeds at once, or fails its first `fail_first` attempts.
struct Flaky {
    kind: JobKind,
    fail_first: u32,
    calls: AtomicU32,
}

#[async_trait]
impl JobHandler for Flaky {
    fn kind(&self) -> JobKind {
        self.kind
    }
    async fn run(&self, job: &Job, ctx: JobContext) -> Result<String, JobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ctx.log(certautopilot_core::model::LogLevel::Info, "working", serde_json::json!({ "attempt": job.attempts }))
            .await?;
        if job.attempts <= self.fail_first {
            Err(JobError::retryable("transient failure"))
        } else {
            Ok("all good".into())
        }
    }
}

/// Blocks until released, or until the pump cancels it.
struct Blocking {
    release: Arc<Notify>,
}

#[async_trait]
impl JobHandler for Blocking {
    fn kind(&self) -> JobKind {
        JobKind::Issue
    }
    async fn run(&self, _job: &Job, mut ctx: JobContext) -> Result<String, JobError> {
        tokio::select! {
            _ = self.release.notified() => Ok("released".into()),
            _ = ctx.cancelled() => Err(JobError::retryable("cancelled")),
        }
    }
}

/// The pump runs every job of the kinds it handles, logs into each, and leaves other kinds alone.
#[actix_rt::test]
async fn runs_jobs_of_its_kinds_and_leaves_others() {
    let (store, _dir) = real_store().await;
    let handler = Arc::new(Flaky { kind: JobKind::Issue, fail_first: 0, calls: AtomicU32::new(0) });
    let pump = start(JobPump::new(store.clone(), config("w1")).with_handler(handler.clone()));
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id);
        pump.wake();
    }
    let scan = store.enqueue_job(NewJob::system(JobKind::Scan, 3)).await.unwrap().job.id;
    for id in &ids {
        let job = wait_for_job(store.as_ref(), *id, "issue job to succeed", |j| j.status == JobStatus::Succeeded).await;
        assert_eq!(job.attempts, 1);
    }
    let logs = store.job_logs(&SystemScope::new("t"), ids[0]).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["queued", "claimed", "working", "all good"]);
    assert_eq!(handler.calls.load(Ordering::SeqCst), 20);
    assert_eq!(store.get_job(&SystemScope::new("t"), scan).await.unwrap().status, JobStatus::Queued);
    let snapshot = wait_snapshot(&pump, "20 successes", |s| s.succeeded >= 20).await;
    assert_eq!((snapshot.claimed, snapshot.succeeded, snapshot.kinds.clone()), (20, 20, vec![JobKind::Issue]));
    assert_eq!(pump.shutdown(Duration::from_secs(1)).await.released, vec![]);
}

/// A failed attempt is recorded and retried after the backoff; the retry succeeds.
#[actix_rt::test]
async fn failed_attempt_is_retried_after_backoff() {
    let (store, _dir) = real_store().await;
    let handler = Arc::new(Flaky { kind: JobKind::Renew, fail_first: 2, calls: AtomicU32::new(0) });
    let pump = start(JobPump::new(store.clone(), config("w1")).with_handler(handler.clone()));
    let id = store.enqueue_job(NewJob::system(JobKind::Renew, 5)).await.unwrap().job.id;
    pump.wake();
    let job = wait_for_job(store.as_ref(), id, "renew job to succeed", |j| j.status == JobStatus::Succeeded).await;
    assert_eq!(job.attempts, 3);
    let logs = store.job_logs(&SystemScope::new("t"), id).await.unwrap();
    assert_eq!(logs.iter().filter(|l| l.message == "transient failure").count(), 2);
    assert_eq!(wait_snapshot(&pump, "2 failures", |s| s.failed >= 2).await.failed, 2);
    pump.shutdown(Duration::from_secs(1)).await;
}

/// On shutdown a running job that finishes within the grace period completes normally and is
/// counted as finished in the grace: exactly one, not released. The job is let go only once the
/// shutdown has begun (polled once, so it has seen the running job), so it cannot finish first.
#[actix_rt::test]
async fn shutdown_lets_running_jobs_finish_within_grace() {
    let (store, _dir) = real_store().await;
    let release = Arc::new(Notify::new());
    let pump =
        start(JobPump::new(store.clone(), config("w1")).with_handler(Arc::new(Blocking { release: release.clone() })));
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    pump.wake();
    wait_running(&pump, 1).await;
    let mut shutdown = std::pin::pin!(pump.shutdown(Duration::from_secs(10)));
    // The first poll starts the shutdown while the job still runs; it cannot end before the release.
    std::future::poll_fn(|cx| {
        assert!(shutdown.as_mut().poll(cx).is_pending(), "the shutdown ended while a job was blocked");
        std::task::Poll::Ready(())
    })
    .await;
    release.notify_one();
    let report = shutdown.await;
    let job = store.get_job(&SystemScope::new("t"), id).await.unwrap();
    let logs = store.job_logs(&SystemScope::new("t"), id).await.unwrap();
    let context = format!("report {report:?}; job {job:?}; logs {logs:?}");
    assert_eq!(report, ShutdownReport { finished_in_grace: 1, released: Vec::new() }, "{context}");
    assert_eq!(job.status, JobStatus::Succeeded, "{context}");
}

/// On shutdown a job that outlasts the grace period is cancelled and released: queued again, with the
/// attempt given back, and claimable at once by another worker.
#[actix_rt::test]
async fn shutdown_releases_jobs_that_outlast_the_grace() {
    let (store, _dir) = real_store().await;
    let pump = start(
        JobPump::new(store.clone(), config("w1")).with_handler(Arc::new(Blocking { release: Arc::new(Notify::new()) })),
    );
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    pump.wake();
    wait_running(&pump, 1).await;
    let report = pump.shutdown(Duration::from_millis(200)).await;
    assert_eq!((report.finished_in_grace, report.released.clone()), (0, vec![id]));
    let job = store.get_job(&SystemScope::new("t"), id).await.unwrap();
    assert_eq!((job.status, job.attempts, job.lease_owner), (JobStatus::Queued, 0, None));
    let claim = ClaimRequest {
        node_id: "w2".into(),
        incarnation: "w2-start".into(),
        kinds: vec![JobKind::Issue],
        limit: 1,
        lease: Duration::from_secs(30),
    };
    assert_eq!(store.claim_jobs(&claim).await.unwrap().len(), 1);
}

/// When another worker takes a job over (its lease expired), the pump's next heartbeat finds out,
/// cancels the handler, and does not record an outcome over the new holder's.
#[actix_rt::test]
async fn lost_lease_cancels_the_running_job() {
    let Fixture { store, clock, guard: _guard } = SqliteStore::for_test().await;
    let store = Arc::new(store);
    let pump = start(
        JobPump::new(store.clone(), config("w1")).with_handler(Arc::new(Blocking { release: Arc::new(Notify::new()) })),
    );
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    pump.wake();
    wait_running(&pump, 1).await;
    let thief = ClaimRequest {
        node_id: "w2".into(),
        incarnation: "w2-start".into(),
        kinds: vec![JobKind::Issue],
        limit: 1,
        lease: Duration::from_secs(300),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    // A heartbeat may land between the clock jump and the claim; jump again until the claim wins.
    let stolen = loop {
        clock.advance(Duration::from_secs(31));
        if let Some(job) = store.claim_jobs(&thief).await.unwrap().pop() {
            break job;
        }
        assert!(Instant::now() < deadline, "could not take the job over");
    };
    assert_eq!((stolen.id, stolen.attempts), (id, 2));
    // The lost lease is counted before the job leaves the running set.
    wait_snapshot(&pump, "noticed the lost lease", |s| s.lease_lost > 0 && s.running.is_empty()).await;
    let job = store.get_job(&SystemScope::new("t"), id).await.unwrap();
    assert_eq!((job.status, job.lease_owner.as_deref(), job.attempts), (JobStatus::Running, Some("w2"), 2));
    let _ = clock.now();
    pump.shutdown(Duration::from_secs(1)).await;
}

/// Records when the pump asked it to stop; never finishes otherwise.
struct Stops {
    asked: Arc<std::sync::Mutex<Option<Instant>>>,
}

#[async_trait]
impl JobHandler for Stops {
    fn kind(&self) -> JobKind {
        JobKind::Issue
    }
    async fn run(&self, _job: &Job, mut ctx: JobContext) -> Result<String, JobError> {
        ctx.cancelled().await;
        *self.asked.lock().unwrap() = Some(Instant::now());
        Err(JobError::retryable("cancelled"))
    }
}

/// A node whose heartbeats cannot reach the store (here the database is locked by another
/// connection, so each fails or hangs) hears no `LeaseLost`; once its lease has run out by its own
/// count, another worker may hold the job, so the pump asks the job to stop: not at the first failed
/// heartbeat, and without waiting for the store to answer. When the store answers again, the job is
/// given back without counting the attempt, and claimed again.
#[actix_rt::test]
async fn a_job_whose_heartbeats_cannot_reach_the_store_stops_when_its_lease_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pump.db");
    let store = Arc::new(SqliteStore::open(&path, Default::default(), Arc::new(SystemClock)).await.unwrap());
    let lease = Duration::from_secs(2);
    let asked = Arc::new(std::sync::Mutex::new(None));
    let pump = start(
        JobPump::new(store.clone(), PumpConfig { lease, ..config("w1") })
            .with_handler(Arc::new(Stops { asked: asked.clone() })),
    );
    let id = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    pump.wake();
    wait_running(&pump, 1).await;
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked_at = Instant::now();
    let deadline = locked_at + lease + Duration::from_secs(10);
    let stopped_at = loop {
        if let Some(at) = *asked.lock().unwrap() {
            break at;
        }
        assert!(Instant::now() < deadline, "the job was never asked to stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The last heartbeat that landed was asked at most one interval (50 ms) before the lock.
    let held = stopped_at - locked_at;
    assert!(held >= lease - Duration::from_millis(500), "asked to stop {held:?} after the lock: too early");
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    // Once the store answers, the job is given back with its attempt not counted, and claimed again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = store.job_logs(&SystemScope::new("t"), id).await.unwrap();
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        if messages.len() >= 4 {
            let released = "released: its lease ran out while the store was out of reach";
            assert_eq!(messages, ["queued", "claimed", released, "claimed"]);
            break;
        }
        assert!(Instant::now() < deadline, "the job was not given back and claimed again: {messages:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let job = store.get_job(&SystemScope::new("t"), id).await.unwrap();
    assert_eq!((job.status, job.attempts), (JobStatus::Running, 1), "the stopped attempt is not counted");
    wait_snapshot(&pump, "the release counted", |s| s.released == 1).await;
    pump.shutdown(Duration::from_secs(1)).await;
}

/// A panic in the pump: the registry shows `restarts: 1` and the panic; the job the dead instance
/// held is released (its attempt given back, not left to a lease expiry) and claimed again by the
/// new instance, which then finishes it and a job enqueued after the restart.
#[actix_rt::test]
async fn a_panicking_pump_is_restarted_and_claims_again() {
    let (store, _dir) = real_store().await;
    let registry = ActorRegistry::new();
    let release = Arc::new(Notify::new());
    let quick = Arc::new(Flaky { kind: JobKind::Renew, fail_first: 0, calls: AtomicU32::new(0) });
    let pump = start_in(
        JobPump::new(store.clone(), config("w1"))
            .with_handler(Arc::new(Blocking { release: release.clone() }))
            .with_handler(quick),
        &registry,
    );
    let held = store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id;
    pump.wake();
    wait_running(&pump, 1).await;

    pump.force_panic().await;
    let snap = wait_for(&registry, "job_pump", "w1", "a restart", |s| s.restarts == 1 && s.alive).await;
    assert!(snap.last_error.as_deref().is_some_and(|e| e.contains("forced panic in the job pump")), "{snap:?}");

    // The held job comes back to the new instance, with the dead instance's attempt given back:
    // its log shows the release, then a second claim.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = store.job_logs(&SystemScope::new("t"), held).await.unwrap();
        let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
        if messages == ["queued", "claimed", "released: job pump restarting", "claimed"] {
            break;
        }
        assert!(Instant::now() < deadline, "the held job was not released and claimed again: {messages:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let job = store.get_job(&SystemScope::new("t"), held).await.unwrap();
    assert_eq!((job.status, job.attempts, job.lease_owner.as_deref()), (JobStatus::Running, 1, Some("w1")));

    let after = store.enqueue_job(NewJob::system(JobKind::Renew, 3)).await.unwrap().job.id;
    pump.wake();
    release.notify_one();
    for id in [held, after] {
        let job =
            wait_for_job(store.as_ref(), id, "job to succeed after the restart", |j| j.status == JobStatus::Succeeded)
                .await;
        assert_eq!(job.attempts, 1, "{job:?}");
    }
    let snap = wait_for(&registry, "job_pump", "w1", "idle again", |s| s.state == "idle").await;
    assert_eq!(snap.restarts, 1);
    assert_eq!(pump.shutdown(Duration::from_secs(1)).await, ShutdownReport::default());
    assert!(registry.get("job_pump", "w1").is_none(), "a stopped pump leaves the registry");
}

/// A node's pump that starts again after its process died holding leases (here: jobs claimed
/// under another incarnation of the same node id, with a lease far longer than the test) continues
/// those jobs at once: its start ends the dead incarnation's leases before its first claim, so the
/// jobs succeed on attempt 2 while their old leases had most of their time left.
#[actix_rt::test]
async fn a_restarted_pump_continues_its_dead_starts_jobs_at_once() {
    let (store, _dir) = real_store().await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await.unwrap().job.id);
    }
    let dead_start = ClaimRequest {
        node_id: "w1".into(),
        incarnation: "killed-start".into(),
        kinds: vec![JobKind::Issue],
        limit: 2,
        lease: Duration::from_secs(3_600),
    };
    assert_eq!(store.claim_jobs(&dead_start).await.unwrap().len(), 2);
    let pump = JobPump::new(store.clone(), config("w1"));
    assert_ne!(pump.incarnation(), "killed-start");
    let handler = Arc::new(Flaky { kind: JobKind::Issue, fail_first: 0, calls: AtomicU32::new(0) });
    let pump = start(pump.with_handler(handler));
    for id in ids {
        let job = wait_for_job(store.as_ref(), id, "the job continued", |j| j.status == JobStatus::Succeeded).await;
        assert_eq!(job.attempts, 2);
    }
    pump.shutdown(Duration::from_secs(1)).await;
}
