//! `serve`: wires the roles of one process (ARCHITECTURE.md §1) and shuts them down in order.
//! Start: HTTP first (liveness answers at once), then the store (readiness follows it), then the
//! worker. Stop on SIGTERM or SIGINT: not ready, stop claiming and drain or release jobs, stop HTTP
//! gracefully, close the store after its queued writes commit, exit 0.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use anyhow::Context;
use certautopilot_actors::{JobPump, PumpConfig};
use certautopilot_config::{Config, SqliteSynchronous, StoreConfig};
use certautopilot_core::SystemClock;
use certautopilot_core::jobs::Backoff;
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use tracing::info;

use crate::cli::Mode;
use crate::http::{self, Readiness};

pub async fn run(config: Config, mode: Mode) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.node.data_dir)
        .with_context(|| format!("cannot create node.data_dir {}", config.node.data_dir.display()))?;

    let readiness = Readiness::default();
    let server = {
        let readiness = web::Data::new(readiness.clone());
        let body_limit = config.api.body_limit_bytes;
        HttpServer::new(move || {
            App::new()
                .app_data(readiness.clone())
                .app_data(web::JsonConfig::default().limit(body_limit))
                .configure(http::configure_probes)
                .default_service(http::not_found())
        })
        .workers(if config.api.workers == 0 { num_workers() } else { config.api.workers })
        .disable_signals()
        .shutdown_timeout(config.api.shutdown_grace.as_secs())
        .bind(config.api.listen)
        .with_context(|| format!("cannot listen on api.listen {}", config.api.listen))?
    };
    for addr in server.addrs() {
        info!(%addr, mode = mode.as_str(), node_id = %config.node.id, "api listening");
    }
    let server = server.run();
    let server_handle = server.handle();
    let server_task = actix_web::rt::spawn(server);

    let store = match open_store(&config).await {
        Ok(store) => store,
        Err(e) => {
            server_handle.stop(false).await;
            return Err(e);
        }
    };
    readiness.set_ready();
    info!("ready");

    let pump = mode.runs_worker().then(|| {
        JobPump::new(
            store.clone(),
            PumpConfig {
                node_id: config.node.id.clone(),
                concurrency: config.jobs.concurrency,
                lease: config.jobs.lease,
                heartbeat: config.jobs.heartbeat,
                poll_interval: config.jobs.poll_interval,
                backoff: Backoff { base: config.jobs.backoff_base, max: config.jobs.backoff_max },
            },
        )
        .start()
    });
    if mode.runs_scheduler() {
        // Renewal windows (M1.5) and KEK rotation (M1.3) are the scheduler's first timers.
        info!("scheduler role active; this build has no time-driven jobs yet");
    }

    let signal = shutdown_signal().await?;
    info!(signal, grace_secs = config.api.shutdown_grace.as_secs(), "shutting down");
    readiness.set_draining();
    if let Some(pump) = pump {
        pump.shutdown(config.api.shutdown_grace).await;
    }
    server_handle.stop(true).await;
    let _ = server_task.await;
    // The writer thread commits what is queued before the store goes away.
    drop(store);
    info!("stopped");
    Ok(())
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    let StoreConfig::Sqlite(sqlite) = &config.store;
    let options = SqliteOptions {
        busy_timeout: sqlite.busy_timeout,
        synchronous: match sqlite.synchronous {
            SqliteSynchronous::Full => Synchronous::Full,
            SqliteSynchronous::Normal => Synchronous::Normal,
        },
        read_connections: sqlite.read_connections,
        max_write_batch: sqlite.max_write_batch,
    };
    let store = SqliteStore::open(&sqlite.path, options, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the store at {}", sqlite.path.display()))?;
    info!(path = %sqlite.path.display(), "store open and migrated");
    Ok(Arc::new(store))
}

fn num_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

async fn shutdown_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}
