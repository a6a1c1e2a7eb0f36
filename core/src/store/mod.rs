//! The store: one trait per concern (`traits/`), `Store` as their sum, with SQLite as the embedded
//! backend (MongoDB later, same conformance suite, one concern at a time).
//! Invariant: every read and write of a scoped record goes through a `RecordScope` that only a
//! `ProjectScope` or `OrgScope` can produce, and the backend adds that scope's filter to the query itself.

mod error;
pub mod mongodb;
mod org_doc;
mod page;
mod record;
mod round_trips;
pub mod sqlite;
mod traits;

#[cfg(feature = "testsuite")]
pub mod conformance;

pub use error::{NotWritableReason, StoreError};
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use record::{RawRecord, Record, RecordKind, RecordScope, RecordStore, ScopeArg, membership_key};
pub use round_trips::RoundTrips;
pub use traits::{
    AuditFilter, AuditLog, AuditWrite, CertificateExpiry, ClaimRequest, Enqueued, Fencing, JobFailure, JobQueue,
    LoginThrottle, Organizations, Records, SealedKey, SealedRow, SealedSecrets, SiemCursors, Store, StoreHealth,
    WriteHealth, WriteHealthTracker, prelude,
};
