//! Notifications: the router (a supervised actor of the scheduler role, keyed by node) reads each
//! organization's audit chain after its cursor, checks the chain's links as it goes, queues one
//! `notify` job per (rule, channel, entry) or per (rule, channel, digest period) for the entries
//! rules want, and keeps the per-certificate watch that audits changes of health and crossed expiry
//! thresholds; the `notify` job (`job.rs`) sends.
//! Invariant: the chain is the outbox. Every event is an audit entry committed with the change it
//! records; the router's cursor moves only after the entry's jobs are queued, and a job's dedupe key
//! is (rule, channel, entry), so a crash or a failover between the two queues nothing twice.

mod job;
mod render;
mod route;
mod router;
mod watch;

use std::time::Duration;

use actix::ArbiterHandle;
use certautopilot_core::ids::{ChannelId, RuleId};
use certautopilot_core::model::Fence;
use serde::{Deserialize, Serialize};

pub use job::{NotifyJobs, TELEGRAM_API, send_once, wire_channel};
pub use router::RouterActor;

use crate::issuance::IssuanceDeps;
use crate::registry::ActorRegistry;
use crate::supervisor::{RestartBackoff, Spawn, Supervised, supervise};

/// The registry kind of the router; the key is the node.
pub const KIND: &str = "notification_router";

/// The router's cursor over each organization's chain (SIEM destination names cannot begin with
/// `@`, so it can never be taken for one).
pub const ROUTER_CURSOR: &str = "@notifications";

/// A digest's cursor: how far (rule, channel)'s digests have reported.
pub fn digest_cursor(rule: RuleId, channel: ChannelId) -> String {
    format!("@digest:{rule}:{channel}")
}

/// `[notifications]`, as the router and the jobs use it.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Every certificate of a watched project is looked at this often.
    pub sweep: Duration,
    pub max_attempts: u32,
    pub send_timeout: Duration,
    /// How often an idle router looks for new audit entries.
    pub poll: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            sweep: Duration::from_secs(60),
            max_attempts: 12,
            send_timeout: Duration::from_secs(15),
            poll: Duration::from_millis(250),
        }
    }
}

/// What the router has done, for the registry and metrics (this instance's counts).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RouterSnapshot {
    /// Audit entries read.
    pub entries_read: u64,
    /// Notify jobs queued (a repeat returned by the dedupe key is not counted).
    pub queued: u64,
    /// Health changes and crossed thresholds audited by the watch.
    pub watch_events: u64,
    /// Breaks found in the chain's links.
    pub chain_breaks: u64,
    pub last_sweep_at: Option<String>,
    pub last_error: Option<String>,
}

/// Starts the router on `arbiter` under supervision.
pub fn start_router(
    deps: IssuanceDeps,
    settings: NotifySettings,
    fence: Option<Fence>,
    registry: &ActorRegistry,
    arbiter: &ArbiterHandle,
) -> RouterHandle {
    let key = deps.node_id.clone();
    let actor = supervise(registry, KIND, key, arbiter, RestartBackoff::default(), move |spawn: Spawn| {
        RouterActor::new(deps.clone(), settings.clone(), fence.clone(), spawn)
    });
    RouterHandle { actor }
}

/// Reaches the current router instance.
#[derive(Clone)]
pub struct RouterHandle {
    actor: Supervised<RouterActor>,
}

impl RouterHandle {
    pub fn snapshot(&self) -> RouterSnapshot {
        self.actor.detail()
    }

    /// Stops after the round in flight.
    pub async fn shutdown(&self) {
        self.actor.stop().await;
    }
}

#[cfg(test)]
mod tests;
