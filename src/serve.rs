//! `serve`: wires the roles of one process (ARCHITECTURE.md §1) and shuts them down in order.
//! Start: KEK (fail fast), HTTP and metrics listeners (liveness answers at once), then the store
//! (readiness and the data routes follow it), then the worker. Stop on SIGTERM or SIGINT: not ready,
//! stop claiming and drain or release jobs, stop HTTP gracefully, close the store after its queued
//! writes commit, exit 0.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use certautopilot_actors::audit::AuditHub;
use certautopilot_actors::issuance::{
    AccountHub, CertificateHub, CertificateJobs, DistributeJobs, ForcePanic, IssuanceDeps, IssuanceSettings, ScanJobs,
    Scheduler, TargetHub,
};
use certautopilot_actors::siem_forwarder::{SiemDestination, SiemForwarder};
use certautopilot_actors::{ActorRegistry, JobPump, PumpConfig, RestartBackoff, Spawn, supervise};
use certautopilot_cluster::ClusterNode;
use certautopilot_config::{Config, SiemFormatName, SiemTransportName};
use certautopilot_connectors::siem::{SiemFormat, SiemTransport, TlsDestination};
use certautopilot_connectors::targets::FilePathPolicy;
use certautopilot_core::SystemClock;
use certautopilot_core::jobs::Backoff;
use certautopilot_core::model::Fence;
use certautopilot_core::store::Store;
use tracing::info;

use crate::api::AppState;
use crate::cli::Mode;
use crate::http::{self, Readiness};
use crate::metrics::HttpMetrics;
use crate::tls::ReloadingCertificate;
use crate::wiring::{open_envelope, open_store};

