//! What the store can answer besides success, the same for every backend. Callers decide retries
//! from `is_retryable`, never from text.
//! Invariant: no backend's own error type appears here; a backend maps its errors into these
//! variants (storage refusals into `NotWritable`, the rest into `Backend` with the source boxed).

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
    /// The store's server could not be reached or chosen (a restart, a lost connection, an
    /// election): the same call may succeed once it is back.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The storage refused the write: full, or read-only. Nothing committed is lost and reads go
    /// on; the same write succeeds once space returns (issue 16, item 6).
    #[error("the store cannot write: {reason} ({detail})")]
    NotWritable { reason: NotWritableReason, detail: String },
    #[error("stored {kind} {id} cannot be decoded: {reason}")]
    Corrupt { kind: &'static str, id: String, reason: String },
    /// One audit entry cannot be decoded; readers that can go on without it know which one.
    #[error("audit entry {seq} of organization {org} cannot be decoded: {reason}")]
    CorruptAuditEntry { org: crate::ids::OrgId, seq: u64, reason: String },
    #[error("database migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    /// The backend's consistency check found damage: only for that, never for a failed write.
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("the store is closed")]
    Closed,
    /// Any other failure of the backend, with its own error as the source.
    #[error("database error: {source}")]
    Backend {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
}

/// Why storage refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWritableReason {
    /// No space left (SQLite's `SQLITE_FULL`, `ENOSPC`).
    Full,
    /// The database or its file system is read-only (`SQLITE_READONLY`, `EROFS`).
    ReadOnly,
}

impl NotWritableReason {
    /// The stable name, for metric labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            NotWritableReason::Full => "full",
            NotWritableReason::ReadOnly => "read_only",
        }
    }
}

impl std::fmt::Display for NotWritableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotWritableReason::Full => "storage is full",
            NotWritableReason::ReadOnly => "storage is read-only",
        })
    }
}

impl StoreError {
    /// True when the same call may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy
                | StoreError::Unavailable(_)
                | StoreError::Conflict { .. }
                | StoreError::NotWritable { .. }
        )
    }

    /// Any backend failure that has no variant of its own.
    pub fn backend(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError::Backend { source: source.into() }
    }

    pub(crate) fn not_found(kind: RecordKind, id: impl Into<String>) -> Self {
        StoreError::NotFound { kind: kind.name(), id: id.into() }
    }
}

impl From<std::io::Error> for StoreError {
    /// A file system out of space or read-only is a storage refusal, whichever backend met it.
    fn from(e: std::io::Error) -> Self {
        let reason = match e.kind() {
            std::io::ErrorKind::StorageFull => Some(NotWritableReason::Full),
            std::io::ErrorKind::ReadOnlyFilesystem => Some(NotWritableReason::ReadOnly),
            _ => None,
        };
        match reason {
            Some(reason) => StoreError::NotWritable { reason, detail: e.to_string() },
            None => StoreError::Io(e),
        }
    }
}
