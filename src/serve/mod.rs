//! `serve`: wires the roles of one process (ARCHITECTURE.md §1) and shuts them down in order.
//! Start: KEK (fail fast), HTTP and metrics listeners (liveness answers at once), then the store
//! (readiness and the data routes follow it), then the actors: audit, issuance, the worker's job
//! pump, and the scheduler role. Stop on SIGTERM or SIGINT: not ready, stop scheduling, stop claiming
//! and drain or release jobs, stop HTTP gracefully, close the store after its queued writes commit,
//! exit 0. Each step is one function below; the actors themselves live in the actors crate.

mod listeners;
mod scheduler_role;
mod sd_notify;
mod signals;
mod worker;

use std::sync::Arc;

use certautopilot_actors::audit::AuditHub;
use certautopilot_actors::distribution::TargetHub;
use certautopilot_actors::issuance::{AccountHub, CertificateHub, IssuanceDeps, IssuanceSettings};
use certautopilot_actors::{ActorRegistry, JobPumpHandle};
use certautopilot_cluster::ClusterNode;
use certautopilot_config::Config;
use certautopilot_connectors::targets::FilePathPolicy;
use certautopilot_core::store::Store;
use tracing::info;

use self::listeners::Front;
use self::scheduler_role::{RoleContext, Scheduling};
use self::signals::Signals;
use crate::cli::Mode;
use crate::wiring::{Kek, open_envelope, open_store};

/// How often each process looks at the audit outbox for rows its own signal did not announce
/// (another process's, or a crashed one's), and retries chaining that failed.
const AUDIT_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    // Before anything else: an early SIGHUP would otherwise kill the process (its default action).
    let mut signals = Signals::install()?;
    crate::wiring::create_data_dir(&config)?;
    let actors = ActorRegistry::new();
    let kek = open_envelope(&config, &actors)?;
    let front = Front::start(&config, mode, &kek, &actors)?;
    let backend = match Backend::open(&config, mode, &kek, &front).await {
        Ok(backend) => backend,
        Err(e) => {
            front.api.handle.stop(false).await;
            return Err(e);
        }
    };
    let services = Services::start(&config, mode, &kek, &actors, &front, &backend);
    let systemd = sd_notify::Notifier::from_env();
    systemd.ready();
    systemd.keep_watchdog();
    let signal = signals.wait_for_shutdown(front.tls.as_deref()).await;
    systemd.stopping();
    info!(signal, grace_secs = config.api.shutdown_grace.as_secs(), "shutting down");
    shut_down(&config, kek, front, backend, services).await;
    info!("stopped");
    Ok(())
}

/// The store (checked to open with this KEK) and, with `[cluster]`, this node's membership.
struct Backend {
    /// SQLite or MongoDB, as `store.backend` says.
    store: Arc<dyn Store>,
    cluster: Option<Arc<ClusterNode>>,
}

impl Backend {
    async fn open(config: &Config, mode: Mode, kek: &Kek, front: &Front) -> anyhow::Result<Self> {
        let store = open_store(config).await?;
        // A KEK that cannot open the store would answer 500 to every login while looking ready (issue 15).
        crate::kek_check::require_kek_opens_store(config, store.as_ref(), &kek.envelope).await?;
        front.readiness.check_kek(store.clone(), kek.envelope.clone());
        front.readiness.check_store_writable(store.clone());
        let watch = crate::service::health::SchedulerWatch {
            absent_after: config.issuance.scheduler_absent_after,
            started: front.state.started_at,
        };
        front.readiness.report_scheduler(store.clone(), watch);
        front.state.set_store(store.clone());
        let cluster = match &config.cluster {
            Some(settings) => Some(join_cluster(settings, mode, front).await?),
            None => None,
        };
        Ok(Backend { store, cluster })
    }
}

async fn join_cluster(
    settings: &certautopilot_config::ClusterConfig,
    mode: Mode,
    front: &Front,
) -> anyhow::Result<Arc<ClusterNode>> {
    let node = ClusterNode::start(settings.clone())
        .await
        .map_err(|e| anyhow::Error::new(e).context("cannot start the cluster node"))?;
    if !mode.runs_scheduler() {
        tracing::warn!(
            mode = mode.as_str(),
            "this node takes part in the cluster but runs no scheduler: join it as a learner \
             (cluster join --learner), or if it is elected leader nothing is scheduled"
        );
    }
    let node = Arc::new(node);
    front.state.set_cluster(node.clone());
    Ok(node)
}

