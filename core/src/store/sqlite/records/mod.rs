//! Scoped records in SQLite: the `Records` concern, over the SQL in `sql.rs`.
//! Invariant: every statement takes its scope filter from the `RecordScope` passed in; a write that
//! carries an audit event commits it to the outbox in the same transaction (`write_audited`).

pub(crate) mod sql;

use async_trait::async_trait;

use crate::ids::{CertificateId, ProjectId};
use crate::model::{Certificate, Membership, NewJob};
use crate::scope::{OrgScope, ProjectScope, SystemScope};
use crate::store::sqlite::{SqliteStore, jobs};
use crate::store::{
    AuditWrite, CertificateExpiry, Enqueued, Page, PageRequest, RawRecord, Record, RecordKind, RecordScope, Records,
    ScopeArg, SealedFields, StoreError,
};
use crate::timestamp::Timestamp;

impl SqliteStore {
    /// Inserts (or, with `update`, updates) records and enqueues a job in one transaction.
    async fn write_with_job(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        update: bool,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        if job.project_id().is_some_and(|p| Some(p) != scope.project_id()) {
            return Err(StoreError::ScopeMismatch { kind: "job" });
        }
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| {
            if update {
                for record in records {
                    sql::update(c, &scope, record, now)?;
                }
            } else {
                sql::insert(c, &scope, &records)?;
            }
            jobs::enqueue(c, &job, now)
        })
        .await
    }
}

#[async_trait]
impl Records for SqliteStore {
    async fn insert_raw(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| sql::insert(c, &scope, &records)).await
    }

    async fn insert_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        self.write_with_job(scope, records, false, job, audit).await
    }

    async fn update_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        self.write_with_job(scope, records, true, job, audit).await
    }

    async fn get_raw(&self, scope: &RecordScope, kind: RecordKind, id: &str) -> Result<RawRecord, StoreError> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read_bounded(move |c| sql::get(c, &scope, kind, &id)).await
    }

    async fn get_many_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, StoreError> {
        let (scope, ids) = (scope.clone(), ids.to_vec());
        self.read_bounded(move |c| sql::get_many(c, &scope, kind, &ids)).await
    }

    async fn find_unique_raw(&self, scope: &RecordScope, kind: RecordKind, key: &str) -> Result<RawRecord, StoreError> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.read_bounded(move |c| sql::find_unique(c, &scope, kind, &key)).await
    }

    async fn list_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        lookup_key: Option<&str>,
        page: &PageRequest,
        sealed: SealedFields,
    ) -> Result<Page<RawRecord>, StoreError> {
        let (scope, lookup, page) = (scope.clone(), lookup_key.map(str::to_owned), page.clone());
        self.read_bounded(move |c| sql::list(c, &scope, kind, lookup.as_deref(), &page, sealed)).await
    }

    async fn list_all_raw(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, StoreError> {
        let page = page.clone();
        self.read(move |c| sql::list_all(c, kind, &page)).await
    }

    async fn update_raw(
        &self,
        scope: &RecordScope,
        record: RawRecord,
        audit: Option<AuditWrite>,
    ) -> Result<RawRecord, StoreError> {
        let (scope, now) = (scope.clone(), self.now());
        self.write_audited(audit, now, move |c| sql::update(c, &scope, record, now)).await
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
        self.write_audited(audit, now, move |c| sql::delete(c, &scope, kind, &id, expected_version)).await
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
            records.into_iter().map(|record| sql::update(c, &scope, record, now)).collect()
        })
        .await
    }

    async fn delete_certificate(
        &self,
        scope: &ProjectScope,
        id: CertificateId,
        expected_version: u64,
        audit: AuditWrite,
    ) -> Result<(), StoreError> {
        let (scope, id, now) = (scope.record_scope(), id.to_string(), self.now());
        self.write_audited(Some(audit), now, move |c| {
            sql::delete(c, &scope, RecordKind::Certificate, &id, Some(expected_version))?;
            sql::delete_by_lookup(c, &scope, RecordKind::Deployment, &id)
        })
        .await
    }

    async fn delete_empty_project(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (org, now) = (scope.org_id(), self.now());
        self.write_audited(audit, now, move |c| sql::delete_empty_project(c, org, project)).await
    }

    async fn project_members(&self, scope: &OrgScope, project: ProjectId) -> Result<Vec<Membership>, StoreError> {
        let org = scope.org_id();
        let raws = self.read(move |c| sql::project_members(c, org, project)).await?;
        raws.into_iter().map(Membership::from_raw).collect()
    }

    async fn locate_project(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<ProjectId>, StoreError> {
        let id = id.to_owned();
        self.read_bounded(move |c| sql::locate_project(c, kind, &id)).await
    }

    async fn certificates_due(
        &self,
        _scope: &SystemScope,
        before: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError> {
        let page = page.clone();
        self.read(move |c| sql::certificates_due(c, before, &page)).await
    }

    async fn certificate_expiries(
        &self,
        _scope: &SystemScope,
        limit: usize,
    ) -> Result<Vec<CertificateExpiry>, StoreError> {
        self.read(move |c| sql::certificate_expiries(c, limit)).await
    }
}
