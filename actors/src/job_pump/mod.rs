//! The job pump of one worker node: claims due jobs of the kinds it has handlers for, runs them with
//! bounded concurrency, heartbeats their leases, and records the outcome.
//! Invariants: a job is only finished through the lease it was claimed with; on shutdown the pump
//! stops claiming, lets in-flight jobs finish within the grace period, then releases what is left, so
//! a restart neither loses a job nor spends an attempt on it.
//! Today a tokio task; M1.5 puts it under the actor registry and supervision with the other actors.

mod handler;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::{Job, JobKind};
use certautopilot_core::store::{ClaimRequest, JobFailure, Store, StoreError};
use certautopilot_core::{JobId, Timestamp};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use handler::{JobContext, JobError, JobHandler};

#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub node_id: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll_interval: Duration,
    pub backoff: Backoff,
}

/// What the pump is doing, for logs, metrics and (M1.5) the actor registry. Secret-free.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PumpSnapshot {
    pub node_id: String,
    pub kinds: Vec<JobKind>,
    pub running: Vec<JobId>,
    pub claimed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub released: u64,
    pub lease_lost: u64,
    pub last_error: Option<String>,
    pub last_activity: Option<Timestamp>,
    pub draining: bool,
}

/// How a shutdown went: jobs that finished in the grace period, and jobs handed back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub finished_in_grace: usize,
    pub released: Vec<JobId>,
}

pub struct JobPump {
    store: Arc<dyn Store>,
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
    config: PumpConfig,
}

struct Running {
    cancel: watch::Sender<bool>,
    lease: Arc<tokio::sync::Mutex<certautopilot_core::model::JobLease>>,
    task: JoinHandle<()>,
}

struct Shared {
    store: Arc<dyn Store>,
    config: PumpConfig,
    wake: Notify,
    /// Owned by the pump; the mutex only lets the handle read a copy and job tasks count outcomes.
    snapshot: Mutex<PumpSnapshot>,
    running: Mutex<BTreeMap<JobId, Running>>,
    job_done: Notify,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut PumpSnapshot)) {
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut snapshot);
        snapshot.last_activity = Some(Timestamp::now());
    }
}

/// Controls a started pump.
pub struct JobPumpHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl JobPump {
    pub fn new(store: Arc<dyn Store>, config: PumpConfig) -> Self {
        JobPump { store, handlers: HashMap::new(), config }
    }

    pub fn with_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(handler.kind(), handler);
        self
    }

    pub fn start(self) -> JobPumpHandle {
        let mut kinds: Vec<JobKind> = self.handlers.keys().copied().collect();
        kinds.sort_by_key(|k| k.as_str());
        let shared = Arc::new(Shared {
            store: self.store,
            snapshot: Mutex::new(PumpSnapshot {
                node_id: self.config.node_id.clone(),
                kinds: kinds.clone(),
                ..Default::default()
            }),
            config: self.config,
            wake: Notify::new(),
            running: Mutex::new(BTreeMap::new()),
            job_done: Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(claim_loop(Arc::clone(&shared), Arc::new(self.handlers), kinds, stop_rx));
        JobPumpHandle { shared, stop, task }
    }
}

impl JobPumpHandle {
    /// Looks for work now instead of at the next poll (called after an enqueue in this process).
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    pub fn snapshot(&self) -> PumpSnapshot {
        let mut snapshot = self.shared.snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        snapshot.running = self.shared.running.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        snapshot
    }

    /// Stops claiming, waits up to `grace` for running jobs, then cancels and releases the rest.
    pub async fn shutdown(self, grace: Duration) -> ShutdownReport {
        // Every job running at any point of the shutdown: those running now, and any the claim loop
        // takes before it stops. (Counting only after the loop stopped missed a job that finished
        // meanwhile.)
        let running_ids = |shared: &Shared| -> std::collections::BTreeSet<JobId> {
            shared.running.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
        };
        let mut seen = running_ids(&self.shared);
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.shared.update(|s| s.draining = true);
        seen.extend(running_ids(&self.shared));
        let before = seen.len();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let done = self.shared.job_done.notified();
            if self.shared.running.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
                break;
            }
            if tokio::time::timeout_at(deadline, done).await.is_err() {
                break;
            }
        }
        let left: Vec<(JobId, Running)> =
            std::mem::take(&mut *self.shared.running.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        let mut report = ShutdownReport { finished_in_grace: before - left.len(), released: Vec::new() };
        for (id, running) in left {
            // Stop the attempt outright: letting it see the cancel would let it record a failure and
            // spend an attempt. Jobs are idempotent, so the next holder redoes what this one began.
            running.task.abort();
            let _ = running.task.await;
            drop(running.cancel);
            let lease = running.lease.lock().await.clone();
            match self.shared.store.release_job(&lease, "released: worker shutting down").await {
                Ok(_) => {
                    report.released.push(id);
                    self.shared.update(|s| s.released += 1);
                }
                // Its outcome was already on its way to the store when the abort landed.
                Err(StoreError::LeaseLost { .. }) => report.finished_in_grace += 1,
                Err(e) => {
                    tracing::warn!(job_id = %id, error = %e, "could not release job at shutdown; its lease will expire")
                }
            }
        }
        tracing::info!(finished = report.finished_in_grace, released = report.released.len(), "job pump stopped");
        report
    }
}