/// The actors of this process, in the order they stop.
struct Services {
    scheduling: Scheduling,
    pump: Option<JobPumpHandle>,
    certificates: CertificateHub,
    targets: TargetHub,
    audit: AuditHub,
    issuance_arbiter: actix_rt::Arbiter,
}

impl Services {
    fn start(config: &Config, mode: Mode, kek: &Kek, actors: &ActorRegistry, front: &Front, backend: &Backend) -> Self {
        let store = backend.store.clone();
        // Issuance: the account and certificate actors on their own arbiter (thread), shared by the
        // worker's job handlers; the scheduler enqueues renewals.
        let issuance_arbiter = actix_rt::Arbiter::new();
        // Every mode writes audited changes, so every process chains its organizations' outboxes.
        let audit =
            AuditHub::start(store.clone(), kek.envelope.clone(), actors, issuance_arbiter.handle(), AUDIT_SWEEP);
        front.state.set_audit(audit.clone());
        front.readiness.set_ready();
        info!("ready");

        let issuance = IssuanceDeps::new(
            store.clone(),
            kek.envelope.clone(),
            actors.clone(),
            issuance_settings(config, front.file_targets.clone()),
            config.node.id.clone(),
        );
        let certificates = CertificateHub::start(
            issuance.clone(),
            AccountHub::new(issuance.clone(), issuance_arbiter.handle()),
            issuance_arbiter.handle(),
        );
        let targets = TargetHub::new(issuance.clone(), issuance_arbiter.handle());
        let pump =
            mode.runs_worker().then(|| worker::start_pump(config, actors, store.clone(), kek, &certificates, &targets));
        let wake = worker::waker(pump.as_ref());
        front.state.set_waker(wake.clone());
        issuance.set_waker(wake.clone());
        let roles = Arc::new(RoleContext {
            config: config.clone(),
            actors: actors.clone(),
            issuance,
            arbiter: issuance_arbiter.handle(),
            store,
            wake,
            forwarders: Default::default(),
        });
        if config.fault_injection {
            tracing::warn!("debug.fault_injection is on: owners can make actors panic");
            front.state.set_fault_injector(worker::fault_injector(&certificates, pump.as_ref(), &roles.forwarders));
        }
        let scheduling = Scheduling::start(roles, mode, backend.cluster.as_ref());
        Services { scheduling, pump, certificates, targets, audit, issuance_arbiter }
    }
}

/// Stops everything in order, within the one grace period both drains share (so a stop fits in it,
/// and in systemd's TimeoutStopSec).
async fn shut_down(config: &Config, kek: Kek, front: Front, backend: Backend, services: Services) {
    front.readiness.set_draining();
    services.scheduling.stop().await;
    let drain_jobs = async {
        if let Some(pump) = &services.pump {
            pump.shutdown(config.api.shutdown_grace).await;
        }
    };
    tokio::join!(drain_jobs, front.api.stop(true));
    if let Some(metrics) = front.metrics {
        metrics.stop(true).await;
    }
    if let Some(node) = &backend.cluster {
        node.shutdown().await;
    }
    services.certificates.stop().await;
    services.targets.stop().await;
    // Last of the writers: what the stopped components committed gets chained before we go.
    services.audit.stop().await;
    services.issuance_arbiter.stop();
    // Nothing seals or opens any more: the KEK actor can go.
    kek.service.stop().await;
    // SQLite's writer thread commits what is queued before the store goes away (MongoDB's writes
    // have all been answered by now).
    drop(front.state);
    drop(backend.store);
}

fn issuance_settings(config: &Config, file_targets: Arc<FilePathPolicy>) -> IssuanceSettings {
    IssuanceSettings { timings: config.issuance.clone(), file_targets, egress: egress_policy(config) }
}

/// The `[egress]` policy every connector checks its addresses against.
fn egress_policy(config: &Config) -> certautopilot_connectors::egress::EgressPolicy {
    let e = &config.egress;
    certautopilot_connectors::egress::EgressPolicy::new(e.allow.clone(), e.deny.clone(), e.allow_loopback)
}
