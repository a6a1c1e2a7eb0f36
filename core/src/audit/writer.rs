//! The chain's one writing routine: take an organization's outbox rows in commit order, seal each
//! onto the head, and append them while deleting the rows, in one store transaction. The
//! AuditActor runs it in a service; CLI commands that run alone run it once before they exit.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::{AuditDraft, ChainHead, seal_entry};
use crate::crypto::SecretBytes;
use crate::ids::OrgId;
use crate::model::AuditEvent;
use crate::scope::Principal;
use crate::store::{Store, StoreError};
use crate::timestamp::Timestamp;

/// Outbox rows chained per transaction.
pub const DRAIN_BATCH: usize = 512;

/// Races lost in a row (another process's writer chaining the same rows first) before giving up.
const MAX_RACES: u32 = 64;

/// The action recorded for an outbox row that can no longer be decoded: the row still becomes an
/// entry, so its loss is on the record and the chain does not stall behind it.
pub const UNREADABLE_ACTION: &str = "audit.outbox_unreadable";

/// One outbox row: an event committed with its state change and not chained yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAudit {
    pub id: u64,
    /// The store's clock when its state change was written: the entry's `at`.
    pub at: Timestamp,
    /// The event, or the row as stored when it cannot be decoded.
    pub draft: Result<AuditDraft, UnreadableDraft>,
}

/// An outbox row that does not decode (damaged, or written by a newer version with fields this one
/// does not know).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableDraft {
    pub reason: String,
    pub stored: String,
}

/// How much of an unreadable row's stored text its `audit.outbox_unreadable` entry keeps.
const KEEP_UNREADABLE: usize = 8 * 1024;

/// What a writer has done since it started; secret-free, for its actor's snapshot.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct WriterStats {
    pub chained: u64,
    pub transactions: u64,
    /// Rows another writer chained first (another process sharing the store).
    pub races: u64,
    pub unreadable: u64,
    pub head_seq: u64,
}

/// How many of the organization's events wait in the outbox.
pub async fn pending_count(store: &dyn Store, org: OrgId) -> Result<u64, StoreError> {
    Ok(store.pending_audit_orgs().await?.into_iter().find(|(id, _)| *id == org).map_or(0, |(_, n)| n))
}

pub struct ChainWriter {
    org: OrgId,
    secret: Arc<SecretBytes>,
    /// The head as this writer last saw it; `None` until loaded, and again after a lost race.
    head: Option<Option<ChainHead>>,
    stats: WriterStats,
}

impl ChainWriter {
    pub fn new(org: OrgId, secret: Arc<SecretBytes>) -> Self {
        ChainWriter { org, secret, head: None, stats: WriterStats::default() }
    }

    pub fn org(&self) -> OrgId {
        self.org
    }

    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// Chains everything in the organization's outbox. Returns how many entries this call added.
    pub async fn drain(&mut self, store: &dyn Store) -> Result<u64, StoreError> {
        let mut added = 0;
        let mut races = 0;
        loop {
            let pending = store.pending_audit(self.org, DRAIN_BATCH).await?;
            if pending.is_empty() {
                return Ok(added);
            }
            let head = match &self.head {
                Some(head) => head.clone(),
                None => store.audit_head(self.org).await?.map(|e| ChainHead { seq: e.seq, hmac: e.hmac }),
            };
            let (events, drained, unreadable) = self.seal(head.as_ref(), pending);
            let new_head = events.last().map(|e| ChainHead { seq: e.seq, hmac: e.hmac.clone() });
            let count = events.len() as u64;
            match store.chain_audit(events, drained).await {
                Ok(()) => {
                    races = 0;
                    added += count;
                    self.head = Some(new_head.clone());
                    self.stats.chained += count;
                    self.stats.transactions += 1;
                    self.stats.unreadable += unreadable;
                    self.stats.head_seq = new_head.map(|h| h.seq).unwrap_or(0);
                }
                Err(StoreError::AuditSequence { .. } | StoreError::AuditOutboxTaken { .. }) if races < MAX_RACES => {
                    races += 1;
                    self.stats.races += 1;
                    self.head = None;
                }
                Err(e) => {
                    self.head = None;
                    return Err(e);
                }
            }
        }
    }

    fn seal(&self, head: Option<&ChainHead>, pending: Vec<PendingAudit>) -> (Vec<AuditEvent>, Vec<u64>, u64) {
        let mut events: Vec<AuditEvent> = Vec::with_capacity(pending.len());
        let mut drained = Vec::with_capacity(pending.len());
        let mut unreadable = 0;
        for row in pending {
            let draft = row.draft.unwrap_or_else(|bad| {
                unreadable += 1;
                // Drafts hold no secrets (details never do), so what was stored can be kept.
                let mut stored = bad.stored;
                if stored.len() > KEEP_UNREADABLE {
                    let mut cut = KEEP_UNREADABLE;
                    while !stored.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    stored.truncate(cut);
                }
                AuditDraft {
                    org_id: self.org,
                    actor: Principal::System("audit".into()),
                    action: UNREADABLE_ACTION.into(),
                    object: None,
                    project_id: None,
                    details: serde_json::json!({ "outbox_id": row.id, "reason": bad.reason, "stored": stored }),
                }
            });
            let previous = events.last().map(|e| ChainHead { seq: e.seq, hmac: e.hmac.clone() });
            events.push(seal_entry(&self.secret, previous.as_ref().or(head), draft, row.at));
            drained.push(row.id);
        }
        (events, drained, unreadable)
    }
}