async fn claim_loop(
    shared: Arc<Shared>,
    handlers: Arc<HashMap<JobKind, Arc<dyn JobHandler>>>,
    kinds: Vec<JobKind>,
    mut stop: watch::Receiver<bool>,
) {
    if kinds.is_empty() {
        tracing::info!(node_id = %shared.config.node_id, "job pump has no handlers; it claims nothing");
    } else {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        tracing::info!(node_id = %shared.config.node_id, kinds = ?names, "job pump started");
    }
    loop {
        if *stop.borrow() {
            return;
        }
        let free =
            shared.config.concurrency.saturating_sub(shared.running.lock().unwrap_or_else(|p| p.into_inner()).len());
        let mut claimed_any = false;
        if free > 0 && !kinds.is_empty() {
            let request = ClaimRequest {
                node_id: shared.config.node_id.clone(),
                kinds: kinds.clone(),
                limit: free,
                lease: shared.config.lease,
            };
            match shared.store.claim_jobs(&request).await {
                Ok(jobs) => {
                    claimed_any = !jobs.is_empty();
                    for job in jobs {
                        start_job(&shared, &handlers, job);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    shared.update(|s| s.last_error = Some(e.to_string()));
                }
            }
        }
        if claimed_any {
            continue;
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = shared.wake.notified() => {}
            _ = shared.job_done.notified() => {}
            _ = tokio::time::sleep(shared.config.poll_interval) => {}
        }
    }
}

fn start_job(shared: &Arc<Shared>, handlers: &Arc<HashMap<JobKind, Arc<dyn JobHandler>>>, job: Job) {
    let Some(lease) = job.lease() else { return };
    let Some(handler) = handlers.get(&job.kind).cloned() else { return };
    shared.update(|s| s.claimed += 1);
    let (cancel, cancel_rx) = watch::channel(false);
    let lease = Arc::new(tokio::sync::Mutex::new(lease));
    let ctx = JobContext { store: Arc::clone(&shared.store), lease: Arc::clone(&lease), cancel: cancel_rx };
    let id = job.id;
    // Hold the running-map lock while spawning so the task cannot finish before it is registered.
    let mut running = shared.running.lock().unwrap_or_else(|p| p.into_inner());
    let task = tokio::spawn(run_job(Arc::clone(shared), handler, job, ctx, cancel.clone()));
    running.insert(id, Running { cancel, lease, task });
}

async fn run_job(
    shared: Arc<Shared>,
    handler: Arc<dyn JobHandler>,
    job: Job,
    ctx: JobContext,
    cancel: watch::Sender<bool>,
) {
    let lease = Arc::clone(&ctx.lease);
    // Dropped (and so stopped) with this task, also when the task is aborted at shutdown.
    let heartbeat = AbortOnDrop(tokio::spawn(heartbeat_loop(Arc::clone(&shared), Arc::clone(&lease), cancel)));
    let outcome = handler.run(&job, ctx).await;
    drop(heartbeat);
    let lease = lease.lock().await.clone();
    let result = record_outcome(&shared, &lease, &outcome).await;
    match (&outcome, result) {
        (Ok(_), Ok(())) => shared.update(|s| s.succeeded += 1),
        (Err(e), Ok(())) => {
            tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), attempt = lease.attempt, error = %e, "job attempt failed");
            shared.update(|s| {
                s.failed += 1;
                s.last_error = Some(e.message.clone());
            });
        }
        (_, Err(StoreError::LeaseLost { .. })) => {
            tracing::warn!(job_id = %job.id, "lease lost before the outcome was recorded; another worker owns the job");
            shared.update(|s| s.lease_lost += 1);
        }
        (_, Err(e)) => {
            tracing::error!(job_id = %job.id, error = %e, "recording the job outcome failed; the lease will expire and the job rerun");
            shared.update(|s| s.last_error = Some(e.to_string()));
        }
    }
    shared.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.id);
    shared.job_done.notify_waiters();
    shared.wake.notify_one();
}

/// Records a finished attempt, trying again while the store answers with a retryable error (busy):
/// losing the outcome would rerun the job and spend an attempt. Gives up when the lease is gone.
async fn record_outcome(
    shared: &Shared,
    lease: &certautopilot_core::model::JobLease,
    outcome: &Result<String, JobError>,
) -> Result<(), StoreError> {
    let mut delay = Duration::from_millis(100);
    loop {
        let result = match outcome {
            Ok(summary) => shared.store.complete_job(lease, summary).await.map(|_| ()),
            Err(error) => {
                let failure = JobFailure {
                    error: error.message.clone(),
                    retryable: error.retryable,
                    backoff: shared.config.backoff,
                };
                shared.store.fail_job(lease, &failure).await.map(|_| ())
            }
        };
        match result {
            Err(e) if e.is_retryable() && Timestamp::now() < lease.expires_at => {
                tracing::warn!(job_id = %lease.job_id, error = %e, "recording the job outcome failed; trying again");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn heartbeat_loop(
    shared: Arc<Shared>,
    lease: Arc<tokio::sync::Mutex<certautopilot_core::model::JobLease>>,
    cancel: watch::Sender<bool>,
) {
    let mut ticker = tokio::time::interval(shared.config.heartbeat);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let current = lease.lock().await.clone();
        match shared.store.heartbeat_job(&current, shared.config.lease).await {
            Ok(renewed) => *lease.lock().await = renewed,
            Err(StoreError::LeaseLost { .. }) => {
                tracing::warn!(job_id = %current.job_id, "lease lost; asking the job to stop");
                let _ = cancel.send(true);
                return;
            }
            Err(e) => tracing::warn!(job_id = %current.job_id, error = %e, "heartbeat failed; will retry"),
        }
    }
}