/// How often each process looks at the audit outbox for rows its own signal did not announce
/// (another process's, or a crashed one's), and retries chaining that failed.
const AUDIT_SWEEP: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    // Before anything else: an early SIGHUP would otherwise kill the process (its default action).
    let mut signals = Signals::install()?;
    crate::wiring::create_data_dir(&config)?;
    let actors = ActorRegistry::new();
    let kek = open_envelope(&config, &actors)?;
    let tls = match &config.api.tls {
        Some(tls) => Some(ReloadingCertificate::load(&tls.cert_path, &tls.key_path)?),
        None => None,
    };
    let file_targets = Arc::new(crate::wiring::file_path_policy(&config));
    crate::wiring::raise_open_file_limit(config.api.max_connections);
    let state = Arc::new(
        AppState::new(
            kek.envelope.clone(),
            config.auth.clone(),
            config.jobs.max_attempts,
            config.api.secure_cookies || tls.is_some(),
            Arc::new(SystemClock),
        )
        .with_actors(actors.clone())
        .with_file_targets(file_targets.clone())
        .with_body_timeout(config.api.request_body_timeout)
        .with_acme_directory_check(crate::api::door::DirectoryCheck {
            egress: egress_policy(&config),
            timeout: config.issuance.acme_timeout.min(crate::api::door::MAX_DIRECTORY_WAIT),
        }),
    );
    let readiness = Readiness::default();
    let http_metrics = Arc::new(HttpMetrics::default());

    let api = mode.runs_api();
    let limits = http::ConnectionLimits::new(config.api.max_connections, config.api.max_connections_per_peer);
    let server = {
        let readiness = web::Data::new(readiness.clone());
        let state = web::Data::from(state.clone());
        let http_metrics = http_metrics.clone();
        let body_limit = config.api.body_limit_bytes;
        let https = tls.is_some();
        let limits = limits.clone();
        let server = HttpServer::new(move || {
            http::app(state.clone(), readiness.clone(), http_metrics.clone(), api, body_limit, https)
        })
        .workers(if config.api.workers == 0 { num_workers() } else { config.api.workers })
        .disable_signals()
        .shutdown_timeout(config.api.shutdown_grace.as_secs())
        .client_request_timeout(config.api.request_head_timeout)
        .on_connect(move |io, extensions| limits.on_connect(io, extensions));
        match &tls {
            Some(tls) => server.bind_rustls_0_23(config.api.listen, tls.server_config()),
            None => server.bind(config.api.listen),
        }
        .with_context(|| format!("cannot listen on api.listen {}", config.api.listen))?
    };
    for addr in server.addrs() {
        info!(%addr, mode = mode.as_str(), node_id = %config.node.id, rest_api = api, https = tls.is_some(), "api listening");
    }
    let server = server.run();
    let server_handle = server.handle();
    let server_task = actix_web::rt::spawn(server);

    let siem_snapshots = crate::metrics::SiemSnapshots::default();
    let metrics_server = if config.metrics.enabled {
        let state = state.clone();
        let http_metrics = http_metrics.clone();
        let siem_snapshots = siem_snapshots.clone();
        let server = HttpServer::new(move || {
            let (state, http_metrics, siem) = (state.clone(), http_metrics.clone(), siem_snapshots.clone());
            let limits = limits.clone();
            App::new().route(
                "/metrics",
                web::get().to(move || {
                    let (state, http_metrics, siem) = (state.clone(), http_metrics.clone(), siem.clone());
                    let limits = limits.clone();
                    async move {
                        let mut body = crate::metrics::render(&http_metrics, state.store().ok(), &siem).await;
                        limits.render_metrics(&mut body);
                        actix_web::HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
                    }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .bind(config.metrics.listen)
        .with_context(|| format!("cannot listen on metrics.listen {}", config.metrics.listen))?;
        for addr in server.addrs() {
            info!(%addr, "metrics listening");
        }
        let server = server.run();
        let handle = server.handle();
        Some((handle, actix_web::rt::spawn(server)))
    } else {
        None
    };

    let store = match open_store(&config).await {
        Ok(store) => store,
        Err(e) => {
            server_handle.stop(false).await;
            return Err(e);
        }
    };
    // A KEK that cannot open the store would answer 500 to every login while looking ready (issue 15).
    if let Err(e) = crate::kek_check::require_kek_opens_store(&config, store.as_ref(), &kek.envelope).await {
        server_handle.stop(false).await;
        return Err(e);
    }
    readiness.check_kek(store.clone() as Arc<dyn Store>, kek.envelope.clone());
    readiness.check_store_writable(store.clone() as Arc<dyn Store>);
    state.set_store(store.clone() as Arc<dyn Store>);
    let cluster = match &config.cluster {
        Some(settings) => match ClusterNode::start(settings.clone()).await {
            Ok(node) => {
                if !mode.runs_scheduler() {
                    tracing::warn!(
                        mode = mode.as_str(),
                        "this node takes part in the cluster but runs no scheduler: join it as a learner \
                         (cluster join --learner), or if it is elected leader nothing is scheduled"
                    );
                }
                let node = Arc::new(node);
                state.set_cluster(node.clone());
                Some(node)
            }
            Err(e) => {
                server_handle.stop(false).await;
                return Err(anyhow::Error::new(e).context("cannot start the cluster node"));
            }
        },
        None => None,
    };
    // Issuance: the account and certificate actors on their own arbiter (thread), shared by the
    // worker's job handlers; the scheduler enqueues renewals.
    let issuance_arbiter = actix_rt::Arbiter::new();
    // Every mode writes audited changes, so every process chains its organizations' outboxes.
    let audit = AuditHub::start(
        store.clone() as Arc<dyn Store>,
        kek.envelope.clone(),
        &actors,
        issuance_arbiter.handle(),
        AUDIT_SWEEP,
    );
    state.set_audit(audit.clone());
    readiness.set_ready();
    info!("ready");

    let issuance = IssuanceDeps::new(
        store.clone() as Arc<dyn Store>,
        kek.envelope.clone(),
        actors.clone(),
        issuance_settings(&config, file_targets.clone()),
        config.node.id.clone(),
    );
    let certificates = CertificateHub::start(
        issuance.clone(),
        AccountHub::new(issuance.clone(), issuance_arbiter.handle()),
        issuance_arbiter.handle(),
    );
    let targets = TargetHub::new(issuance.clone(), issuance_arbiter.handle());
    let pump = mode.runs_worker().then(|| {
        let pump_config = PumpConfig {
            node_id: config.node.id.clone(),
            concurrency: config.jobs.concurrency,
            lease: config.jobs.lease,
            heartbeat: config.jobs.heartbeat,
            poll_interval: config.jobs.poll_interval,
            backoff: Backoff { base: config.jobs.backoff_base, max: config.jobs.backoff_max },
        };
        let rotate_kek = crate::kek::RotateKekHandler {
            store: store.clone() as Arc<dyn Store>,
            envelope: state.envelope.clone(),
            kek: kek.client(),
        };
        let mut pump = JobPump::new(store.clone(), pump_config).with_handler(Arc::new(rotate_kek));
        for handler in CertificateJobs::all(&certificates) {
            pump = pump.with_handler(Arc::new(handler));
        }
        pump = pump.with_handler(Arc::new(DistributeJobs { hub: targets.clone() }));
        pump = pump.with_handler(Arc::new(ScanJobs { hub: targets.clone() }));
        Arc::new(pump.start())
    });
    // Enqueues in this process wake its worker at once. Weak: shutdown needs the only reference.
    let wake: Arc<dyn Fn() + Send + Sync> = {
        let pump = pump.as_ref().map(Arc::downgrade);
        Arc::new(move || {
            if let Some(pump) = pump.as_ref().and_then(std::sync::Weak::upgrade) {
                pump.wake();
            }
        })
    };
    state.set_waker(wake.clone());
    issuance.set_waker(wake.clone());
    if config.fault_injection {
        tracing::warn!("debug.fault_injection is on: owners can make actors panic");
        let hub = certificates.clone();
        state.set_fault_injector(Arc::new(move |kind: String, key: String| {
            let hub = hub.clone();
            Box::pin(async move {
                if kind != "certificate" {
                    return Err(format!("only certificate actors take forced panics, not {kind}"));
                }
                let id = key.parse().map_err(|_| "not a certificate id".to_owned())?;
                // The panicking message gets no answer; the restart is what callers watch for.
                let _ = hub.actor(id).send(ForcePanic).await;
                Ok(())
            })
        }));
    }
    let pump_probe = pump.as_ref().map(|pump| publish_pump(&actors, &config.node.id, Arc::downgrade(pump)));
    let roles = Arc::new(RoleContext {
        config: config.clone(),
        actors: actors.clone(),
        issuance: issuance.clone(),
        arbiter: issuance_arbiter.handle(),
        store: store.clone(),
        wake: wake.clone(),
        siem_snapshots: siem_snapshots.clone(),
    });
    // The scheduler role (renewal scans, the KEK rotation timer, SIEM forwarding): here for good when
    // this process schedules alone, or while this node leads the cluster, under its term.
    let (stop_scheduling, scheduling_stopped) = tokio::sync::watch::channel(false);
    let scheduling = match (&cluster, mode.runs_scheduler()) {
        (_, false) => None,
        (None, true) => Some(actix_web::rt::spawn(schedule_alone(roles.clone(), scheduling_stopped))),
        (Some(node), true) => {
            Some(actix_web::rt::spawn(follow_leadership(roles.clone(), node.leadership(), scheduling_stopped)))
        }
    };

    let signal = signals.wait_for_shutdown(tls.as_deref()).await;
    info!(signal, grace_secs = config.api.shutdown_grace.as_secs(), "shutting down");
    readiness.set_draining();
    // Both drains share the one grace period, so a stop fits in it (and in systemd's TimeoutStopSec).
    let _ = stop_scheduling.send(true);
    if let Some(scheduling) = scheduling {
        let _ = scheduling.await;
    }
    let drain_jobs = async {
        match pump.map(Arc::try_unwrap) {
            Some(Ok(pump)) => {
                pump.shutdown(config.api.shutdown_grace).await;
            }
            Some(Err(_)) => tracing::warn!("job pump still shared at shutdown; its leases will expire instead"),
            None => {}
        }
    };
    tokio::join!(drain_jobs, server_handle.stop(true));
    let _ = server_task.await;
    if let Some((handle, task)) = metrics_server {
        handle.stop(true).await;
        let _ = task.await;
    }
    if let Some(probe) = pump_probe {
        probe.abort();
    }
    if let Some(node) = &cluster {
        node.shutdown().await;
    }
    certificates.stop().await;
    targets.stop().await;
    // Last of the writers: what the stopped components committed gets chained before we go.
    audit.stop().await;
    issuance_arbiter.stop();
    // Nothing seals or opens any more: the KEK actor can go.
    kek.service.stop().await;
    // The writer thread commits what is queued before the store goes away.
    drop(state);
    drop(store);
    info!("stopped");
    Ok(())
}

/// What the scheduler role needs to start, as often as leadership comes back.
struct RoleContext {
    config: Config,
    actors: ActorRegistry,
    issuance: IssuanceDeps,
    arbiter: actix_rt::ArbiterHandle,
    store: Arc<certautopilot_core::store::sqlite::SqliteStore>,
    wake: Arc<dyn Fn() + Send + Sync>,
    siem_snapshots: crate::metrics::SiemSnapshots,
}

/// The scheduler, the KEK rotation timer and the SIEM forwarders of one term (or of a process that
/// schedules alone, `fence = None`).
struct SchedulerRole {
    scheduler: certautopilot_actors::Supervised<Scheduler>,
    stop_timers: tokio::sync::watch::Sender<bool>,
    kek_timer: Option<tokio::task::JoinHandle<()>>,
    forwarders: Vec<certautopilot_actors::siem_forwarder::ForwarderHandle>,
}

impl SchedulerRole {
    fn start(ctx: &RoleContext, fence: Option<Fence>) -> Self {
        let config = &ctx.config;
        let term = fence.as_ref().map(|f| f.term);
        let scheduler = {
            let (deps, wake, max_attempts) = (ctx.issuance.clone(), ctx.wake.clone(), config.jobs.max_attempts);
            supervise(
                &ctx.actors,
                certautopilot_actors::issuance::scheduler_kind(),
                config.node.id.clone(),
                &ctx.arbiter,
                RestartBackoff::default(),
                move |s: Spawn| {
                    Scheduler::new(deps.clone(), max_attempts, wake.clone(), s.probe, s.lifeline, fence.clone())
                },
            )
        };
        let (stop_timers, timers_stop) = tokio::sync::watch::channel(false);
        let kek_timer = config.kek_rotate_every.map(|period| {
            let wake = ctx.wake.clone();
            actix_web::rt::spawn(crate::kek::schedule_rotations(
                ctx.store.clone() as Arc<dyn Store>,
                period,
                config.jobs.max_attempts,
                move || wake(),
                timers_stop,
            ))
        });
        let forwarders: Vec<_> = config.siem.iter().filter_map(|s| start_forwarder(ctx, s)).collect();
        info!(
            term,
            siem_destinations = forwarders.len(),
            renewal_scan_secs = config.issuance.renewal_scan.as_secs(),
            "scheduler role active: renewal scans, KEK rotation timer, SIEM forwarding"
        );
        SchedulerRole { scheduler, stop_timers, kek_timer, forwarders }
    }

    async fn stop(self, ctx: &RoleContext) {
        let _ = self.stop_timers.send(true);
        if let Some(timer) = self.kek_timer {
            let _ = timer.await;
        }
        self.scheduler.stop().await;
        // Forwarders stop together; one stuck on a dead destination cannot hold the others up.
        let stopping: Vec<_> = self.forwarders.into_iter().map(|f| actix_web::rt::spawn(f.shutdown())).collect();
        let all = async {
            for f in stopping {
                let _ = f.await;
            }
        };
        if tokio::time::timeout(ctx.config.api.shutdown_grace, all).await.is_err() {
            tracing::warn!("siem forwarders did not stop within the grace period; their last batch will be sent again");
        }
        ctx.siem_snapshots.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

fn start_forwarder(
    ctx: &RoleContext,
    s: &certautopilot_config::SiemConfig,
) -> Option<certautopilot_actors::siem_forwarder::ForwarderHandle> {
    let destination = SiemDestination {
        name: s.name.clone(),
        format: match s.format {
            SiemFormatName::Rfc5424 => SiemFormat::Rfc5424,
            SiemFormatName::Cef => SiemFormat::Cef,
        },
        transport: match s.transport {
            SiemTransportName::Udp => SiemTransport::Udp(s.address),
            SiemTransportName::Tcp => SiemTransport::Tcp(s.address),
            SiemTransportName::Tls => {
                // Validation guarantees the settings; a config built otherwise is skipped, loudly.
                let Some(tls) = s.tls.as_ref() else {
                    tracing::error!(destination = %s.name, "transport tls without tls settings; destination skipped");
                    return None;
                };
                SiemTransport::Tls(TlsDestination {
                    addr: s.address,
                    server_name: tls.server_name.clone(),
                    ca_path: tls.ca_path.clone(),
                    client_cert: tls.client_cert.clone(),
                })
            }
            SiemTransportName::Relp => SiemTransport::Relp(s.address),
        },
        batch: s.batch,
        backlog_warn: s.backlog_warn,
    };
    let handle = SiemForwarder::new(ctx.store.clone(), destination, ctx.config.node.id.clone()).start();
    ctx.siem_snapshots.write().unwrap_or_else(|p| p.into_inner()).push(handle.shared_snapshot());
    Some(handle)
}

async fn schedule_alone(ctx: Arc<RoleContext>, mut stopped: tokio::sync::watch::Receiver<bool>) {
    let role = SchedulerRole::start(&ctx, None);
    let _ = stopped.wait_for(|s| *s).await;
    role.stop(&ctx).await;
}

/// Runs the scheduler role exactly while this node leads, under the term it leads in; a new term
/// (lost and won back) gets a new role with the new fence.
async fn follow_leadership(
    ctx: Arc<RoleContext>,
    mut leadership: tokio::sync::watch::Receiver<certautopilot_cluster::Leadership>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
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

fn issuance_settings(config: &Config, file_targets: Arc<FilePathPolicy>) -> IssuanceSettings {
    let i = &config.issuance;
    IssuanceSettings {
        acme_timeout: i.acme_timeout,
        order_timeout: i.order_timeout,
        poll_initial: i.poll_initial,
        poll_max: i.poll_max,
        dns_propagation_timeout: i.dns_propagation_timeout,
        dns_query_timeout: i.dns_query_timeout,
        renewal_scan: i.renewal_scan,
        passivate_after: i.passivate_after,
        rate_limit_pause: i.rate_limit_pause,
        scan_every: i.scan_every,
        file_targets,
        egress: egress_policy(config),
    }
}

/// The `[egress]` policy every connector checks its addresses against.
fn egress_policy(config: &Config) -> certautopilot_connectors::egress::EgressPolicy {
    let e = &config.egress;
    certautopilot_connectors::egress::EgressPolicy::new(e.allow.clone(), e.deny.clone(), e.allow_loopback)
}

/// The job pump in the actor registry: its snapshot, published every second.
fn publish_pump(
    actors: &ActorRegistry,
    node: &str,
    pump: std::sync::Weak<certautopilot_actors::JobPumpHandle>,
) -> tokio::task::JoinHandle<()> {
    let probe = actors.register("job_pump", node);
    tokio::spawn(async move {
        while let Some(pump) = pump.upgrade() {
            let snapshot = pump.snapshot();
            drop(pump);
            probe.set_state(if snapshot.running.is_empty() { "idle" } else { "running" });
            probe.set_detail(serde_json::to_value(&snapshot).unwrap_or_default());
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    })
}

fn num_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; SIGHUP meanwhile reloads the TLS certificate.
    async fn wait_for_shutdown(&mut self, tls: Option<&ReloadingCertificate>) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => match tls {
                    Some(tls) => match tls.reload() {
                        Ok(()) => info!("tls certificate reloaded"),
                        Err(e) => tracing::warn!(error = %format!("{e:#}"), "tls certificate reload failed; still serving the previous one"),
                    },
                    None => info!("SIGHUP received; nothing to reload (no api.tls)"),
                },
            }
        }
    }
}
