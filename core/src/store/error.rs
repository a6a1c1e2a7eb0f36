//! What the store can answer besides success. Callers decide retries from `is_retryable`, never from text.

use crate::ids::JobId;
use crate::store::RecordKind;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} {id} was changed by someone else (expected version {expected}, found {actual})")]
    Conflict { kind: &'static str, id: String, expected: u64, actual: u64 },
    #[error("{kind} with {key} already exists")]
    AlreadyExists { kind: &'static str, key: String },
    #[error("{kind} {id} still holds {holds}")]
    NotEmpty { kind: &'static str, id: String, holds: &'static str },
    #[error("{kind} belongs to another scope than the one given")]
    ScopeMismatch { kind: &'static str },
    #[error("the lease on job {job_id} is no longer held (expired or taken over)")]
    LeaseLost { job_id: JobId },
    #[error("audit sequence for this organization continues at {expected}, got {got}")]
    AuditSequence { expected: u64, got: u64 },
    /// Another writer chained this outbox row first; reload and go on from the new head.
    #[error("audit outbox row {id} was chained by another writer")]
    AuditOutboxTaken { id: u64 },
    /// A scheduler write under an older term than one the store has already accepted.
    #[error(
        "scheduler write under term {term} refused: term {newest} has written since (this node is no longer the leader)"
    )]
    Fenced { term: u64, newest: u64 },
    #[error("invalid pagination cursor")]
    InvalidCursor,
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("database is busy (locked by another writer beyond the busy timeout)")]
    Busy,
    #[error("stored {kind} {id} cannot be decoded: {reason}")]
    Corrupt { kind: &'static str, id: String, reason: String },
    /// One audit entry cannot be decoded; readers that can go on without it know which one.
    #[error("audit entry {seq} of organization {org} cannot be decoded: {reason}")]
    CorruptAuditEntry { org: crate::ids::OrgId, seq: u64, reason: String },
    #[error("database migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("the store is closed")]
    Closed,
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// True when the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy | StoreError::Conflict { .. })
    }

    pub(crate) fn not_found(kind: RecordKind, id: impl Into<String>) -> Self {
        StoreError::NotFound { kind: kind.name(), id: id.into() }
    }
}
