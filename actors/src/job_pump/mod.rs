//! The job pump of one worker node: claims due jobs of the kinds it has handlers for, runs them with
//! bounded concurrency, heartbeats their leases, and records the outcome. A supervised actor
//! (`job_pump`, keyed by node id) whose snapshot is in the registry.
//! Invariants: a job is only finished through the lease it was claimed with; on shutdown the pump
//! stops claiming, lets in-flight jobs finish within the grace period, then releases what is left, so
//! a restart neither loses a job nor spends an attempt on it. A pump instance that dies (a panic)
//! releases the jobs it held the same way, and its successor claims them again. A process that
//! died without releasing (SIGKILL, a crash) left leases under its incarnation: the next start of
//! the same node ends them before its first claim (`reclaim_own_leases`), instead of waiting them out.

mod actor;
mod handler;
mod messages;
mod run;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use actix::ArbiterHandle;
use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::JobKind;
use certautopilot_core::store::Store;
use certautopilot_core::{JobId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::registry::ActorRegistry;
use crate::supervisor::{RestartBackoff, Spawn, Supervised, supervise};

pub use actor::JobPumpActor;
pub use handler::{JobContext, JobError, JobHandler};
pub use messages::{Drain, JobFinished, ReleaseRemaining, Wake};

/// The registry kind of the job pump; its key is the node id.
pub const KIND: &str = "job_pump";

#[derive(Debug, Clone)]
pub struct PumpConfig {
    pub node_id: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub heartbeat: Duration,
    pub poll_interval: Duration,
    pub backoff: Backoff,
}

/// What the pump is doing: the registry snapshot's `detail`. Secret-free. The counters are the
/// current instance's (a restarted pump starts them again; the registry counts the restarts).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PumpSnapshot {
    pub node_id: String,
    /// This start of the node, recorded with every lease it takes.
    pub incarnation: String,
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

/// Builds a pump: the store, the configuration and one handler per job kind.
pub struct JobPump {
    store: Arc<dyn Store>,
    handlers: HashMap<JobKind, Arc<dyn JobHandler>>,
    config: PumpConfig,
    incarnation: String,
}

impl JobPump {
    /// A pump for one start of the node: a new incarnation id (uuid v7, so later starts sort later
    /// in the store), kept by every instance the supervisor spawns for it.
    pub fn new(store: Arc<dyn Store>, config: PumpConfig) -> Self {
        JobPump { store, handlers: HashMap::new(), config, incarnation: uuid::Uuid::now_v7().to_string() }
    }

    /// The incarnation id this pump's leases carry.
    pub fn incarnation(&self) -> &str {
        &self.incarnation
    }

    pub fn with_handler(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.insert(handler.kind(), handler);
        self
    }

    /// Starts the pump on `arbiter` under supervision, registered as (`job_pump`, node id).
    pub fn start(self, registry: &ActorRegistry, arbiter: &ArbiterHandle) -> JobPumpHandle {
        let mut kinds: Vec<JobKind> = self.handlers.keys().copied().collect();
        kinds.sort_by_key(|k| k.as_str());
        let (store, handlers, config) = (self.store, Arc::new(self.handlers), self.config);
        let start = PumpStart { incarnation: self.incarnation, reclaimed: Arc::new(AtomicBool::new(false)) };
        let key = config.node_id.clone();
        let actor = supervise(registry, KIND, key, arbiter, RestartBackoff::default(), move |spawn: Spawn| {
            JobPumpActor::new(store.clone(), handlers.clone(), kinds.clone(), config.clone(), start.clone(), spawn)
        });
        JobPumpHandle { actor }
    }
}

/// What every instance of one pump shares: the start of the node it runs for.
#[derive(Clone)]
pub(crate) struct PumpStart {
    pub incarnation: String,
    /// Set once the former incarnations' leases were ended; until then each claim tries first (an
    /// instance that died before it succeeded leaves the task to its successor).
    pub reclaimed: Arc<AtomicBool>,
}

/// Reaches the current pump instance, whichever it is.
#[derive(Clone)]
pub struct JobPumpHandle {
    actor: Supervised<JobPumpActor>,
}

impl JobPumpHandle {
    /// Looks for work now instead of at the next poll (called after an enqueue in this process).
    /// Best effort: a wake lost to a restarting pump is made up by the next poll.
    pub fn wake(&self) {
        self.actor.addr().do_send(Wake);
    }

    /// The last snapshot the pump published (also while it restarts).
    pub fn snapshot(&self) -> PumpSnapshot {
        self.actor.detail()
    }

    /// The supervised actor, for inspection and fault injection.
    pub fn actor(&self) -> &Supervised<JobPumpActor> {
        &self.actor
    }

    /// Makes the current instance panic (tests and `debug.fault_injection`).
    pub async fn force_panic(&self) {
        self.actor.force_panic().await;
    }

    /// Stops claiming, waits up to `grace` for running jobs, then cancels and releases the rest,
    /// and stops the actor.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let report = match self.actor.send(Drain).await {
            Ok(mut running) => {
                // An error means the instance died meanwhile; it released its jobs as it went.
                let _ = tokio::time::timeout(grace, running.wait_for(|n| *n == 0)).await;
                self.actor.send(ReleaseRemaining).await.unwrap_or_default()
            }
            Err(e) => {
                tracing::warn!(error = %e, "job pump unavailable at shutdown; its jobs were released when it died");
                ShutdownReport::default()
            }
        };
        self.actor.stop().await;
        tracing::info!(finished = report.finished_in_grace, released = report.released.len(), "job pump stopped");
        report
    }
}
