//! The audit actor: one per organization, the only code in a process that writes that
//! organization's chain. State changes leave their events in the store's outbox, in their own
//! transaction; this actor chains them in commit order (`ChainWriter`) when the store signals a new
//! row, on a timer (rows another process left, or a crash), and on demand before a read that must
//! see its own writes. The store refuses a chain write from a stale head, so actors in several
//! processes sharing one store cannot fork the chain.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::{Actor, ActorFutureExt, ArbiterHandle, AtomicResponse, Context, Handler, Message, WrapFuture};
use certautopilot_core::audit::{ChainWriter, WriterStats};
use certautopilot_core::crypto::{CryptoError, Envelope};
use certautopilot_core::ids::OrgId;
use certautopilot_core::store::{Store, StoreError};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::hub::Hub;
use crate::registry::Probe;
use crate::supervisor::{ActorError, Lifeline, Spawn};

pub const KIND: &str = "audit";

/// The envelope field of an organization's audit key.
pub const AUDIT_SECRET_FIELD: &str = "audit_secret";

/// How long a caller waits for a flush before reading the chain as it is.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot open the audit secret: {0}")]
    Secret(#[from] CryptoError),
    #[error("organization {0} has no audit secret")]
    NoSecret(OrgId),
    #[error(transparent)]
    Actor(#[from] ActorError),
    #[error("the audit actor did not finish chaining within {} s", FLUSH_TIMEOUT.as_secs())]
    Timeout,
    #[error("the audit hub is stopped")]
    Stopped,
}

/// Chain everything in the organization's outbox. Answers how many entries were added.
pub struct Drain;

impl Message for Drain {
    type Result = Result<u64, AuditError>;
}

pub struct AuditActor {
    org: OrgId,
    store: Arc<dyn Store>,
    envelope: Envelope,
    /// Built on the first drain (it needs the unsealed secret); lent to each drain's future.
    writer: Option<ChainWriter>,
    /// Set by the hub when a wake-up drain is queued; cleared when a drain starts, so a row that
    /// commits during a drain queues the next one.
    queued: Arc<AtomicBool>,
    failures_in_a_row: u32,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl AuditActor {
    fn publish(&self, stats: WriterStats) {
        self.probe.set_detail(json!({
            "org_id": self.org,
            "chained": stats.chained,
            "transactions": stats.transactions,
            "races_lost": stats.races,
            "unreadable_rows": stats.unreadable,
            "head_seq": stats.head_seq,
            "failures_in_a_row": self.failures_in_a_row,
        }));
    }
}

/// The organization's chain writer, with its audit secret opened: what the actor drains with, and
/// what commands running without a service chain their own events with.
pub async fn open_writer(store: &dyn Store, envelope: &Envelope, org: OrgId) -> Result<ChainWriter, AuditError> {
    let record = store.get_organization(org).await?;
    let sealed = record.audit_secret.as_ref().ok_or(AuditError::NoSecret(org))?;
    let secret = envelope.open(&org.to_string(), AUDIT_SECRET_FIELD, sealed)?;
    Ok(ChainWriter::new(org, Arc::new(secret)))
}

impl Actor for AuditActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.probe.set_state("idle");
        self.publish(WriterStats::default());
    }
}

impl Handler<Drain> for AuditActor {
    type Result = AtomicResponse<Self, Result<u64, AuditError>>;

