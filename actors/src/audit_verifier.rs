//! The audit verifier: a supervised actor of the scheduler role that keeps each organization's
//! verified-up-to mark close behind its chain's head. Each round verifies, per organization, the
//! entries after the mark (the whole chain the first time) and records the new mark, so a
//! verification on request costs the entries since the last round, not the chain's history; then
//! it archives what the organization's retention lets go (`audit_archive`).
//! Invariant: the mark only ever moves over entries this actor has just verified with the audit
//! secret, and only verified entries are archived; a broken link stops both where they are and is
//! reported once, not at every round.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Running, WrapFuture};
use certautopilot_core::audit::{VerifyError, record_mark, verify_from_mark};
use certautopilot_core::crypto::{Envelope, SecretBytes};
use certautopilot_core::ids::OrgId;
use certautopilot_core::model::Organization;
use certautopilot_core::{OrgScope, Store, Timestamp};
use serde::{Deserialize, Serialize};

use crate::audit::AUDIT_SECRET_FIELD;
use crate::audit_archive::{ArchiveSettings, archive_once};
use crate::pace::Pace;
use crate::registry::{ActorRegistry, Probe};
use crate::supervisor::{ForcePanic, Lifeline, RestartBackoff, Spawn, Supervised, supervise};

/// The registry kind; the key is the node.
pub const KIND: &str = "audit_verifier";
const ACTOR: &str = "audit-verifier";
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the verifier has done (this instance's counts), for the registry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct VerifierSnapshot {
    pub rounds: u64,
    pub entries_verified: u64,
    /// Each organization's mark as this instance last recorded it: (seq, when).
    pub marks: HashMap<String, (u64, String)>,
    /// The broken link found, if one was (the mark stays before it).
    pub broken: Option<String>,
    pub last_error: Option<String>,
    /// Entries moved into archive segments by this instance, and the last segment written.
    pub entries_archived: u64,
    pub last_segment: Option<String>,
    /// The cursor holding archiving back in the last round, when one did: "name at seq N".
    pub archiving_held_by: Option<String>,
}

struct ChainVerifier {
    store: Arc<dyn Store>,
    envelope: Envelope,
    secrets: HashMap<OrgId, SecretBytes>,
    archive: ArchiveSettings,
}

/// One round's outcome.
#[derive(Default)]
struct Round {
    verified: u64,
    marks: Vec<(OrgId, u64)>,
    broken: Option<String>,
    failure: Option<String>,
    archived: u64,
    segment: Option<String>,
    held_by: Option<String>,
}

impl ChainVerifier {
    fn secret(&mut self, org: &Organization) -> Result<SecretBytes, String> {
        if let Some(secret) = self.secrets.get(&org.id) {
            return Ok(secret.clone());
        }
        let sealed = org.audit_secret.as_ref().ok_or("the organization has no audit secret")?;
        let opened = self
            .envelope
            .open(&org.id.to_string(), AUDIT_SECRET_FIELD, sealed)
            .map_err(|e| format!("the audit secret cannot be opened: {e}"))?;
        self.secrets.insert(org.id, opened.clone());
        Ok(opened)
    }

    async fn round(&mut self) -> Round {
        let mut round = Round::default();
        let orgs = match self.store.list_organizations().await {
            Ok(orgs) => orgs,
            Err(e) => {
                round.failure = Some(e.to_string());
                return round;
            }
        };
        for org in orgs {
            let secret = match self.secret(&org) {
                Ok(secret) => secret,
                Err(e) => {
                    round.failure = Some(e);
                    continue;
                }
            };
            let scope = OrgScope::for_system(ACTOR, &org);
            match verify_from_mark(self.store.as_ref(), &scope, &secret, |_| {}).await {
                Ok(found) => {
                    round.verified += found.checked;
                    let Some((seq, hmac)) = found.head else { continue };
                    if !(found.checked == 0 && found.from_seq == seq) {
                        match record_mark(self.store.as_ref(), &scope, &secret, (seq, &hmac), Timestamp::now()).await {
                            Ok(()) => round.marks.push((org.id, seq)),
                            Err(e) => {
                                round.failure = Some(e.to_string());
                                continue;
                            }
                        }
                    }
                    match archive_once(&self.store, &org, &secret, seq, &self.archive, Timestamp::now()).await {
                        Ok(done) => {
                            round.archived += done.entries;
                            round.segment = done.segment.or(round.segment.take());
                            round.held_by = done.held_by.map(|(name, at)| format!("{name} at seq {at}"));
                        }
                        Err(e) => round.failure = Some(format!("archiving: {e}")),
                    }
                }
                Err(VerifyError::Broken(link)) => {
                    round.broken = Some(format!("organization {}: seq {}: {}", org.id, link.seq, link.fault));
                }
                Err(VerifyError::Store(e)) => round.failure = Some(e.to_string()),
            }
        }
        round
    }
}

