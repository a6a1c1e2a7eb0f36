//! Scoped records in their stored form (`RecordStore` is their typed face), and the few queries
//! about certificates and projects that cut across records.
//! Invariant: every read and write takes a `RecordScope` (or a `SystemScope` for service-wide
//! reads), and the backend puts that scope's filter into the query itself.

use async_trait::async_trait;

use crate::ids::{CertificateId, ProjectId};
use crate::model::{Certificate, Membership, NewJob};
use crate::scope::{OrgScope, ProjectScope, SystemScope};
use crate::store::{
    AuditWrite, Enqueued, Page, PageRequest, RawRecord, RecordKind, RecordScope, SealedFields, StoreError,
};
use crate::timestamp::Timestamp;

/// When one certificate expires, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    pub id: CertificateId,
    pub project_id: ProjectId,
    pub common_name: String,
    pub status: crate::model::CertificateStatus,
    pub not_after: Timestamp,
}

#[async_trait]
pub trait Records: Send + Sync + 'static {
    async fn insert_raw(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;
    /// Inserts records and enqueues a job in one transaction: both land or neither does. A backend
    /// implements it beside its job queue (the job row goes into the same transaction).
    async fn insert_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError>;
    /// Updates records (each at the version it carries) and enqueues a job in one transaction: a
    /// decision and the work it starts (an approval granted and its job) land together or not at all.
    async fn update_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError>;
    async fn get_raw(&self, scope: &RecordScope, kind: RecordKind, id: &str) -> Result<RawRecord, StoreError>;
    /// Those of `ids` that exist within `scope`, in the order given; the others are left out.
    async fn get_many_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, StoreError>;
    async fn find_unique_raw(&self, scope: &RecordScope, kind: RecordKind, key: &str) -> Result<RawRecord, StoreError>;
    /// A page in id order; with `SealedFields::Leave`, without the records' sealed fields.
    async fn list_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        lookup_key: Option<&str>,
        page: &PageRequest,
        sealed: SealedFields,
    ) -> Result<Page<RawRecord>, StoreError>;
    /// Records of a project-scoped kind across every project, for system components.
    async fn list_all_raw(
        &self,
        scope: &SystemScope,
        kind: RecordKind,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, StoreError>;
    async fn update_raw(
        &self,
        scope: &RecordScope,
        record: RawRecord,
        audit: Option<AuditWrite>,
    ) -> Result<RawRecord, StoreError>;
    async fn delete_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        id: &str,
        expected_version: Option<u64>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;
    /// Updates records of any kinds in `scope`, each only at its stored version, and appends
    /// `audit`, in one transaction: all land or none (disabling a user with all its sessions and
    /// API tokens). Returns the records as stored, in the order given.
    async fn update_raw_many(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<Vec<RawRecord>, StoreError>;

    /// Deletes a certificate at `expected_version` together with its deployment records and its
    /// sealed keys, and appends `audit`, in one transaction (issue 15, item 5): a certificate
    /// changed meanwhile answers `Conflict` and nothing is deleted.
    async fn delete_certificate(
        &self,
        scope: &ProjectScope,
        id: CertificateId,
        expected_version: u64,
        audit: AuditWrite,
    ) -> Result<(), StoreError>;
    /// Deletes an empty project with its memberships in one transaction (`NotEmpty` if any
    /// account, credential, zone, target or certificate remains).
    async fn delete_empty_project(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;
    /// The memberships of one project.
    async fn project_members(&self, scope: &OrgScope, project: ProjectId) -> Result<Vec<Membership>, StoreError>;

    /// Which project a project-scoped record belongs to, for callers that have only its id; the
    /// record itself must still be read through a scope built from the caller's membership.
    async fn locate_project(
        &self,
        scope: &SystemScope,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<ProjectId>, StoreError>;

    /// Certificates of every project whose renewal window opens before `before`, oldest window first.
    async fn certificates_due(
        &self,
        scope: &SystemScope,
        before: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError>;

    /// Every certificate holding an issued certificate, with its expiry, soonest first, at most
    /// `limit` (for the expiry metric). Revoked certificates are left out: they are not live, and
    /// an alert on their expiry would ask for a renewal that must not happen (issue 15, item 6).
    async fn certificate_expiries(
        &self,
        scope: &SystemScope,
        limit: usize,
    ) -> Result<Vec<CertificateExpiry>, StoreError>;
}
