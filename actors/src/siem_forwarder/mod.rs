//! Forwards every organization's audit chain to one SIEM destination: a supervised actor
//! (`siem_forwarder`, keyed by destination name) whose snapshot is in the registry.
//! The chain in the store is the spool: an event is fsynced there (with the change it records) before
//! it is ever sent, and the destination's cursor (last delivered `seq` per organization) is stored and
//! moved only after a batch is delivered (RELP: acknowledged; TCP/UDP: written). A restart (or a
//! panic and its supervised restart) resumes at the cursor, an outage grows the backlog, and a crash
//! repeats at most the batch in flight.

mod actor;
mod delivery;

use std::sync::Arc;
use std::time::Duration;

use actix::ArbiterHandle;
use certautopilot_connectors::siem::{SiemFormat, SiemTransport};
use certautopilot_core::store::Store;
use serde::{Deserialize, Serialize};

use crate::registry::{ActorRegistry, ActorSnapshot};
use crate::supervisor::{RestartBackoff, Spawn, Supervised, supervise};

pub use actor::SiemForwarderActor;

/// The registry kind of SIEM forwarders; the key is the destination's name.
pub const KIND: &str = "siem_forwarder";

#[derive(Debug, Clone)]
pub struct SiemDestination {
    pub name: String,
    pub format: SiemFormat,
    pub transport: SiemTransport,
    /// Events per batch (per RELP window).
    pub batch: usize,
    /// Undelivered events beyond which the forwarder warns loudly at every round.
    pub backlog_warn: u64,
}

/// What one forwarder is doing, for logs and metrics: the registry snapshot's `detail`. The counters
/// are the current instance's (a restarted forwarder counts again from zero).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForwarderSnapshot {
    pub destination: String,
    pub sent: u64,
    pub failed_batches: u64,
    /// Events committed to the chain and not yet delivered to this destination.
    pub backlog: u64,
    /// Age of the oldest undelivered event, in seconds.
    pub oldest_undelivered_secs: u64,
    /// Entries that could not be decoded and were skipped (reported each time).
    pub skipped_corrupt: u64,
    /// The chain was found shorter than what this destination already received.
    pub chain_truncated: bool,
    pub last_error: Option<String>,
}

impl ForwarderSnapshot {
    /// The forwarder snapshots among the registry's, for the metrics endpoint.
    pub fn all_in(registry: &ActorRegistry) -> Vec<ForwarderSnapshot> {
        registry
            .list(Some(KIND))
            .into_iter()
            .filter_map(|s: ActorSnapshot| serde_json::from_value(s.detail).ok())
            .collect()
    }
}

/// Builds a forwarder for one destination.
pub struct SiemForwarder {
    store: Arc<dyn Store>,
    destination: SiemDestination,
    hostname: String,
    poll: Duration,
}

impl SiemForwarder {
    pub fn new(store: Arc<dyn Store>, destination: SiemDestination, hostname: impl Into<String>) -> Self {
        SiemForwarder { store, destination, hostname: hostname.into(), poll: Duration::from_millis(200) }
    }

    /// Starts the forwarder on `arbiter` under supervision, registered as (`siem_forwarder`, name).
    pub fn start(self, registry: &ActorRegistry, arbiter: &ArbiterHandle) -> ForwarderHandle {
        let SiemForwarder { store, destination, hostname, poll } = self;
        let key = destination.name.clone();
        let actor = supervise(registry, KIND, key, arbiter, RestartBackoff::default(), move |spawn: Spawn| {
            SiemForwarderActor::new(store.clone(), destination.clone(), hostname.clone(), poll, spawn)
        });
        ForwarderHandle { actor }
    }
}

/// Reaches the current forwarder instance, whichever it is.
#[derive(Clone)]
pub struct ForwarderHandle {
    actor: Supervised<SiemForwarderActor>,
}

impl ForwarderHandle {
    /// The last snapshot the forwarder published (also while it restarts).
    pub fn snapshot(&self) -> ForwarderSnapshot {
        self.actor.detail()
    }

    /// The supervised actor, for inspection and fault injection.
    pub fn actor(&self) -> &Supervised<SiemForwarderActor> {
        &self.actor
    }

    /// Makes the current instance panic (tests and `debug.fault_injection`).
    pub async fn force_panic(&self) {
        self.actor.force_panic().await;
    }

    /// Stops after the batch in flight (its cursor is stored only if it was delivered).
    pub async fn shutdown(&self) {
        self.actor.stop().await;
    }
}
