//! Reads of many parents' children in one trip: the deployments, jobs, job log lines and audit
//! entries of a page of certificates, the members of a page of projects. A GraphQL query asking
//! for "50 certificates with their targets and timelines" is answered by a handful of these
//! instead of one read per certificate (the DataLoaders in `src/graphql/loaders.rs`).
//! Invariant: each read takes the caller's scope and the backend filters by it; a key of another
//! project or organization finds nothing, exactly like a key that does not exist.

use async_trait::async_trait;

use crate::ids::{JobId, ProjectId};
use crate::model::{AuditEvent, Job, JobKind, JobLogLine, Membership};
use crate::scope::{OrgScope, ProjectScope};
use crate::store::{RawRecord, RecordKind, RecordScope, StoreError};

/// One log line of a job about `subject`, as `BatchReads::subject_log_tails` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectLogLine {
    pub subject: String,
    pub job_id: JobId,
    pub kind: JobKind,
    pub line: JobLogLine,
}

#[async_trait]
pub trait BatchReads: Send + Sync + 'static {
    /// Records of `kind` in `scope` whose lookup key is one of `keys` (the deployments of a page of
    /// certificates), ordered by lookup key then id, at most `limit` in all.
    async fn list_by_lookups_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        keys: &[String],
        limit: usize,
    ) -> Result<Vec<RawRecord>, StoreError>;

    /// The memberships of each of `projects` in the scope's organization, in id order.
    async fn members_of_projects(
        &self,
        scope: &OrgScope,
        projects: &[ProjectId],
    ) -> Result<Vec<Membership>, StoreError>;

    /// The newest `per_subject` jobs about each of `subjects` (certificate ids) in the scope's
    /// project: grouped by subject, newest first within each.
    async fn subject_jobs(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<Job>, StoreError>;

    /// The newest `per_subject` log lines of the jobs about each of `subjects` in the scope's
    /// project, oldest first within each subject (the order of `JobQueue::subject_job_logs`).
    async fn subject_log_tails(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<SubjectLogLine>, StoreError>;

    /// The newest `per_object` chained audit entries about each of `objects` in `project`, in
    /// chain order.
    async fn object_audit_tails(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        objects: &[String],
        per_object: usize,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
