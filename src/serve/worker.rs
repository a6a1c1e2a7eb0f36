//! The worker role of a `serve` process and what reaches into it: the job pump with a handler per
//! job kind, the waker that lets an enqueue in this process start its job at once, and the fault
//! injector (`debug.fault_injection`) that makes a supervised actor panic on request.

use std::sync::Arc;

use certautopilot_actors::discovery::DiscoverJobs;
use certautopilot_actors::distribution::{DistributeJobs, ScanJobs, TargetHub};
use certautopilot_actors::issuance::{CertificateHub, CertificateJobs, ForcePanic};
use certautopilot_actors::kek::rotation_job::RotateKekHandler;
use certautopilot_actors::notify::NotifyJobs;
use certautopilot_actors::{ActorRegistry, JobPump, JobPumpHandle, PumpConfig};
use certautopilot_config::Config;
use certautopilot_core::jobs::Backoff;
use certautopilot_core::store::Store;

use super::scheduler_role::LiveForwarders;
use crate::service::state::FaultInjector;
use crate::wiring::Kek;

/// Starts this node's job pump (on the current arbiter, as the claim loop ran before it was an actor).
pub(super) fn start_pump(
    config: &Config,
    actors: &ActorRegistry,
    store: Arc<dyn Store>,
    kek: &Kek,
    certificates: &CertificateHub,
    targets: &TargetHub,
) -> JobPumpHandle {
    let pump_config = PumpConfig {
        node_id: config.node.id.clone(),
        concurrency: config.jobs.concurrency,
        lease: config.jobs.lease,
        heartbeat: config.jobs.heartbeat,
        poll_interval: config.jobs.poll_interval,
        backoff: Backoff { base: config.jobs.backoff_base, max: config.jobs.backoff_max },
    };
    let rotate_kek = RotateKekHandler { store: store.clone(), envelope: kek.envelope.clone(), kek: kek.client() };
    let mut pump = JobPump::new(store, pump_config).with_handler(Arc::new(rotate_kek));
    for handler in CertificateJobs::all(certificates) {
        pump = pump.with_handler(Arc::new(handler));
    }
    pump = pump.with_handler(Arc::new(DistributeJobs { hub: targets.clone() }));
    pump = pump.with_handler(Arc::new(ScanJobs { hub: targets.clone() }));
    pump = pump.with_handler(Arc::new(DiscoverJobs { deps: targets.deps().clone() }));
    let settings = super::scheduler_role::notify_settings(config);
    pump = pump.with_handler(Arc::new(NotifyJobs { deps: targets.deps().clone(), settings }));
    pump.start(actors, &actix_rt::Arbiter::current())
}

/// Enqueues in this process wake its worker at once (a process without one has nothing to wake).
pub(super) fn waker(pump: Option<&JobPumpHandle>) -> Arc<dyn Fn() + Send + Sync> {
    let pump = pump.cloned();
    Arc::new(move || {
        if let Some(pump) = &pump {
            pump.wake();
        }
    })
}

/// Makes a certificate actor, the job pump or a SIEM forwarder panic, to watch it restart.
pub(super) fn fault_injector(
    certificates: &CertificateHub,
    pump: Option<&JobPumpHandle>,
    forwarders: &LiveForwarders,
) -> FaultInjector {
    let (hub, pump, forwarders) = (certificates.clone(), pump.cloned(), forwarders.clone());
    Arc::new(move |kind: String, key: String| {
        let (hub, pump) = (hub.clone(), pump.clone());
        let forwarder = (kind == certautopilot_actors::siem_forwarder::KIND).then(|| {
            let live = forwarders.lock().unwrap_or_else(|p| p.into_inner());
            live.iter().find(|f| f.actor().probe().key() == key).cloned()
        });
        Box::pin(async move {
            match kind.as_str() {
                "certificate" => {
                    let id = key.parse().map_err(|_| "not a certificate id".to_owned())?;
                    // The panicking message gets no answer; the restart is what callers watch for.
                    let _ = hub.actor(id).send(ForcePanic).await;
                }
                certautopilot_actors::job_pump::KIND => match pump {
                    Some(pump) => pump.force_panic().await,
                    None => return Err("this node runs no job pump".to_owned()),
                },
                certautopilot_actors::siem_forwarder::KIND => match forwarder.flatten() {
                    Some(forwarder) => forwarder.force_panic().await,
                    None => return Err(format!("no siem forwarder for destination {key} runs here")),
                },
                other => {
                    return Err(format!(
                        "only certificate, job_pump and siem_forwarder actors take forced panics, not {other}"
                    ));
                }
            }
            Ok(())
        })
    })
}
