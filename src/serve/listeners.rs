//! The front of a `serve` process: the application state, readiness, and the HTTP listeners (the
//! API with its probes, and the metrics endpoint). They start before the store opens, so liveness
//! answers at once; readiness and the data routes follow the store.

use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use certautopilot_actors::ActorRegistry;
use certautopilot_config::Config;
use certautopilot_connectors::targets::FilePathPolicy;
use certautopilot_core::SystemClock;
use tracing::info;

use crate::cli::Mode;
use crate::http::{self, ConnectionLimits, Readiness};
use crate::metrics::HttpMetrics;
use crate::service::AppState;
use crate::tls::ReloadingCertificate;
use crate::wiring::Kek;

/// A running HTTP server and the task that drives it.
pub(super) struct Listener {
    pub handle: ServerHandle,
    task: actix_web::rt::task::JoinHandle<std::io::Result<()>>,
}

impl Listener {
    /// Stops accepting, lets requests in progress finish (`graceful`), and waits for the server.
    pub async fn stop(self, graceful: bool) {
        self.handle.stop(graceful).await;
        let _ = self.task.await;
    }
}

/// What the listeners serve from, shared with the later steps.
pub(super) struct Front {
    pub state: Arc<AppState>,
    pub readiness: Readiness,
    pub tls: Option<Arc<ReloadingCertificate>>,
    pub file_targets: Arc<FilePathPolicy>,
    pub api: Listener,
    pub metrics: Option<Listener>,
}

impl Front {
    pub(super) fn start(config: &Config, mode: Mode, kek: &Kek, actors: &ActorRegistry) -> anyhow::Result<Self> {
        let tls = match &config.api.tls {
            Some(tls) => Some(ReloadingCertificate::load(&tls.cert_path, &tls.key_path)?),
            None => None,
        };
        let file_targets = Arc::new(crate::wiring::file_path_policy(config));
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
            .with_graphql(config.api.graphql.clone())
            .with_scheduler_absent_after(config.issuance.scheduler_absent_after)
            .with_acme_directory_check(crate::service::directory::DirectoryCheck {
                egress: super::egress_policy(config),
                timeout: config.issuance.acme_timeout.min(crate::service::directory::MAX_DIRECTORY_WAIT),
            })
            .with_dns_probe(crate::service::dns_probe::DnsProbe {
                egress: super::egress_policy(config),
                timeout: config.issuance.dns_query_timeout,
                limit: crate::service::dns_probe::MAX_PROBE_TIME,
            })
            .with_notify_send(certautopilot_connectors::notify::SendOptions {
                egress: super::egress_policy(config),
                timeout: config.notifications.send_timeout,
            }),
        );
        let readiness = Readiness::default();
        let http_metrics = Arc::new(HttpMetrics::default());
        let limits = ConnectionLimits::new(config.api.max_connections, config.api.max_connections_per_peer);
        let api = api_listener(config, mode, &state, &readiness, &http_metrics, &limits, tls.as_ref())?;
        let metrics = match config.metrics.enabled {
            true => Some(metrics_listener(config, &state, &http_metrics, &limits, actors)?),
            false => None,
        };
        Ok(Front { state, readiness, tls, file_targets, api, metrics })
    }
}

fn api_listener(
    config: &Config,
    mode: Mode,
    state: &Arc<AppState>,
    readiness: &Readiness,
    http_metrics: &Arc<HttpMetrics>,
    limits: &Arc<ConnectionLimits>,
    tls: Option<&Arc<ReloadingCertificate>>,
) -> anyhow::Result<Listener> {
    let api = mode.runs_api();
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
    let server = match tls {
        Some(tls) => server.bind_rustls_0_23(config.api.listen, tls.server_config()),
        None => server.bind(config.api.listen),
    }
    .with_context(|| format!("cannot listen on api.listen {}", config.api.listen))?;
    for addr in server.addrs() {
        info!(%addr, mode = mode.as_str(), node_id = %config.node.id, rest_api = api, https, "api listening");
    }
    let server = server.run();
    Ok(Listener { handle: server.handle(), task: actix_web::rt::spawn(server) })
}

fn metrics_listener(
    config: &Config,
    state: &Arc<AppState>,
    http_metrics: &Arc<HttpMetrics>,
    limits: &Arc<ConnectionLimits>,
    actors: &ActorRegistry,
) -> anyhow::Result<Listener> {
    let (state, http_metrics, limits, actors) = (state.clone(), http_metrics.clone(), limits.clone(), actors.clone());
    let watch = crate::service::health::SchedulerWatch {
        absent_after: config.issuance.scheduler_absent_after,
        started: state.started_at,
    };
    let server = HttpServer::new(move || {
        let (state, http_metrics, actors) = (state.clone(), http_metrics.clone(), actors.clone());
        let limits = limits.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let (state, http_metrics, actors) = (state.clone(), http_metrics.clone(), actors.clone());
                let limits = limits.clone();
                async move {
                    // The SIEM forwarders' figures are their registry snapshots.
                    let siem = crate::metrics::SiemSnapshots::from_registry(&actors);
                    let mut body = crate::metrics::render(&http_metrics, state.store().ok(), &siem, watch).await;
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
    Ok(Listener { handle: server.handle(), task: actix_web::rt::spawn(server) })
}

fn num_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
