//! The store's contract, one trait per concern, and `Store` as their sum. A backend implements each
//! concern on its own (and passes that concern's part of the conformance suite), so a new backend
//! can be built and tested one concern at a time.
//! Invariant: `Store` adds no method of its own; every implementer of all the concerns is a `Store`.

mod audit_log;
mod batch_reads;
mod certificate_stats;
mod fencing;
mod job_queue;
mod login_throttle;
mod organizations;
mod records;
mod sealed_secrets;
mod siem_cursors;
mod store_health;
mod transfer;

pub use audit_log::{AuditFilter, AuditLog, AuditWrite};
pub use batch_reads::{BatchReads, SubjectLogLine};
pub use certificate_stats::CertificateStats;
pub use fencing::Fencing;
pub use job_queue::{ClaimRequest, Enqueued, JobFailure, JobQueue};
pub use login_throttle::LoginThrottle;
pub use organizations::Organizations;
pub use records::{CertificateExpiry, Records};
pub use sealed_secrets::{SealedKey, SealedRow, SealedSecrets};
pub use siem_cursors::SiemCursors;
pub use store_health::{StoreHealth, WriteHealth, WriteHealthTracker};
pub use transfer::{
    AuditMarkRow, ExportPage, JobLogRow, JobRow, OrganizationRow, OutboxRow, SiemCursorRow, StoreTransfer,
    TransferPart, TransferRow,
};

/// The whole store. Its methods are its concerns' methods: callable on `dyn Store` and on any
/// `S: Store` without importing the concern traits; on a concrete backend type, import
/// `store::prelude::*`.
pub trait Store:
    Organizations
    + Records
    + BatchReads
    + CertificateStats
    + JobQueue
    + Fencing
    + AuditLog
    + SealedSecrets
    + LoginThrottle
    + SiemCursors
    + StoreHealth
{
}

impl<T> Store for T where
    T: Organizations
        + Records
        + BatchReads
        + CertificateStats
        + JobQueue
        + Fencing
        + AuditLog
        + SealedSecrets
        + LoginThrottle
        + SiemCursors
        + StoreHealth
        + ?Sized
{
}

/// Every concern trait, for code that calls store methods on a concrete backend type.
pub mod prelude {
    pub use super::{
        AuditLog, BatchReads, CertificateStats, Fencing, JobQueue, LoginThrottle, Organizations, Records,
        SealedSecrets, SiemCursors, Store, StoreHealth,
    };
    pub use crate::store::RecordStore;
}
