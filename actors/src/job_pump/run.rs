//! One job attempt, as a task of its own: heartbeat the lease while the handler runs, record the
//! outcome through that lease, then tell the pump how it went.
//! Invariant: the outcome is recorded only through the lease the job was claimed with (a lost lease
//! records nothing over the new holder's); a retryable store error is retried while the lease lasts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::{Job, JobLease};
use certautopilot_core::store::{JobFailure, Store, StoreError};
use certautopilot_core::{JobId, Timestamp};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::messages::{Finished, JobFinished};
use super::{JobContext, JobError, JobHandler, ShutdownReport};

pub(super) type SharedLease = Arc<tokio::sync::Mutex<JobLease>>;

/// What a job task needs besides its job: the store, lease timing and the pump to report to.
pub(super) struct JobRun {
    pub store: Arc<dyn Store>,
    pub lease_for: Duration,
    pub heartbeat: Duration,
    pub backoff: Backoff,
    /// When the claim that took this job's lease was sent: the lease runs from no earlier.
    pub claim_asked_at: Instant,
    /// The pump's address as a recipient of outcomes only, so a job task knows nothing else of it.
    pub pump: Recipient<JobFinished>,
}

/// A job the pump holds: its task, its lease and the signal asking it to stop.
pub(super) struct Running {
    pub cancel: watch::Sender<bool>,
    pub lease: SharedLease,
    pub task: JoinHandle<()>,
}

/// The jobs one pump instance holds. Dropped with a non-empty table (the instance died), it stops
/// each job and gives its lease back, so the next instance claims them again at once instead of
/// after the lease expires, and no attempt is spent.
pub(super) struct RunningJobs {
    pub store: Arc<dyn Store>,
    pub jobs: BTreeMap<JobId, Running>,
}

impl Drop for RunningJobs {
    fn drop(&mut self) {
        if self.jobs.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(jobs = self.jobs.len(), "job pump gone without a runtime; its leases will expire instead");
            return;
        };
        let left = std::mem::take(&mut self.jobs);
        let store = self.store.clone();
        runtime.spawn(async move {
            let report = release(store.as_ref(), left, "released: job pump restarting").await;
            tracing::warn!(released = report.released.len(), "job pump instance died; its jobs were released");
        });
    }
}

/// Stops each job outright and releases its lease. Stopping it outright (rather than letting it see
/// the cancel) keeps it from recording a failure and spending an attempt; jobs are idempotent, so the
/// next holder redoes what this one began. A job whose outcome landed first counts as finished.
pub(super) async fn release(store: &dyn Store, jobs: BTreeMap<JobId, Running>, reason: &str) -> ShutdownReport {
    let mut report = ShutdownReport::default();
    for (id, running) in jobs {
        running.task.abort();
        let _ = running.task.await;
        drop(running.cancel);
        let lease = running.lease.lock().await.clone();
        match store.release_job(&lease, reason).await {
            Ok(_) => report.released.push(id),
            // Its outcome was already on its way to the store when the abort landed.
            Err(StoreError::LeaseLost { .. }) => report.finished_in_grace += 1,
            Err(e) => tracing::warn!(job_id = %id, error = %e, "could not release job; its lease will expire"),
        }
    }
    report
}

pub(super) async fn run_job(
    run: JobRun,
    handler: Arc<dyn JobHandler>,
    job: Job,
    ctx: JobContext,
    cancel: watch::Sender<bool>,
) {
    let lease = Arc::clone(&ctx.lease);
    // Dropped (and so stopped) with this task, also when the task is aborted.
    let mut heartbeat = AbortOnDrop(tokio::spawn(heartbeat_loop(
        run.store.clone(),
        lease.clone(),
        run.lease_for,
        run.heartbeat,
        run.claim_asked_at,
        cancel,
    )));
    let asked_to_stop = ctx.cancel.clone();
    let outcome = handler.run(&job, ctx).await;
    // Only the heartbeat asks a job to stop, and it ends as it asks.
    let stopped = if *asked_to_stop.borrow() { heartbeat.ended().await } else { None };
    drop(heartbeat);
    let lease = lease.lock().await.clone();
    // Recording a failure would spend an attempt on this node's caution, and record_outcome gives
    // up at the lease's end, which has passed.
    if let (Err(_), Some(Stopped::RanOut)) = (&outcome, stopped) {
        let outcome = release_when_the_store_answers(&run, &lease).await;
        let _ = run.pump.send(JobFinished { id: job.id, outcome }).await;
        return;
    }
    let outcome = match (&outcome, record_outcome(&run, &lease, &outcome).await) {
        (Ok(_), Ok(())) => Finished::Succeeded,
        (Err(e), Ok(())) => {
            tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), attempt = lease.attempt, error = %e, "job attempt failed");
            Finished::Failed(e.message.clone())
        }
        (_, Err(StoreError::LeaseLost { .. })) => {
            tracing::warn!(job_id = %job.id, "lease lost before the outcome was recorded; another worker owns the job");
            Finished::LeaseLost
        }
        (_, Err(e)) => {
            tracing::error!(job_id = %job.id, error = %e, "recording the job outcome failed; the lease will expire and the job rerun");
            Finished::NotRecorded(e.to_string())
        }
    };
    let _ = run.pump.send(JobFinished { id: job.id, outcome }).await;
}