    fn handle(&mut self, _: Drain, _: &mut Context<Self>) -> Self::Result {
        self.queued.store(false, Ordering::Release);
        // A retry keeps `failing` (and its error) on the snapshot until a drain succeeds: an
        // outage must not read as a healthy `chaining` for the length of each retry.
        if self.failures_in_a_row == 0 {
            self.probe.set_state("chaining");
        }
        let (store, envelope, org, writer) = (self.store.clone(), self.envelope.clone(), self.org, self.writer.take());
        let work = async move {
            let mut writer = match writer {
                Some(writer) => writer,
                None => match open_writer(store.as_ref(), &envelope, org).await {
                    Ok(writer) => writer,
                    Err(e) => return (None, Err(e)),
                },
            };
            crate::failpoint::hit("audit.before_chain").await;
            let result = writer.drain(store.as_ref()).await.map_err(AuditError::from);
            (Some(writer), result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|(writer, result), act, _| {
            let stats = writer.as_ref().map(ChainWriter::stats).unwrap_or_default();
            act.writer = writer;
            match &result {
                Ok(_) => {
                    if act.failures_in_a_row > 0 {
                        tracing::info!(org_id = %act.org, "audit chaining works again");
                    }
                    act.failures_in_a_row = 0;
                    act.probe.set_state("idle");
                }
                Err(e) => {
                    act.failures_in_a_row += 1;
                    // Once per outage, not once per retry; the snapshot keeps the count.
                    if act.failures_in_a_row == 1 {
                        tracing::error!(org_id = %act.org, error = %e,
                            "cannot chain audit events; they stay in the outbox and are retried");
                    }
                    act.probe.set_error(e.to_string());
                    act.probe.set_state("failing");
                }
            }
            act.publish(stats);
            result
        })))
    }
}

/// This process's audit actors, one per organization with events, started on first use, plus
/// the two tasks that wake them: the store's signal and a timer over the outbox.
#[derive(Clone)]
pub struct AuditHub {
    store: Arc<dyn Store>,
    envelope: Envelope,
    hub: Hub<OrgId, AuditActor>,
    queued: Arc<Mutex<HashMap<OrgId, Arc<AtomicBool>>>>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// The runtime `start` ran on. Actors are made only there: a supervisor's watcher lives on the
    /// runtime that made its actor, and a caller's (an HTTP worker's) may end before the hub does.
    runtime: tokio::runtime::Handle,
}

impl AuditHub {
    /// Starts the hub and chains whatever the outbox holds now (what a crash left behind). Every
    /// `sweep_every` it looks at the outbox again, which also retries failed drains.
    pub fn start(
        store: Arc<dyn Store>,
        envelope: Envelope,
        registry: &crate::ActorRegistry,
        arbiter: ArbiterHandle,
        sweep_every: Duration,
    ) -> Self {
        let hub = AuditHub {
            store: store.clone(),
            envelope,
            hub: Hub::new(registry, KIND, arbiter),
            queued: Arc::default(),
            tasks: Arc::default(),
            runtime: tokio::runtime::Handle::current(),
        };
        let mut signal = store.audit_outbox_signal();
        let listener = {
            let hub = hub.clone();
            tokio::spawn(async move {
                loop {
                    match signal.recv().await {
                        Ok(org) => hub.wake(org),
                        Err(RecvError::Lagged(_)) => hub.sweep().await,
                        Err(RecvError::Closed) => return,
                    }
                }
            })
        };
        let sweeper = {
            let hub = hub.clone();
            tokio::spawn(async move {
                loop {
                    hub.sweep().await;
                    tokio::time::sleep(sweep_every).await;
                }
            })
        };
        hub.tasks.lock().unwrap_or_else(|e| e.into_inner()).extend([listener, sweeper]);
        hub
    }

    fn actor(&self, org: OrgId) -> (crate::Supervised<AuditActor>, Arc<AtomicBool>) {
        let queued = self.queued.lock().unwrap_or_else(|e| e.into_inner()).entry(org).or_default().clone();
        let (store, envelope, flag) = (self.store.clone(), self.envelope.clone(), queued.clone());
        let actor = self.hub.actor(org, move |s: Spawn| AuditActor {
            org,
            store: store.clone(),
            envelope: envelope.clone(),
            writer: None,
            queued: flag.clone(),
            failures_in_a_row: 0,
            probe: s.probe,
            _lifeline: s.lifeline,
        });
        (actor, queued)
    }

