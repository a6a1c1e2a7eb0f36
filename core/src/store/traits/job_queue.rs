//! The job queue: enqueue with dedupe, claim under a lease, heartbeat, finish, and per-job logs
//! (the job lifecycle itself is in `model::job`).
//! Invariant: a job is running under at most one lease; a call under a lease that is no longer
//! held answers `LeaseLost` and changes nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::ids::JobId;
use crate::model::{Job, JobKind, JobLease, JobLogLine, JobStatus, LogLevel, NewJob};
use crate::scope::{ProjectScope, SystemScope};
use crate::store::{Page, PageRequest, StoreError};

/// What `enqueue_job` did: made a new job, or found the one with the same dedupe key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub job: Job,
    pub created: bool,
}

#[derive(Debug, Clone)]
pub struct ClaimRequest {
    pub node_id: String,
    /// Which start of `node_id` claims (a uuid v7 made at process start): recorded with each lease,
    /// so the next start of the same node can end its predecessor's leases at once
    /// (`reclaim_own_leases`) instead of waiting them out (M2.3).
    pub incarnation: String,
    /// Only these kinds; empty claims none (a worker claims only what it has handlers for).
    pub kinds: Vec<JobKind>,
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

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Enqueues `job`, or finds the job already queued under its dedupe key. A job carrying a
    /// scheduler `Fence` passes the fencing rule (`Fencing`) in the same transaction.
    async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError>;
    async fn claim_jobs(&self, claim: &ClaimRequest) -> Result<Vec<Job>, StoreError>;
    async fn heartbeat_job(&self, lease: &JobLease, extend_by: Duration) -> Result<JobLease, StoreError>;
    async fn complete_job(&self, lease: &JobLease, message: &str) -> Result<Job, StoreError>;
    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> Result<Job, StoreError>;
    /// Ends every lease `node_id` holds under an incarnation other than `incarnation` (a start of the
    /// node that is gone: a SIGKILL, a crash): each such attempt ends as an expired lease does
    /// (queued again at once, or dead when it was the last), with a log line saying why. Returns how
    /// many leases it ended. Called by a node once at start, before it claims.
    async fn reclaim_own_leases(&self, node_id: &str, incarnation: &str) -> Result<u64, StoreError>;
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
    ) -> Result<Vec<(JobId, JobKind, JobLogLine)>, StoreError>;
    async fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError>;
}
