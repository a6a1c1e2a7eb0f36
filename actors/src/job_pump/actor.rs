//! The job pump actor: claims jobs while it has free slots, starts a task per job, and counts how
//! they end. Claims are serialized (one in flight at a time); a wake during a claim claims again
//! right after it. Invariant: every job in `running` is leased to this node and is either still
//! running, or released (shutdown, or this instance dropped after a panic).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{Actor, ActorFutureExt, AsyncContext, Context, Handler, ResponseActFuture, WrapFuture};
use certautopilot_core::model::{Job, JobKind};
use certautopilot_core::store::{ClaimRequest, Store};
use certautopilot_core::{JobId, Timestamp};
use tokio::sync::watch;

use super::messages::{Drain, Finished, JobFinished, ReleaseRemaining, Wake};
use super::run::{JobRun, Running, RunningJobs, release, run_job};
use super::{JobContext, JobHandler, PumpConfig, PumpSnapshot, PumpStart, ShutdownReport};
use crate::registry::Probe;
use crate::supervisor::{ForcePanic, Lifeline, Spawn};

/// Outcome counters of this instance.
#[derive(Default)]
struct Tally {
    claimed: u64,
    succeeded: u64,
    failed: u64,
    released: u64,
    lease_lost: u64,
}

pub struct JobPumpActor {
    store: Arc<dyn Store>,
    handlers: Arc<HashMap<JobKind, Arc<dyn JobHandler>>>,
    kinds: Vec<JobKind>,
    config: PumpConfig,
    start: PumpStart,
    running: RunningJobs,
    /// The number of running jobs, for a shutdown waiting out its grace period.
    running_count: watch::Sender<usize>,
    tally: Tally,
    last_error: Option<String>,
    /// A claim is in flight; claims are never concurrent, so `free` is never over-counted.
    claiming: bool,
    /// A wake came during a claim: claim again once it is back.
    wake_pending: bool,
    /// Set by `Drain`: every job held at any point since (none is claimed any more, but a claim in
    /// flight when the drain began may still bring some).
    draining: Option<BTreeSet<JobId>>,
    restarts: u32,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl JobPumpActor {
    pub(super) fn new(
        store: Arc<dyn Store>,
        handlers: Arc<HashMap<JobKind, Arc<dyn JobHandler>>>,
        kinds: Vec<JobKind>,
        config: PumpConfig,
        start: PumpStart,
        spawn: Spawn,
    ) -> Self {
        JobPumpActor {
            running: RunningJobs { store: store.clone(), jobs: BTreeMap::new() },
            store,
            handlers,
            kinds,
            config,
            start,
            running_count: watch::channel(0).0,
            tally: Tally::default(),
            last_error: None,
            claiming: false,
            wake_pending: false,
            draining: None,
            restarts: spawn.restarts,
            probe: spawn.probe,
            _lifeline: spawn.lifeline,
        }
    }

    fn claim(&mut self, ctx: &mut Context<Self>) {
        if self.draining.is_some() || self.kinds.is_empty() {
            return;
        }
        if self.claiming {
            self.wake_pending = true;
            return;
        }
        let free = self.config.concurrency.saturating_sub(self.running.jobs.len());
        if free == 0 {
            return;
        }
        self.claiming = true;
        self.wake_pending = false;
        let request = ClaimRequest {
            node_id: self.config.node_id.clone(),
            incarnation: self.start.incarnation.clone(),
            kinds: self.kinds.clone(),
            limit: free,
            lease: self.config.lease,
        };
        let store = self.store.clone();
        let reclaimed = self.start.reclaimed.clone();
        let claim = async move {
            // Before the first claim of this start: the leases an earlier start of this node still
            // holds would otherwise wait out their expiry (a SIGKILLed process never released them).
            if !reclaimed.load(Ordering::Acquire) {
                let ended = store.reclaim_own_leases(&request.node_id, &request.incarnation).await?;
                if ended > 0 {
                    tracing::info!(node_id = %request.node_id, ended, "ended the leases of this node's previous start");
                }
                reclaimed.store(true, Ordering::Release);
            }
            let asked = tokio::time::Instant::now();
            store.claim_jobs(&request).await.map(|jobs| (asked, jobs))
        };
        ctx.spawn(claim.into_actor(self).map(|result, act, ctx| {
            act.claiming = false;
            match result {
                Ok((asked, jobs)) => {
                    let claimed_any = !jobs.is_empty();
                    for job in jobs {
                        act.start_job(job, asked, ctx);
                    }
                    if claimed_any || act.wake_pending {
                        act.claim(ctx);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    act.last_error = Some(e.to_string());
                }
            }
            act.publish();
        }));
    }

    fn start_job(&mut self, job: Job, claim_asked_at: tokio::time::Instant, ctx: &mut Context<Self>) {
        let Some(lease) = job.lease() else { return };
        let Some(handler) = self.handlers.get(&job.kind).cloned() else { return };
        self.tally.claimed += 1;
        let (cancel, cancel_rx) = watch::channel(false);
        let lease = Arc::new(tokio::sync::Mutex::new(lease));
        let job_ctx = JobContext { store: self.store.clone(), lease: lease.clone(), cancel: cancel_rx };
        let run = JobRun {
            store: self.store.clone(),
            lease_for: self.config.lease,
            heartbeat: self.config.heartbeat,
            backoff: self.config.backoff,
            claim_asked_at,
            pump: ctx.address().recipient(),
        };
        let id = job.id;
        // The task reports back by message, which this actor handles only after this insert.
        let task = tokio::spawn(run_job(run, handler, job, job_ctx, cancel.clone()));
        self.running.jobs.insert(id, Running { cancel, lease, task });
        if let Some(seen) = &mut self.draining {
            seen.insert(id);
        }
        self.running_count.send_replace(self.running.jobs.len());
    }

    fn snapshot(&self) -> PumpSnapshot {
        PumpSnapshot {
            node_id: self.config.node_id.clone(),
            incarnation: self.start.incarnation.clone(),
            kinds: self.kinds.clone(),
            running: self.running.jobs.keys().copied().collect(),
            claimed: self.tally.claimed,
            succeeded: self.tally.succeeded,
            failed: self.tally.failed,
            released: self.tally.released,
            lease_lost: self.tally.lease_lost,
            last_error: self.last_error.clone(),
            last_activity: Some(Timestamp::now()),
            draining: self.draining.is_some(),
        }
    }

    fn publish(&self) {
        let state = match (&self.draining, self.running.jobs.is_empty()) {
            (Some(_), _) => "draining",
            (None, true) => "idle",
            (None, false) => "running",
        };
        self.probe.set_state(state);
        self.probe.set_detail(serde_json::to_value(self.snapshot()).unwrap_or_default());
    }
}

impl Actor for JobPumpActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let node_id = &self.config.node_id;
        if self.kinds.is_empty() {
            tracing::info!(%node_id, "job pump has no handlers; it claims nothing");
        } else {
            let names: Vec<&str> = self.kinds.iter().map(|k| k.as_str()).collect();
            tracing::info!(%node_id, kinds = ?names, restarts = self.restarts, "job pump started");
        }
        self.publish();
        ctx.run_interval(self.config.poll_interval, |act, ctx| act.claim(ctx));
        self.claim(ctx);
    }
}

