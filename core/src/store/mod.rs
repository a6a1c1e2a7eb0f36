//! The store: one trait per concern (`traits/`), `Store` as their sum, with SQLite as the embedded
//! backend (MongoDB later, same conformance suite, one concern at a time); `StoreTransfer` and
//! `copy_store` move a whole installation between backends, outside `Store`.
//! Invariant: every read and write of a scoped record goes through a `RecordScope` that only a
//! `ProjectScope` or `OrgScope` can produce, and the backend adds that scope's filter to the query itself.

mod copy;
mod error;
mod expiry_order;
pub mod mongodb;
mod org_doc;
mod page;
mod record;
mod round_trips;
pub mod sqlite;
mod traits;
mod unsealed;

#[cfg(feature = "testsuite")]
pub mod conformance;

pub use copy::{COPY_BATCH, CopyError, CopyProgress, CopyReport, copy_store};
pub use error::{NotWritableReason, StoreError};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest, cursor_after};
pub use record::{RawRecord, Record, RecordKind, RecordScope, RecordStore, ScopeArg, membership_key};
pub use round_trips::RoundTrips;
pub use traits::{
    AuditFilter, AuditLog, AuditMarkRow, AuditWrite, BatchReads, CertificateExpiry, CertificateStats, ClaimRequest,
    Enqueued, ExportPage, Fencing, JobFailure, JobLogRow, JobQueue, JobRow, LoginThrottle, OrganizationRow,
    Organizations, OutboxRow, Records, SealedKey, SealedRow, SealedSecrets, SiemCursorRow, SiemCursors, Store,
    StoreHealth, StoreTransfer, SubjectLogLine, TransferPart, TransferRow, WriteHealth, WriteHealthTracker, prelude,
};
pub use unsealed::{SealedFields, ShownUnsealed, Unsealed};
