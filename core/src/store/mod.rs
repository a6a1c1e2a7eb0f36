//! The store: one async trait, with SQLite as the embedded backend (MongoDB later, same conformance suite).
//! Invariant: every read and write of a scoped record goes through a `RecordScope` that only a
//! `ProjectScope` or `OrgScope` can produce, and the backend adds that scope's filter to the query itself.

mod error;
mod page;
mod record;
pub mod sqlite;

#[cfg(feature = "testsuite")]
pub mod conformance;

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

pub use error::StoreError;
pub use page::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use record::{RawRecord, Record, RecordKind, RecordScope, RecordStore, ScopeArg, membership_key};

use crate::ids::{JobId, OrgId, ProjectId};
use crate::model::{
    AuditEvent, Certificate, Fence, FenceRecord, Job, JobLease, JobLogLine, JobStatus, LogLevel, LoginPolicy,
    LoginVerdict, NewJob, Organization,
};
use crate::scope::{OrgScope, ProjectScope, SystemScope};
use crate::timestamp::Timestamp;

/// What `enqueue_job` did: made a new job, or found the one with the same dedupe key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub job: Job,
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub node_id: String,
    /// Only these kinds; empty claims none (a worker claims only what it has handlers for).
    pub kinds: Vec<crate::model::JobKind>,
    pub limit: usize,
    pub lease: Duration,
}

/// Why an attempt failed and whether another attempt can help.
#[derive(Debug, Clone)]
pub struct JobFailure {
    pub error: String,
    /// `false` for failures no retry can fix (a CA's final refusal): the job goes straight to `dead`.
    pub retryable: bool,
    pub backoff: crate::jobs::Backoff,
}

/// Where a sealed value lives: its record's table and id, and the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedKey {
    pub table: String,
    pub record_id: String,
    pub field: String,
}

/// A sealed value as stored, for a KEK rotation to re-wrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    pub key: SealedKey,
    pub secret: crate::model::SealedSecret,
}

/// When one certificate expires, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    pub id: crate::ids::CertificateId,
    pub project_id: ProjectId,
    pub common_name: String,
    pub status: crate::model::CertificateStatus,
    pub not_after: Timestamp,
}

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
pub trait Store: Send + Sync + 'static {
    /// First run: creates the organization and its owner together, only if no organization exists
    /// yet (`AlreadyExists` otherwise), atomically even against another process doing the same.
    async fn create_first_organization(
        &self,
        org: &Organization,
        owner: &crate::model::User,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;

    // Organizations: the top of the tenancy tree, unscoped.
    async fn create_organization(&self, org: &Organization) -> Result<(), StoreError>;
    async fn get_organization(&self, id: OrgId) -> Result<Organization, StoreError>;
    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    async fn update_organization(&self, org: &Organization) -> Result<Organization, StoreError>;

    // Scoped records, in their stored form; `RecordStore` is the typed face of these.
    async fn insert_raw(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError>;
    /// Inserts records and enqueues a job in one transaction: both land or neither does.
    async fn insert_raw_and_enqueue(
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
    async fn list_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        lookup_key: Option<&str>,
        page: &PageRequest,
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
        id: crate::ids::CertificateId,
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
    async fn project_members(
        &self,
        scope: &OrgScope,
        project: ProjectId,
    ) -> Result<Vec<crate::model::Membership>, StoreError>;

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

    // The job queue (lifecycle in `model::job`).
    async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError>;
    /// A scheduler's first write in its term: records it, or refuses with `Fenced` if a newer term
    /// has written. Taking over is a write, so the term that wins is the one that fences.
    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Every (term, node) whose scheduler writes were accepted, oldest term first.
    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError>;
    async fn claim_jobs(&self, claim: &ClaimRequest) -> Result<Vec<Job>, StoreError>;
    async fn heartbeat_job(&self, lease: &JobLease, extend_by: Duration) -> Result<JobLease, StoreError>;
    async fn complete_job(&self, lease: &JobLease, message: &str) -> Result<Job, StoreError>;
    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> Result<Job, StoreError>;
    /// Gives a job back without counting the attempt (graceful shutdown).
    async fn release_job(&self, lease: &JobLease, reason: &str) -> Result<Job, StoreError>;
    async fn append_job_log(
        &self,
        lease: &JobLease,
        level: LogLevel,
        message: &str,
        fields: serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Any job, for service components (the worker that holds it, the CLI).
    async fn get_job(&self, scope: &SystemScope, id: JobId) -> Result<Job, StoreError>;
    async fn get_project_job(&self, scope: &ProjectScope, id: JobId) -> Result<Job, StoreError>;
    async fn list_project_jobs(&self, scope: &ProjectScope, page: &PageRequest) -> Result<Page<Job>, StoreError>;
    async fn job_logs(&self, scope: &SystemScope, id: JobId) -> Result<Vec<JobLogLine>, StoreError>;
    /// Log lines of every job about `subject` (a certificate) in the scope's project, oldest first.
    async fn subject_job_logs(
        &self,
        scope: &ProjectScope,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<(JobId, crate::model::JobKind, JobLogLine)>, StoreError>;
    async fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError>;

    // The audit chain and its outbox. Only an organization's AuditActor (`audit::ChainWriter`)
    // chains; everyone else writes to the outbox.
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

    /// The last audit `seq` of `org` that SIEM destination `destination` has received (0: none).
    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError>;
    /// Records delivery up to `seq`; a cursor never moves back.
    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError>;

    // KEK rotation (ARCHITECTURE.md §5): only wrapped data keys change, never the data.
    /// How many sealed values each KEK version still wraps.
    async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError>;
    /// Up to `limit` sealed values wrapped by a KEK version older than `version`.
    async fn sealed_older_than(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError>;
    /// Stores re-wrapped values in one transaction, each only if unchanged since it was read.
    async fn rewrap_sealed(&self, updates: Vec<(SealedRow, crate::model::SealedSecret)>) -> Result<u64, StoreError>;
    /// Up to `limit` sealed values wrapped by exactly KEK `version`: the start-up check's sample.
    async fn sealed_with_version(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError>;
    /// Every sealed value in key order, a page at a time (after `after`): a migration's final check.
    async fn sealed_after(&self, after: Option<SealedKey>, limit: usize) -> Result<Vec<SealedRow>, StoreError>;

    // Failed-login throttling (`model::LoginPolicy`), shared by every process on the store.
    /// Decides a login attempt on the failures counted under its keys (account, address, and the
    /// pair of both) within the policy's lockout and, if it may proceed, counts it as a failure
    /// under every key at once (a success takes it back), in one transaction: concurrent guesses,
    /// from any process, cannot slip past a count that has not been raised yet.
    async fn reserve_login_attempt(
        &self,
        keys: &crate::model::LoginAttemptKeys,
        policy: &LoginPolicy,
    ) -> Result<LoginVerdict, StoreError>;
    /// A login succeeded: clears the account's and the pair's failures and takes back the attempt
    /// reserved for the address.
    async fn login_succeeded(&self, keys: &crate::model::LoginAttemptKeys) -> Result<(), StoreError>;

    /// The backend's own consistency check (SQLite's `PRAGMA integrity_check`).
    async fn integrity_check(&self) -> Result<(), StoreError>;
}