    /// Queues a drain for `org` unless one is already queued; does not wait for it. Runs only in
    /// the hub's own tasks (on its runtime).
    fn wake(&self, org: OrgId) {
        let (actor, queued) = self.actor(org);
        if !queued.swap(true, Ordering::AcqRel) {
            tokio::spawn(async move {
                // Chaining failures are on the actor's snapshot and retried by the sweep. A drain
                // lost with a crashed instance never cleared the flag: clear it, or no wake-up
                // would get through again.
                if actor.send(Drain).await.is_err() {
                    queued.store(false, Ordering::Release);
                }
            });
        }
    }

    /// Chains everything committed to `org`'s outbox before this call, and waits for it.
    pub async fn flush(&self, org: OrgId) -> Result<u64, AuditError> {
        let hub = self.clone();
        let drain = self.runtime.spawn(async move {
            let (actor, _) = hub.actor(org);
            match tokio::time::timeout(FLUSH_TIMEOUT, actor.send(Drain)).await {
                Ok(answer) => answer?,
                Err(_) => Err(AuditError::Timeout),
            }
        });
        drain.await.map_err(|_| AuditError::Stopped)?
    }

    async fn sweep(&self) {
        match self.store.pending_audit_orgs().await {
            Ok(pending) => {
                for (org, _) in pending {
                    self.wake(org);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the audit outbox"),
        }
    }

    /// Stops the wake-ups, chains what is left (a clean stop leaves an empty outbox) and stops
    /// every actor.
    pub async fn stop(&self) {
        for task in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            task.abort();
        }
        if let Ok(pending) = self.store.pending_audit_orgs().await {
            for (org, _) in pending {
                if let Err(e) = self.flush(org).await {
                    tracing::warn!(org_id = %org, error = %e, "audit events left in the outbox at shutdown");
                }
            }
        }
        self.hub.stop_all().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ActorRegistry;
    use certautopilot_core::audit::Verifier;
    use certautopilot_core::crypto::{LocalKek, SecretBytes};
    use certautopilot_core::model::Organization;
    use certautopilot_core::store::conformance::system_audit;
    use certautopilot_core::store::prelude::*;
    use certautopilot_core::store::sqlite::SqliteStore;
    use certautopilot_core::{OrgScope, Timestamp};

    const SECRET: [u8; 32] = [8; 32];

    /// A store in `dir` holding an organization with a sealed audit secret (`SECRET`), and a hub
    /// over it that sweeps every `sweep`.
    async fn org_and_hub(
        dir: &std::path::Path,
        registry: &ActorRegistry,
        sweep: Duration,
    ) -> (Arc<SqliteStore>, Organization, AuditHub) {
        let store = Arc::new(SqliteStore::open_in(dir).await.unwrap());
        let envelope = Envelope::new(Arc::new(LocalKek::ephemeral()));
        let mut org = Organization::new("acme", Timestamp::now());
        let sealed = envelope.seal(&org.id.to_string(), AUDIT_SECRET_FIELD, &SecretBytes::new(SECRET.to_vec()));
        org.audit_secret = Some(sealed.unwrap());
        store.create_organization(&org).await.unwrap();
        let hub =
            AuditHub::start(store.clone() as Arc<dyn Store>, envelope, registry, actix::Arbiter::current(), sweep);
        (store, org, hub)
    }

    /// This process's writes are chained on the store's signal, another process's (a second store
    /// object on the same file, whose commits signal nobody here) by the sweep; a flush returns once
    /// everything committed before it is chained; the actor is listed under kind `audit`.
    #[actix_rt::test]
    async fn the_actor_chains_signalled_swept_and_flushed_events() {
        let dir = tempfile::tempdir().unwrap();
        let registry = ActorRegistry::new();
        let (store, org, hub) = org_and_hub(dir.path(), &registry, Duration::from_millis(100)).await;
        let other_process = SqliteStore::open_in(dir.path()).await.unwrap();
        let secret = SecretBytes::new(SECRET.to_vec());
        let key = org.id.to_string();

        store.append_audit(system_audit(org.id, "signalled")).await.unwrap();
        crate::testing::wait_for(&registry, KIND, &key, "the signalled event chained", |s| {
            s.detail["chained"] == json!(1) && s.state == "idle"
        })
        .await;
        other_process.append_audit(system_audit(org.id, "swept")).await.unwrap();
        crate::testing::wait_for(&registry, KIND, &key, "the swept event chained", |s| s.detail["chained"] == json!(2))
            .await;
        for i in 0..50 {
            other_process.append_audit(system_audit(org.id, &format!("flushed-{i}"))).await.unwrap();
        }
        hub.flush(org.id).await.unwrap();
        let scope = OrgScope::for_system("test", &org);
        let events = store.list_audit_events(&scope, 0, 100).await.unwrap();
        assert_eq!(events.len(), 52);
        assert_eq!((events[0].action.as_str(), events[1].action.as_str()), ("signalled", "swept"));
        let mut verifier = Verifier::new(&secret);
        for e in &events {
            verifier.check(e).unwrap();
        }
        assert!(store.pending_audit_orgs().await.unwrap().is_empty());

        // Rows committed just before a stop are chained by it.
        other_process.append_audit(system_audit(org.id, "at-stop")).await.unwrap();
        hub.stop().await;
        assert_eq!(store.audit_head(org.id).await.unwrap().unwrap().action, "at-stop");
        assert!(registry.get(KIND, &key).is_none());
    }

    /// A flush from another runtime that ends before the hub (as an HTTP worker's does at
    /// shutdown) makes its actor on the hub's runtime, so stopping the hub still finishes.
    #[actix_rt::test]
    async fn a_flush_from_a_runtime_that_ends_first_leaves_the_hub_stoppable() {
        let dir = tempfile::tempdir().unwrap();
        let registry = ActorRegistry::new();
        let (_store, org, hub) = org_and_hub(dir.path(), &registry, Duration::from_secs(60)).await;
        // Nothing waits in the outbox, so neither the signal nor the sweep starts this actor: the
        // flush does.
        let (flusher, org_id) = (hub.clone(), org.id);
        let chained = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(flusher.flush(org_id)).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(chained, 0);
        assert!(registry.get(KIND, &org.id.to_string()).is_some());
        // The deadline only turns a hang into a failure.
        tokio::time::timeout(Duration::from_secs(30), hub.stop()).await.expect("the hub stopped");
        assert!(registry.get(KIND, &org.id.to_string()).is_none());
    }

    /// An organization without an audit secret cannot be chained: the flush says so, the actor
    /// shows `failing`, and the events stay in the outbox.
    #[actix_rt::test]
    async fn without_a_secret_events_wait_and_the_actor_reports_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        let org = Organization::new("nosecret", Timestamp::now());
        store.create_organization(&org).await.unwrap();
        let registry = ActorRegistry::new();
        let hub = AuditHub::start(
            store.clone() as Arc<dyn Store>,
            Envelope::new(Arc::new(LocalKek::ephemeral())),
            &registry,
            actix::Arbiter::current(),
            Duration::from_secs(60),
        );
        store.append_audit(system_audit(org.id, "kept")).await.unwrap();
        assert!(matches!(hub.flush(org.id).await, Err(AuditError::NoSecret(id)) if id == org.id));
        // A wake-up drain may still be on its way; each ends the same.
        let snap = crate::testing::wait_for(&registry, KIND, &org.id.to_string(), "failing", |s| {
            s.state == "failing" && s.mailbox_depth == 0
        })
        .await;
        assert!(snap.last_error.unwrap().contains("no audit secret"));
        assert_eq!(store.pending_audit_orgs().await.unwrap(), vec![(org.id, 1)]);
        hub.stop().await;
    }
}