impl Handler<Wake> for JobPumpActor {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.claim(ctx);
    }
}

impl Handler<JobFinished> for JobPumpActor {
    type Result = ();

    fn handle(&mut self, msg: JobFinished, ctx: &mut Context<Self>) {
        match msg.outcome {
            Finished::Succeeded => self.tally.succeeded += 1,
            Finished::Failed(error) => {
                self.tally.failed += 1;
                self.last_error = Some(error);
            }
            Finished::LeaseLost => self.tally.lease_lost += 1,
            Finished::NotRecorded(error) => self.last_error = Some(error),
            Finished::Released => self.tally.released += 1,
        }
        // Already gone when a shutdown released it just as it finished.
        self.running.jobs.remove(&msg.id);
        self.running_count.send_replace(self.running.jobs.len());
        self.claim(ctx);
        self.publish();
    }
}

impl Handler<Drain> for JobPumpActor {
    type Result = actix::MessageResult<Drain>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.draining.get_or_insert_with(|| self.running.jobs.keys().copied().collect());
        self.publish();
        actix::MessageResult(self.running_count.subscribe())
    }
}

impl Handler<ReleaseRemaining> for JobPumpActor {
    // Not atomic on purpose: the table is emptied before the first await, and a job that finishes
    // while the others are released must still get its `JobFinished` handled.
    type Result = ResponseActFuture<Self, ShutdownReport>;

    fn handle(&mut self, _: ReleaseRemaining, _: &mut Context<Self>) -> Self::Result {
        let left = std::mem::take(&mut self.running.jobs);
        self.running_count.send_replace(0);
        let seen = self.draining.as_ref().map_or(left.len(), |seen| seen.len());
        let finished = seen.saturating_sub(left.len());
        let store = self.store.clone();
        let work = async move { release(store.as_ref(), left, "released: worker shutting down").await };
        Box::pin(work.into_actor(self).map(move |mut report, act, _| {
            report.finished_in_grace += finished;
            act.tally.released += report.released.len() as u64;
            act.publish();
            report
        }))
    }
}

impl Handler<ForcePanic> for JobPumpActor {
    type Result = ();

    fn handle(&mut self, _: ForcePanic, _: &mut Context<Self>) {
        panic!("forced panic in the job pump of {}", self.config.node_id);
    }
}
