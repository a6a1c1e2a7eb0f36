//! The actor registry: every live actor's kind, key and last published snapshot, read by
//! `GET /api/v1/admin/actors`. Actors publish into their `Probe`; readers never message the actor, so
//! a busy, dead or restarting actor still reports what it last said.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use certautopilot_core::Timestamp;
use serde::Serialize;

/// Every kind of actor there is, for validating inspection queries.
pub const KINDS: &[&str] = &[
    "audit",
    "kek",
    "job_pump",
    "siem_forwarder",
    "scheduler",
    "certificate",
    "acme_account",
    "distribution_target",
    "notification_router",
    "audit_verifier",
];

/// What one actor looks like from outside. Secret-free by construction: actors publish only states,
/// counters and the fields they choose to put in `detail`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActorSnapshot {
    pub kind: &'static str,
    pub key: String,
    /// The actor's own lifecycle state (`idle`, `issuing`, `restarting`, …).
    pub state: String,
    /// Whether an instance is running now (false between a crash and its restart).
    pub alive: bool,
    /// Messages sent and not yet answered, including the one being handled.
    pub mailbox_depth: u64,
    pub messages_handled: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    pub last_activity: Option<Timestamp>,
    /// Kind-specific, secret-free figures (KEK versions, cache size, the job in hand, …).
    pub detail: serde_json::Value,
}

#[derive(Default)]
struct Published {
    state: String,
    alive: bool,
    last_error: Option<String>,
    last_activity: Option<Timestamp>,
    detail: serde_json::Value,
}

/// One actor's slot in the registry. It outlives restarts, so the counters add up across them.
pub struct Probe {
    kind: &'static str,
    key: String,
    sent: AtomicU64,
    answered: AtomicU64,
    restarts: AtomicU32,
    /// Registrations not yet deregistered: a passivated actor's late deregistration must not
    /// remove the entry of the instance that replaced it.
    holders: AtomicU32,
    published: Mutex<Published>,
}

impl Probe {
    fn new(kind: &'static str, key: String) -> Self {
        Probe {
            kind,
            key,
            sent: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            restarts: AtomicU32::new(0),
            holders: AtomicU32::new(0),
            published: Mutex::new(Published { state: "starting".into(), ..Published::default() }),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn set_state(&self, state: &str) {
        let mut p = self.lock();
        if p.state != state {
            p.state = state.to_owned();
        }
        p.last_activity = Some(Timestamp::now());
    }

    pub fn set_detail(&self, detail: serde_json::Value) {
        self.lock().detail = detail;
    }

    /// Records a failure the actor lived through (or died of). Callers pass secret-free text.
    pub fn set_error(&self, error: impl Into<String>) {
        let mut p = self.lock();
        p.last_error = Some(error.into());
        p.last_activity = Some(Timestamp::now());
    }

    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::Relaxed)
    }

    pub(crate) fn message_sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn message_answered(&self) {
        self.answered.fetch_add(1, Ordering::Relaxed);
        self.lock().last_activity = Some(Timestamp::now());
    }

    pub(crate) fn set_alive(&self, alive: bool) {
        self.lock().alive = alive;
    }

    /// A crash loses what was queued for the dead instance: those callers get `Unavailable`, and the
    /// depth starts again from what is still owed.
    pub(crate) fn count_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> ActorSnapshot {
        let p = self.lock();
        let sent = self.sent.load(Ordering::Relaxed);
        let answered = self.answered.load(Ordering::Relaxed);
        ActorSnapshot {
            kind: self.kind,
            key: self.key.clone(),
            state: p.state.clone(),
            alive: p.alive,
            mailbox_depth: sent.saturating_sub(answered),
            messages_handled: answered,
            restarts: self.restarts(),
            last_error: p.last_error.clone(),
            last_activity: p.last_activity,
            detail: p.detail.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Published> {
        // A panic while publishing leaves plain data behind; keep reporting it.
        self.published.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type ActorId = (&'static str, String);

/// Every live actor of this process, by kind and key.
#[derive(Clone, Default)]
pub struct ActorRegistry {
    actors: Arc<RwLock<BTreeMap<ActorId, Arc<Probe>>>>,
}

impl ActorRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The probe for (kind, key), created on first use. Re-registering returns the same probe, so a
    /// reactivated actor keeps its counters.
    pub fn register(&self, kind: &'static str, key: impl Into<String>) -> Arc<Probe> {
        let key = key.into();
        let mut actors = self.actors.write().unwrap_or_else(|e| e.into_inner());
        let probe = actors.entry((kind, key.clone())).or_insert_with(|| Arc::new(Probe::new(kind, key))).clone();
        probe.holders.fetch_add(1, Ordering::AcqRel);
        probe
    }

    /// Removes a passivated or stopped actor once every registration of its key is gone.
    pub fn deregister(&self, kind: &'static str, key: &str) {
        let mut actors = self.actors.write().unwrap_or_else(|e| e.into_inner());
        let id = (kind, key.to_owned());
        if let Some(probe) = actors.get(&id)
            && probe.holders.fetch_sub(1, Ordering::AcqRel) <= 1
        {
            actors.remove(&id);
        }
    }

    /// Snapshots, ordered by kind then key, optionally of one kind only.
    pub fn list(&self, kind: Option<&str>) -> Vec<ActorSnapshot> {
        let actors = self.actors.read().unwrap_or_else(|e| e.into_inner());
        actors.values().filter(|p| kind.is_none_or(|k| p.kind == k)).map(|p| p.snapshot()).collect()
    }

    pub fn get(&self, kind: &str, key: &str) -> Option<ActorSnapshot> {
        let actors = self.actors.read().unwrap_or_else(|e| e.into_inner());
        actors.iter().find(|((k, key2), _)| *k == kind && key2 == key).map(|(_, p)| p.snapshot())
    }

    pub fn len(&self) -> usize {
        self.actors.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Depth is sent minus answered; re-registering keeps the counters; kind filters the list.
    #[test]
    fn counters_survive_reregistration_and_lists_filter_by_kind() {
        let registry = ActorRegistry::new();
        let probe = registry.register("kek", "node-1");
        probe.message_sent();
        probe.message_sent();
        probe.message_answered();
        probe.set_state("ready");
        registry.register("certificate", "c1");
        let again = registry.register("kek", "node-1");
        let snap = again.snapshot();
        assert_eq!((snap.mailbox_depth, snap.messages_handled, snap.state.as_str()), (1, 1, "ready"));
        assert!(snap.last_activity.is_some());
        assert_eq!(registry.list(Some("kek")).len(), 1);
        assert_eq!(registry.list(None).len(), 2);
        assert_eq!(registry.get("certificate", "c1").map(|s| s.key), Some("c1".into()));
        registry.deregister("certificate", "c1");
        assert!(registry.get("certificate", "c1").is_none());
    }
}