/// Records a finished attempt, trying again while the store answers with a retryable error (busy):
/// losing the outcome would rerun the job and spend an attempt. Gives up when the lease is gone.
async fn record_outcome(run: &JobRun, lease: &JobLease, outcome: &Result<String, JobError>) -> Result<(), StoreError> {
    let mut pause = Pause::new();
    loop {
        let result = match outcome {
            Ok(summary) => run.store.complete_job(lease, summary).await.map(|_| ()),
            Err(error) => {
                let failure =
                    JobFailure { error: error.message.clone(), retryable: error.retryable, backoff: run.backoff };
                run.store.fail_job(lease, &failure).await.map(|_| ())
            }
        };
        match result {
            Err(e) if e.is_retryable() && Timestamp::now() < lease.expires_at => {
                tracing::warn!(job_id = %lease.job_id, error = %e, "recording the job outcome failed; trying again");
                pause.wait().await;
            }
            other => return other,
        }
    }
}

/// Gives back a job that stopped because its lease ran out while the store could not be reached:
/// the stop was this node's caution, not the job's failure, so no attempt is counted. It waits for
/// the store (a node cut off from it can do nothing else meanwhile); `LeaseLost` when another
/// worker's claim ended the lease first.
async fn release_when_the_store_answers(run: &JobRun, lease: &JobLease) -> Finished {
    let mut pause = Pause::new();
    loop {
        match run.store.release_job(lease, "released: its lease ran out while the store was out of reach").await {
            Ok(_) => return Finished::Released,
            Err(StoreError::LeaseLost { .. }) => return Finished::LeaseLost,
            Err(e) if e.is_retryable() => {
                tracing::debug!(job_id = %lease.job_id, error = %e, "giving the job back failed; trying again");
                pause.wait().await;
            }
            Err(e) => return Finished::NotRecorded(e.to_string()),
        }
    }
}

/// The wait between tries at a store that answered with a retryable error: 100 ms, doubling up to 5 s.
struct Pause(Duration);

impl Pause {
    fn new() -> Self {
        Pause(Duration::from_millis(100))
    }

    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
    }
}

/// Why the heartbeat asked the job to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stopped {
    /// The store answered that another worker holds the job.
    LeaseLost,
    /// The lease ran out by this node's count with no heartbeat reaching the store.
    RanOut,
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// What the task returns (`None` if it panicked).
    async fn ended(&mut self) -> Option<T> {
        (&mut self.0).await.ok()
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn heartbeat_loop(
    store: Arc<dyn Store>,
    lease: SharedLease,
    lease_for: Duration,
    every: Duration,
    mut held_since: Instant,
    cancel: watch::Sender<bool>,
) -> Stopped {
    // A node cut off from the store hears neither a renewal nor `LeaseLost`. The store counts a
    // lease from when it wrote it, after this node asked; counted here from the asking, its time is
    // up no later than the store's, and the job may then be another worker's: it is asked to stop
    // then, also while a heartbeat hangs or waits for its turn.
    let job_id = lease.lock().await.job_id;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    let why = loop {
        let deadline = held_since + lease_for;
        tokio::select! {
            _ = ticker.tick() => {}
            () = tokio::time::sleep_until(deadline) => break Stopped::RanOut,
        }
        let current = lease.lock().await.clone();
        let asked = Instant::now();
        match tokio::time::timeout_at(deadline, store.heartbeat_job(&current, lease_for)).await {
            Ok(Ok(renewed)) => {
                *lease.lock().await = renewed;
                held_since = asked;
            }
            Ok(Err(StoreError::LeaseLost { .. })) => break Stopped::LeaseLost,
            Ok(Err(e)) if Instant::now() < deadline => {
                tracing::warn!(%job_id, error = %e, "heartbeat failed; will retry");
            }
            Ok(Err(_)) | Err(_) => break Stopped::RanOut,
        }
    };
    match why {
        Stopped::LeaseLost => tracing::warn!(%job_id, "lease lost; asking the job to stop"),
        Stopped::RanOut => {
            tracing::warn!(%job_id, "lease ran out without a heartbeat reaching the store; asking the job to stop");
        }
    }
    let _ = cancel.send(true);
    why
}
