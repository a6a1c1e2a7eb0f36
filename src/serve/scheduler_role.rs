//! The scheduler role of a `serve` process: the Scheduler actor (renewal scans, drift scans, KEK
//! rotations) and the SIEM forwarders. Here for good when this process schedules alone, or while
//! this node leads the cluster, under its term. Invariant: at most one role is active per process,
//! and a new term gets a new role with the new fence.

use std::sync::{Arc, Mutex};

use certautopilot_actors::audit_archive::ArchiveSettings;
use certautopilot_actors::audit_verifier::{AuditVerifierHandle, start_audit_verifier};
use certautopilot_actors::issuance::{IssuanceDeps, Scheduler};
use certautopilot_actors::notify::{NotifySettings, RouterHandle, start_router};
use certautopilot_actors::siem_forwarder::{ForwarderHandle, SiemDestination, SiemForwarder};
use certautopilot_actors::{ActorRegistry, RestartBackoff, Spawn, Supervised, supervise};
use certautopilot_cluster::{ClusterNode, Leadership};
use certautopilot_config::Config;
use certautopilot_connectors::siem::{SiemTransport, TlsDestination};
use certautopilot_core::model::Fence;
use certautopilot_core::store::Store;
use tokio::sync::watch;
use tracing::info;

use crate::cli::Mode;

/// The live SIEM forwarders of the active role, by destination, for fault injection.
pub(super) type LiveForwarders = Arc<Mutex<Vec<ForwarderHandle>>>;

/// What the scheduler role needs to start, as often as leadership comes back.
pub(super) struct RoleContext {
    pub config: Config,
    pub actors: ActorRegistry,
    pub issuance: IssuanceDeps,
    pub arbiter: actix_rt::ArbiterHandle,
    pub store: Arc<dyn Store>,
    pub wake: Arc<dyn Fn() + Send + Sync>,
    pub forwarders: LiveForwarders,
}

/// The running scheduler role, stopped with `stop` (it waits for the role to end).
pub(super) struct Scheduling {
    stop: watch::Sender<bool>,
    task: Option<actix_web::rt::task::JoinHandle<()>>,
}

impl Scheduling {
    /// Starts the role as `mode` and the cluster say: never, for good, or while this node leads.
    pub(super) fn start(ctx: Arc<RoleContext>, mode: Mode, cluster: Option<&Arc<ClusterNode>>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = match (cluster, mode.runs_scheduler()) {
            (_, false) => None,
            (None, true) => Some(actix_web::rt::spawn(schedule_alone(ctx, stopped))),
            (Some(node), true) => Some(actix_web::rt::spawn(follow_leadership(ctx, node.leadership(), stopped))),
        };
        Scheduling { stop, task }
    }

    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task {
            let _ = task.await;
        }
    }
}

/// The Scheduler, the SIEM forwarders and the notification router of one term (or of a process
/// that schedules alone, `fence = None`).
struct SchedulerRole {
    scheduler: Supervised<Scheduler>,
    forwarders: Vec<ForwarderHandle>,
    router: RouterHandle,
    verifier: AuditVerifierHandle,
}

/// How often the audit verifier looks for entries past each organization's verified mark.
const AUDIT_VERIFY_POLL: std::time::Duration = std::time::Duration::from_secs(2);
/// The most entries one archive segment holds (one store transaction deletes them).
const AUDIT_SEGMENT_MAX_ENTRIES: u64 = 10_000;

