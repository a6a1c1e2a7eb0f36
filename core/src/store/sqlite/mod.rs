//! The embedded backend: one SQLite file in WAL mode, safe for several processes on one host.
//! Writes go through this process's group-commit writer (`writer.rs`) and `BEGIN IMMEDIATE`, so they
//! serialize with other processes through SQLite's lock; reads use pooled connections on the blocking pool.

mod audit;
mod connection;
mod jobs;
mod login;
mod migrations;
mod ownership;
mod read_pool;
mod records;
mod sealed;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;

use crate::clock::{Clock, SystemClock};
use crate::ids::{JobId, OrgId};
use crate::model::{
    AuditEvent, Certificate, Fence, FenceRecord, Job, JobLease, JobLogLine, JobStatus, LogLevel, LoginVerdict, NewJob,
    Organization,
};
use crate::scope::{OrgScope, ProjectScope, SystemScope};
use crate::store::{
    AuditWrite, ClaimRequest, Enqueued, JobFailure, Page, PageRequest, RawRecord, RecordKind, RecordScope, Store,
    StoreError,
};
use crate::timestamp::Timestamp;

use self::audit as audit_log;
use self::connection::{ConnectionRole, open_connection};
use self::read_pool::ReadPool;
use self::writer::Writer;

pub use self::migrations::LATEST_VERSION as SCHEMA_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged write survives power loss.
    Full,
    /// fsync at checkpoints only: the last commits may be lost on power loss, never corrupted.
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub busy_timeout: Duration,
    pub synchronous: Synchronous,
    pub read_connections: usize,
    pub max_write_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Full,
            read_connections: 4,
            max_write_batch: 256,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReadPool>,
    clock: Arc<dyn Clock>,
    /// Organizations whose outbox just got rows, for this process's AuditActors.
    audit_signal: tokio::sync::broadcast::Sender<OrgId>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, options, clock))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }

    pub fn open_blocking(path: &Path, options: SqliteOptions, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let conn = open_connection(path, &options, ConnectionRole::Writer)?;
        migrations::migrate(&conn)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Writer::start(conn, options.max_write_batch),
            readers: Arc::new(ReadPool::new(path.to_path_buf(), options)),
            clock,
            audit_signal: tokio::sync::broadcast::channel(256).0,
        })
    }

    /// A store on a fresh file in `dir`, with the system clock: what tests and benches start from.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        Self::open(dir.join("certautopilot.db"), SqliteOptions::default(), Arc::new(SystemClock)).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// Runs `f` and writes `audit`'s event to the outbox in the same transaction, then tells this
    /// process's AuditActors there is something to chain.
    async fn write_audited<T, F>(&self, audit: Option<AuditWrite>, now: Timestamp, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let org = audit.as_ref().map(|a| a.draft.org_id);
        let done = self
            .write(move |c| {
                let done = f(c)?;
                audit_log::enqueue(c, audit.as_ref(), now)?;
                Ok(done)
            })
            .await?;
        if let Some(org) = org {
            // Nobody listening (a CLI, a test) is fine: the rows wait in the outbox.
            let _ = self.audit_signal.send(org);
        }
        Ok(done)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_first_organization(
        &self,
        org: &Organization,
        owner: &crate::model::User,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        use crate::store::Record;
        let (org, owner, now) = (org.clone(), owner.clone(), self.now());
        let scope = RecordScope::from(&OrgScope::for_system("setup", &org));
        let owner_raw = owner.to_raw(&scope)?;
        self.write_audited(audit, now, move |c| {
            let existing: i64 = c.query_row("SELECT COUNT(*) FROM organizations", [], |r| r.get(0))?;
            if existing > 0 {
                return Err(StoreError::AlreadyExists { kind: "organization", key: "setup already done".into() });
            }
            records::create_organization(c, &org)?;
            records::insert(c, &scope, &[owner_raw])
        })
        .await
    }

    async fn create_organization(&self, org: &Organization) -> Result<(), StoreError> {
        let org = org.clone();
        self.write(move |c| records::create_organization(c, &org)).await
    }

    async fn get_organization(&self, id: OrgId) -> Result<Organization, StoreError> {
        self.read(move |c| records::get_organization(c, id)).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        self.read(records::list_organizations).await
    }

    async fn update_organization(&self, org: &Organization) -> Result<Organization, StoreError> {
        let (org, now) = (org.clone(), self.now());
        self.write(move |c| records::update_organization(c, &org, now)).await
    }

    async fn insert_raw(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| records::insert(c, &scope, &records)).await
    }

    async fn insert_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        if job.project_id().is_some_and(|p| Some(p) != scope.project_id()) {
            return Err(StoreError::ScopeMismatch { kind: "job" });
        }
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| {
            records::insert(c, &scope, &records)?;
            jobs::enqueue(c, &job, now)
        })
        .await
    }

    async fn get_raw(&self, scope: &RecordScope, kind: RecordKind, id: &str) -> Result<RawRecord, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read(move |c| records::get(c, &scope, kind, &id)).await
    }

    async fn get_many_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, StoreError> {
        let (scope, ids) = (scope.clone(), ids.to_vec());
        self.read(move |c| records::get_many(c, &scope, kind, &ids)).await
    }

    async fn find_unique_raw(&self, scope: &RecordScope, kind: RecordKind, key: &str) -> Result<RawRecord, StoreError> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.read(move |c| records::find_unique(c, &scope, kind, &key)).await
    }

    async fn list_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        lookup_key: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, StoreError> {
        let (scope, lookup, page) = (scope.clone(), lookup_key.map(str::to_owned), page.clone());
        self.read(move |c| records::list(c, &scope, kind, lookup.as_deref(), &page)).await
    }

    async fn list_all_raw(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, StoreError> {
        let page = page.clone();
        self.read(move |c| records::list_all(c, kind, &page)).await
    }

    async fn update_raw(
        &self,
        scope: &RecordScope,
        record: RawRecord,
        audit: Option<AuditWrite>,
    ) -> Result<RawRecord, StoreError> {
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| records::update(c, &scope, record, now)).await
    }

    async fn update_raw_many(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let (scope, now) = (scope.clone(), self.now());
        // `write_audited` runs the closure in one transaction: the first refused update rolls back
        // the ones before it.
        self.write_audited(audit, now, move |c| {
            records.into_iter().map(|record| records::update(c, &scope, record, now)).collect()
        })
        .await
    }

    async fn delete_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        id: &str,
        expected_version: Option<u64>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (scope, id, now) = (scope.clone(), id.to_owned(), self.now());
        self.write_audited(audit, now, move |c| records::delete(c, &scope, kind, &id, expected_version)).await
    }

    async fn delete_certificate(
        &self,
        scope: &ProjectScope,
        id: crate::ids::CertificateId,
        expected_version: u64,
        audit: AuditWrite,
    ) -> Result<(), StoreError> {
        use crate::store::ScopeArg;
        let (scope, id, now) = (scope.record_scope(), id.to_string(), self.now());
        self.write_audited(Some(audit), now, move |c| {
            records::delete(c, &scope, RecordKind::Certificate, &id, Some(expected_version))?;
            records::delete_by_lookup(c, &scope, RecordKind::Deployment, &id)
        })
        .await
    }

    async fn delete_empty_project(
        &self,
        scope: &OrgScope,
        project: crate::ids::ProjectId,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (org, now) = (scope.org_id(), self.now());
        self.write_audited(audit, now, move |c| records::delete_empty_project(c, org, project)).await
    }

    async fn project_members(
        &self,
        scope: &OrgScope,
        project: crate::ids::ProjectId,
    ) -> Result<Vec<crate::model::Membership>, StoreError> {
        use crate::store::Record;
        let org = scope.org_id();
        let raws = self.read(move |c| records::project_members(c, org, project)).await?;
        raws.into_iter().map(crate::model::Membership::from_raw).collect()
    }

    async fn locate_project(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<crate::ids::ProjectId>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| records::locate_project(c, kind, &id)).await
    }

    async fn certificates_due(
        &self,
        _scope: &SystemScope,
        before: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError> {
        let page = page.clone();
        self.read(move |c| records::certificates_due(c, before, &page)).await
    }

    async fn certificate_expiries(
        &self,
        _scope: &SystemScope,
        limit: usize,
    ) -> Result<Vec<crate::store::CertificateExpiry>, StoreError> {
        self.read(move |c| records::certificate_expiries(c, limit)).await
    }

    async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let now = self.now();
        self.write(move |c| jobs::enqueue(c, &job, now)).await
    }

    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError> {
        let (fence, now) = (fence.clone(), self.now());
        self.write(move |c| jobs::check_fence(c, &fence, now)).await
    }

    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError> {
        self.read(jobs::fence_history).await
    }

    async fn claim_jobs(&self, claim: &ClaimRequest) -> Result<Vec<Job>, StoreError> {
        let (claim, now) = (claim.clone(), self.now());
        self.write(move |c| jobs::claim(c, &claim, now)).await
    }

    async fn heartbeat_job(&self, lease: &JobLease, extend_by: Duration) -> Result<JobLease, StoreError> {
        let (lease, now) = (lease.clone(), self.now());
        self.write(move |c| jobs::heartbeat(c, &lease, extend_by, now)).await
    }

    async fn complete_job(&self, lease: &JobLease, message: &str) -> Result<Job, StoreError> {
        let (lease, message, now) = (lease.clone(), message.to_owned(), self.now());
        self.write(move |c| jobs::complete(c, &lease, &message, now)).await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> Result<Job, StoreError> {
        let (lease, failure, now) = (lease.clone(), failure.clone(), self.now());
        let jitter = rand::random::<f64>();
        self.write(move |c| jobs::fail(c, &lease, &failure, now, jitter)).await
    }

    async fn release_job(&self, lease: &JobLease, reason: &str) -> Result<Job, StoreError> {
        let (lease, reason, now) = (lease.clone(), reason.to_owned(), self.now());
        self.write(move |c| jobs::release(c, &lease, &reason, now)).await
    }

    async fn append_job_log(
        &self,
        lease: &JobLease,
        level: LogLevel,
        message: &str,
        fields: serde_json::Value,
    ) -> Result<(), StoreError> {
        let (lease, message, now) = (lease.clone(), message.to_owned(), self.now());
        self.write(move |c| jobs::append_log(c, &lease, level, &message, &fields, now)).await
    }

    async fn get_job(&self, _scope: &SystemScope, id: JobId) -> Result<Job, StoreError> {
        self.read(move |c| jobs::get(c, id)).await
    }

    async fn get_project_job(&self, scope: &ProjectScope, id: JobId) -> Result<Job, StoreError> {
        let project = scope.project_id();
        self.read(move |c| jobs::get_in_project(c, project, id)).await
    }

    async fn list_project_jobs(&self, scope: &ProjectScope, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        let (project, page) = (scope.project_id(), page.clone());
        self.read(move |c| jobs::list_in_project(c, project, &page)).await
    }

    async fn job_logs(&self, _scope: &SystemScope, id: JobId) -> Result<Vec<JobLogLine>, StoreError> {
        self.read(move |c| jobs::logs(c, id)).await
    }

    async fn subject_job_logs(
        &self,
        scope: &ProjectScope,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<(JobId, crate::model::JobKind, JobLogLine)>, StoreError> {
        let (project, subject) = (scope.project_id(), subject.to_owned());
        self.read(move |c| jobs::subject_logs(c, project, &subject, limit)).await
    }

    async fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError> {
        self.read(jobs::counts).await
    }

    async fn chain_audit(&self, events: Vec<AuditEvent>, drained: Vec<u64>) -> Result<(), StoreError> {
        self.write(move |c| audit::chain(c, &events, &drained)).await
    }

    async fn append_audit(&self, audit: AuditWrite) -> Result<u64, StoreError> {
        let now = self.now();
        let org = audit.draft.org_id;
        let id = self
            .write(move |c| {
                audit_log::enqueue(c, Some(&audit), now)?.ok_or(StoreError::InvalidRequest("no audit entry".into()))
            })
            .await?;
        let _ = self.audit_signal.send(org);
        Ok(id)
    }

    async fn pending_audit(&self, org: OrgId, limit: usize) -> Result<Vec<crate::audit::PendingAudit>, StoreError> {
        self.read(move |c| audit::pending(c, org, limit)).await
    }

    async fn pending_audit_orgs(&self) -> Result<Vec<(OrgId, u64)>, StoreError> {
        self.read(audit::pending_orgs).await
    }

    fn audit_outbox_signal(&self) -> tokio::sync::broadcast::Receiver<OrgId> {
        self.audit_signal.subscribe()
    }

    async fn audit_head(&self, org: OrgId) -> Result<Option<AuditEvent>, StoreError> {
        self.read(move |c| audit::head(c, org)).await
    }

    async fn list_audit_events(
        &self,
        scope: &OrgScope,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let org = scope.org_id();
        self.read(move |c| audit::list(c, org, after_seq, limit)).await
    }

    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError> {
        let destination = destination.to_owned();
        self.read(move |c| {
            use rusqlite::OptionalExtension;
            Ok(c.prepare_cached("SELECT delivered_seq FROM siem_cursors WHERE destination = ?1 AND org_id = ?2")?
                .query_row([destination, org.to_string()], |r| r.get::<_, i64>(0))
                .optional()?
                .unwrap_or(0) as u64)
        })
        .await
    }

    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError> {
        let (destination, now) = (destination.to_owned(), self.now());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO siem_cursors (destination, org_id, delivered_seq, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (destination, org_id) DO UPDATE SET delivered_seq = max(delivered_seq, excluded.delivered_seq),
                 updated_at = excluded.updated_at",
            )?
            .execute(rusqlite::params![destination, org.to_string(), seq as i64, now.as_unix_millis()])?;
            Ok(())
        })
        .await
    }

    async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        self.read(sealed::usage).await
    }

    async fn sealed_older_than(&self, version: u32, limit: usize) -> Result<Vec<crate::store::SealedRow>, StoreError> {
        self.read(move |c| sealed::older_than(c, version, limit)).await
    }

    async fn rewrap_sealed(
        &self,
        updates: Vec<(crate::store::SealedRow, crate::model::SealedSecret)>,
    ) -> Result<u64, StoreError> {
        self.write(move |c| sealed::rewrap(c, &updates)).await
    }

    async fn sealed_with_version(
        &self,
        version: u32,
        limit: usize,
    ) -> Result<Vec<crate::store::SealedRow>, StoreError> {
        self.read(move |c| sealed::with_version(c, version, limit)).await
    }

    async fn sealed_after(
        &self,
        after: Option<crate::store::SealedKey>,
        limit: usize,
    ) -> Result<Vec<crate::store::SealedRow>, StoreError> {
        self.read(move |c| sealed::after(c, after.as_ref(), limit)).await
    }

    async fn search_audit_events(
        &self,
        scope: &OrgScope,
        filter: &crate::store::AuditFilter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (org, filter) = (scope.org_id(), filter.clone());
        self.read(move |c| audit_log::search(c, org, &filter, after_seq, limit)).await
    }

    async fn reserve_login_attempt(
        &self,
        keys: &crate::model::LoginAttemptKeys,
        policy: &crate::model::LoginPolicy,
    ) -> Result<LoginVerdict, StoreError> {
        let (keys, policy, now) = (keys.clone(), *policy, self.now());
        let peeked = keys.clone();
        if let refused @ LoginVerdict::Refuse { .. } = self.read(move |c| login::peek(c, &peeked, &policy, now)).await?
        {
            return Ok(refused);
        }
        self.write(move |c| login::reserve(c, &keys, &policy, now)).await
    }

    async fn login_succeeded(&self, keys: &crate::model::LoginAttemptKeys) -> Result<(), StoreError> {
        let keys = keys.clone();
        self.write(move |c| login::succeeded(c, &keys)).await
    }

    async fn integrity_check(&self) -> Result<(), StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if lines == ["ok"] { Ok(()) } else { Err(StoreError::Integrity(lines.join("; "))) }
        })
        .await
    }
}
