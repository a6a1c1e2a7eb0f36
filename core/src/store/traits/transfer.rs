//! Moving an installation between backends (`certautopilot store copy`): every stored row, read a
//! page at a time in the backend's key order and written back as it was stored: ids, versions,
//! leases, sealed ciphertext (never opened: no KEK is needed), chain HMACs and outbox ids included.
//! Invariant: a row exported by one backend and imported by another reads back equal, so the copy
//! answers every query as the source did; import checks no business rule and is only ever run
//! into an empty store, which is why this is not a concern of `Store`: no service path holds it.

use async_trait::async_trait;

use crate::ids::{JobId, OrgId};
use crate::model::{AuditEvent, FenceRecord, Job, JobLogLine};
use crate::scope::SystemScope;
use crate::store::{RawRecord, RecordKind, SealedRow, StoreError};
use crate::timestamp::Timestamp;

/// One kind of stored row. `all()` lists them in the order an import must follow (a job before
/// its log lines, records before nothing that needs them, the audit chain in `seq` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferPart {
    Organizations,
    Records(RecordKind),
    /// The sealed values of organizations and records, as ciphertext.
    Sealed,
    Jobs,
    JobLogs,
    AuditEvents,
    AuditOutbox,
    Fences,
    SiemCursors,
    /// The audit chain's marks: the verified-up-to mark and the archive checkpoint.
    AuditMarks,
}

impl TransferPart {
    /// Every part, in import order.
    pub fn all() -> Vec<TransferPart> {
        let mut parts = vec![TransferPart::Organizations];
        parts.extend(RecordKind::ALL.into_iter().map(TransferPart::Records));
        parts.extend([
            TransferPart::Sealed,
            TransferPart::Jobs,
            TransferPart::JobLogs,
            TransferPart::AuditEvents,
            TransferPart::AuditOutbox,
            TransferPart::Fences,
            TransferPart::SiemCursors,
            TransferPart::AuditMarks,
        ]);
        parts
    }

    /// The part's name in progress lines and reports (`records/certificates`).
    pub fn name(self) -> String {
        match self {
            TransferPart::Organizations => "organizations".into(),
            TransferPart::Records(kind) => format!("records/{}", kind.table()),
            TransferPart::Sealed => "sealed values".into(),
            TransferPart::Jobs => "jobs".into(),
            TransferPart::JobLogs => "job log lines".into(),
            TransferPart::AuditEvents => "audit events".into(),
            TransferPart::AuditOutbox => "audit outbox".into(),
            TransferPart::Fences => "scheduler fences".into(),
            TransferPart::SiemCursors => "siem cursors".into(),
            TransferPart::AuditMarks => "audit marks".into(),
        }
    }
}

/// An organization as stored: its document without its sealed keys (those travel as `Sealed` rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationRow {
    pub id: OrgId,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub doc: String,
}

/// A job with its lease state and the counters the model does not show.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub job: Job,
    /// The number the job's next log line gets.
    pub next_log_seq: u64,
    /// Which start of `lease_owner` holds the lease, if running: a copied lease stays its holder's,
    /// so the holder's next start ends it at once as it would have on the source.
    pub lease_incarnation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobLogRow {
    pub job_id: JobId,
    pub line: JobLogLine,
}

/// An audit outbox row as stored: the draft stays text, so a row that no longer decodes is copied
/// as it is and the audit actor records it on the copy as it would have on the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: u64,
    /// Text, not `OrgId`: a malformed one is copied (and reported by the audit actor), not refused.
    pub org_id: String,
    pub at: Timestamp,
    pub draft: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiemCursorRow {
    pub destination: String,
    pub org_id: OrgId,
    pub delivered_seq: u64,
    pub updated_at: Timestamp,
}

/// An audit chain mark as stored: `verified` or `checkpoint`, its `seq` and its document (JSON,
/// tagged under the audit secret, copied as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditMarkRow {
    pub org_id: OrgId,
    pub name: String,
    pub seq: u64,
    pub doc: String,
    pub updated_at: Timestamp,
}

/// One stored row of any part.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferRow {
    Organization(OrganizationRow),
    /// A record without its sealed fields (`sealed` is empty; they travel as `Sealed` rows).
    Record(RawRecord),
    Sealed(SealedRow),
    Job(JobRow),
    JobLog(JobLogRow),
    AuditEvent(AuditEvent),
    AuditOutbox(OutboxRow),
    Fence(FenceRecord),
    SiemCursor(SiemCursorRow),
    AuditMark(AuditMarkRow),
}

impl TransferRow {
    /// The part this row belongs to.
    pub fn part(&self) -> TransferPart {
        match self {
            TransferRow::Organization(_) => TransferPart::Organizations,
            TransferRow::Record(raw) => TransferPart::Records(raw.kind),
            TransferRow::Sealed(_) => TransferPart::Sealed,
            TransferRow::Job(_) => TransferPart::Jobs,
            TransferRow::JobLog(_) => TransferPart::JobLogs,
            TransferRow::AuditEvent(_) => TransferPart::AuditEvents,
            TransferRow::AuditOutbox(_) => TransferPart::AuditOutbox,
            TransferRow::Fence(_) => TransferPart::Fences,
            TransferRow::SiemCursor(_) => TransferPart::SiemCursors,
            TransferRow::AuditMark(_) => TransferPart::AuditMarks,
        }
    }
}

/// A page of one part and where the next one starts (`None`: that was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportPage {
    pub rows: Vec<TransferRow>,
    /// Opaque to the caller; only the backend that wrote it reads it back.
    pub next: Option<String>,
}

#[async_trait]
pub trait StoreTransfer: Send + Sync + 'static {
    /// How many rows the part holds.
    async fn transfer_count(&self, scope: &SystemScope, part: TransferPart) -> Result<u64, StoreError>;
    /// Up to `limit` rows of `part` after the position `after` (from the start without it), in the
    /// backend's key order.
    async fn export_rows(
        &self,
        scope: &SystemScope,
        part: TransferPart,
        after: Option<String>,
        limit: usize,
    ) -> Result<ExportPage, StoreError>;
    /// Writes rows exactly as given, in one transaction. No business rule is checked (the source
    /// checked them when it wrote); a row whose key exists already is refused (`AlreadyExists`).
    async fn import_rows(&self, scope: &SystemScope, rows: Vec<TransferRow>) -> Result<(), StoreError>;
    /// Whether the store holds no data at all: no row of any part, and nothing a backend keeps
    /// besides (MongoDB's first-setup marker). Only an empty store may be imported into.
    async fn is_empty(&self, scope: &SystemScope) -> Result<bool, StoreError>;
}
