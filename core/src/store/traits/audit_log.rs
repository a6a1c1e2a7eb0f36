//! The audit chain and its outbox. Only an organization's AuditActor (`audit::ChainWriter`) chains;
//! everyone else writes to the outbox, in the transaction of the change it records.
//! Invariant: per organization, `seq` is gap-free and an outbox row leaves only as a chain entry.

use async_trait::async_trait;

use crate::ids::{OrgId, ProjectId};
use crate::model::AuditEvent;
use crate::scope::OrgScope;
use crate::store::StoreError;
use crate::timestamp::Timestamp;

/// Which audit events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub project_id: Option<ProjectId>,
    /// Only entries about this object (a certificate's id for its timeline).
    pub object_id: Option<String>,
    pub action: Option<String>,
    /// From this instant on (inclusive) …
    pub from: Option<Timestamp>,
    /// … until this instant (exclusive).
    pub until: Option<Timestamp>,
}

/// An audit event to write with a state change: it goes to the organization's outbox in the
/// change's own transaction, so the two land together or not at all, and the organization's
/// AuditActor chains it (docs/audit.md). Writers need no audit secret.
#[derive(Debug, Clone)]
pub struct AuditWrite {
    pub draft: crate::audit::AuditDraft,
}

#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends entries that must continue the organization's chain (`seq` = head + 1, gap-free,
    /// else `AuditSequence`) and deletes the outbox rows `drained` (each must still be there, else
    /// `AuditOutboxTaken`), in one transaction.
    async fn chain_audit(&self, events: Vec<AuditEvent>, drained: Vec<u64>) -> Result<(), StoreError>;
    /// Writes one event to the outbox on its own (no state change goes with it: a failed login, a
    /// rotation). Returns its outbox id.
    async fn append_audit(&self, audit: AuditWrite) -> Result<u64, StoreError>;
    /// The organization's outbox, oldest first: what its AuditActor has still to chain.
    async fn pending_audit(&self, org: OrgId, limit: usize) -> Result<Vec<crate::audit::PendingAudit>, StoreError>;
    /// Organizations with events waiting in the outbox, and how many.
    async fn pending_audit_orgs(&self) -> Result<Vec<(OrgId, u64)>, StoreError>;
    /// Told the organization each time this store object commits an outbox row. Other processes'
    /// writes are not signalled; AuditActors also look at the outbox on a timer.
    fn audit_outbox_signal(&self) -> tokio::sync::broadcast::Receiver<OrgId>;
    /// Moves `org`'s entries up to `through_seq` out of the live chain, in one transaction: only if
    /// the recorded checkpoint is still at `expected_checkpoint` (0: none; else `Conflict`) and the
    /// head stays live (`through_seq` below it, else `InvalidRequest`), deletes them, records
    /// `checkpoint` (`audit::Checkpoint` as JSON) and writes `audit` (its `audit.archived` entry) to
    /// the outbox. The segment holding them is written and fsynced before this is called.
    async fn archive_audit(
        &self,
        org: OrgId,
        expected_checkpoint: u64,
        through_seq: u64,
        checkpoint: &str,
        audit: AuditWrite,
    ) -> Result<(), StoreError>;
    /// The organization's checkpoint as recorded (JSON), once entries were archived.
    async fn audit_checkpoint(&self, org: OrgId) -> Result<Option<String>, StoreError>;
    async fn audit_head(&self, org: OrgId) -> Result<Option<AuditEvent>, StoreError>;
    async fn list_audit_events(
        &self,
        scope: &OrgScope,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Events matching `filter`, in chain order, after `after_seq`.
    async fn search_audit_events(
        &self,
        scope: &OrgScope,
        filter: &AuditFilter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