pub struct AuditVerifierActor {
    /// Taken by the round in flight, put back when it ends.
    verifier: Option<ChainVerifier>,
    pace: Pace,
    snapshot: VerifierSnapshot,
    stop_after_round: bool,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl AuditVerifierActor {
    fn start_round(&mut self, ctx: &mut Context<Self>) {
        let Some(mut verifier) = self.verifier.take() else { return };
        self.probe.set_state("verifying");
        let work = async move {
            let round = verifier.round().await;
            (verifier, round)
        };
        ctx.spawn(work.into_actor(self).map(|(verifier, round), act, ctx| {
            act.verifier = Some(verifier);
            act.finish_round(round, ctx);
        }));
    }

    fn finish_round(&mut self, round: Round, ctx: &mut Context<Self>) {
        let s = &mut self.snapshot;
        s.rounds += 1;
        s.entries_verified += round.verified;
        let now = Timestamp::now().to_rfc3339();
        for (org, seq) in &round.marks {
            s.marks.insert(org.to_string(), (*seq, now.clone()));
        }
        if round.broken.is_some() && round.broken != s.broken {
            tracing::error!(
                link = round.broken.as_deref(),
                "audit chain verification failed: the verified mark stays before it"
            );
        }
        s.broken = round.broken;
        s.entries_archived += round.archived;
        if round.segment.is_some() {
            s.last_segment = round.segment.clone();
        }
        if round.held_by.is_some() && round.held_by != s.archiving_held_by {
            tracing::warn!(
                held_by = round.held_by.as_deref(),
                "audit retention waits: a reader of the chain is behind"
            );
        }
        s.archiving_held_by = round.held_by;
        if let Some(error) = &round.failure {
            tracing::warn!(error = %error, retry_in = ?self.pace.backoff(), "audit verification round failed; will retry");
            s.last_error = Some(error.clone());
        }
        // A broken chain is not retried faster than new entries arrive: it is waited out at the poll.
        // Archiving goes on at once while it finds work (one bounded segment per round).
        let wait = self.pace.after(round.failure.is_some(), round.archived > 0);
        self.probe.set_state("idle");
        self.probe.set_detail(serde_json::to_value(&self.snapshot).unwrap_or_default());
        if self.stop_after_round {
            return ctx.stop();
        }
        let wait = wait.unwrap_or_default();
        ctx.run_later(wait, |act, ctx| act.start_round(ctx));
    }
}

impl Actor for AuditVerifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!("audit verifier started");
        self.start_round(ctx);
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.verifier.is_none() {
            self.stop_after_round = true;
            return Running::Continue;
        }
        Running::Stop
    }
}

impl Handler<ForcePanic> for AuditVerifierActor {
    type Result = ();

    fn handle(&mut self, _: ForcePanic, _: &mut Context<Self>) {
        panic!("forced panic in the audit verifier");
    }
}

/// Starts the verifier on `arbiter` under supervision; it looks for new entries every `poll`.
pub fn start_audit_verifier(
    store: Arc<dyn Store>,
    envelope: Envelope,
    node_id: String,
    poll: Duration,
    archive: ArchiveSettings,
    registry: &ActorRegistry,
    arbiter: &actix::ArbiterHandle,
) -> AuditVerifierHandle {
    let actor = supervise(registry, KIND, node_id, arbiter, RestartBackoff::default(), move |spawn: Spawn| {
        AuditVerifierActor {
            verifier: Some(ChainVerifier {
                store: store.clone(),
                envelope: envelope.clone(),
                secrets: HashMap::new(),
                archive: archive.clone(),
            }),
            pace: Pace::new(poll, FIRST_BACKOFF, MAX_BACKOFF),
            snapshot: VerifierSnapshot::default(),
            stop_after_round: false,
            probe: spawn.probe,
            _lifeline: spawn.lifeline,
        }
    });
    AuditVerifierHandle { actor }
}

/// Reaches the current verifier instance.
#[derive(Clone)]
pub struct AuditVerifierHandle {
    actor: Supervised<AuditVerifierActor>,
}

impl AuditVerifierHandle {
    pub fn snapshot(&self) -> VerifierSnapshot {
        self.actor.detail()
    }

    /// Stops after the round in flight.
    pub async fn shutdown(&self) {
        self.actor.stop().await;
    }
}