impl SchedulerRole {
    fn start(ctx: &RoleContext, fence: Option<Fence>) -> Self {
        let config = &ctx.config;
        let term = fence.as_ref().map(|f| f.term);
        let router_fence = fence.clone();
        let scheduler = {
            let (deps, wake, max_attempts) = (ctx.issuance.clone(), ctx.wake.clone(), config.jobs.max_attempts);
            let kek_rotation = config.kek_rotate_every;
            supervise(
                &ctx.actors,
                certautopilot_actors::issuance::scheduler_kind(),
                config.node.id.clone(),
                &ctx.arbiter,
                RestartBackoff::default(),
                move |s: Spawn| {
                    Scheduler::new(deps.clone(), max_attempts, wake.clone(), s.probe, s.lifeline, fence.clone())
                        .with_kek_rotation(kek_rotation)
                },
            )
        };
        let forwarders: Vec<_> = config.siem.iter().filter_map(|s| start_forwarder(ctx, s)).collect();
        let router =
            start_router(ctx.issuance.clone(), notify_settings(config), router_fence, &ctx.actors, &ctx.arbiter);
        let issuance = &ctx.issuance;
        let verifier = start_audit_verifier(
            issuance.store.clone(),
            issuance.envelope.clone(),
            config.node.id.clone(),
            AUDIT_VERIFY_POLL,
            ArchiveSettings {
                dir: config.audit.archive_dir.clone(),
                siem_destinations: config.siem.iter().map(|s| s.name.clone()).collect(),
                max_entries: AUDIT_SEGMENT_MAX_ENTRIES,
            },
            &ctx.actors,
            &ctx.arbiter,
        );
        *ctx.forwarders.lock().unwrap_or_else(|p| p.into_inner()) = forwarders.clone();
        info!(
            term,
            siem_destinations = forwarders.len(),
            renewal_scan_secs = config.issuance.renewal_scan.as_secs(),
            "scheduler role active: renewal scans, KEK rotation timer, SIEM forwarding, notifications, audit verification"
        );
        SchedulerRole { scheduler, forwarders, router, verifier }
    }

    async fn stop(self, ctx: &RoleContext) {
        self.scheduler.stop().await;
        self.router.shutdown().await;
        self.verifier.shutdown().await;
        ctx.forwarders.lock().unwrap_or_else(|p| p.into_inner()).clear();
        // Forwarders stop together; one stuck on a dead destination cannot hold the others up.
        let stopping: Vec<_> =
            self.forwarders.into_iter().map(|f| actix_web::rt::spawn(async move { f.shutdown().await })).collect();
        let all = async {
            for f in stopping {
                let _ = f.await;
            }
        };
        if tokio::time::timeout(ctx.config.api.shutdown_grace, all).await.is_err() {
            tracing::warn!("siem forwarders did not stop within the grace period; their last batch will be sent again");
        }
    }
}

/// `[notifications]` as the router and the notify jobs use it.
pub(super) fn notify_settings(config: &Config) -> NotifySettings {
    NotifySettings {
        sweep: config.notifications.sweep,
        max_attempts: config.notifications.max_attempts,
        send_timeout: config.notifications.send_timeout,
        ..NotifySettings::default()
    }
}

fn start_forwarder(ctx: &RoleContext, s: &certautopilot_config::SiemConfig) -> Option<ForwarderHandle> {
    let destination = SiemDestination {
        name: s.name.clone(),
        format: s.format,
        transport: {
            let tls = s.tls.as_ref().map(|tls| TlsDestination {
                addr: s.address,
                server_name: tls.server_name.clone(),
                ca_path: tls.ca_path.clone(),
                client_cert: tls.client_cert.clone(),
            });
            // Validation guarantees the TLS settings; a config built otherwise is skipped, loudly.
            let Some(transport) = SiemTransport::new(s.transport, s.address, tls) else {
                tracing::error!(destination = %s.name, "transport tls without tls settings; destination skipped");
                return None;
            };
            transport
        },
        batch: s.batch,
        backlog_warn: s.backlog_warn,
    };
    let forwarder = SiemForwarder::new(ctx.store.clone(), destination, ctx.config.node.id.clone());
    Some(forwarder.start(&ctx.actors, &ctx.arbiter))
}

async fn schedule_alone(ctx: Arc<RoleContext>, mut stopped: watch::Receiver<bool>) {
    let role = SchedulerRole::start(&ctx, None);
    let _ = stopped.wait_for(|s| *s).await;
    role.stop(&ctx).await;
}

/// Runs the scheduler role exactly while this node leads, under the term it leads in; a new term
/// (lost and won back) gets a new role with the new fence.
async fn follow_leadership(
    ctx: Arc<RoleContext>,
    mut leadership: watch::Receiver<Leadership>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut current: Option<(u64, SchedulerRole)> = None;
    loop {
        let now = *leadership.borrow_and_update();
        let keep = matches!(&current, Some((term, _)) if now.active && *term == now.term);
        if !keep {
            if let Some((term, role)) = current.take() {
                info!(term, "scheduler role stopping: this node no longer leads in that term");
                role.stop(&ctx).await;
            }
            if now.active {
                let fence = Fence::new(now.term, ctx.config.node.id.clone());
                current = Some((now.term, SchedulerRole::start(&ctx, Some(fence))));
            }
        }
        tokio::select! {
            changed = leadership.changed() => if changed.is_err() { break },
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    if let Some((_, role)) = current {
        role.stop(&ctx).await;
    }
}
