//! Jobs: durable units of work in the store's queue (design: docs/job-queue.md).
//! Lifecycle: queued → running (leased until T) → succeeded | failed (retry at `run_at`) → … | dead.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, ProjectId};
use crate::scope::ProjectScope;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Issue,
    Renew,
    Revoke,
    Distribute,
    Scan,
    Validate,
    RotateKek,
    /// A discovery scan: the certificates served at a project's listed endpoints and ranges.
    Discover,
    /// One notification (or digest) of a rule to one channel.
    Notify,
}

impl JobKind {
    pub const ALL: [JobKind; 9] = [
        JobKind::Issue,
        JobKind::Renew,
        JobKind::Revoke,
        JobKind::Distribute,
        JobKind::Scan,
        JobKind::Validate,
        JobKind::RotateKek,
        JobKind::Discover,
        JobKind::Notify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Issue => "issue",
            JobKind::Renew => "renew",
            JobKind::Revoke => "revoke",
            JobKind::Distribute => "distribute",
            JobKind::Scan => "scan",
            JobKind::Validate => "validate",
            JobKind::RotateKek => "rotate_kek",
            JobKind::Discover => "discover",
            JobKind::Notify => "notify",
        }
    }

    pub fn parse(text: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    /// The last attempt failed; the job is claimable again from `run_at`.
    Failed,
    /// Out of attempts; only a person can revive it.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<JobStatus> {
        [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Failed, JobStatus::Dead]
            .into_iter()
            .find(|s| s.as_str() == text)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Dead)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub project_id: Option<ProjectId>,
    pub kind: JobKind,
    /// What the job works on (a certificate id): at most one running job per subject.
    pub subject: Option<String>,
    /// A second enqueue with the same key returns this job instead of making another.
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
    pub status: JobStatus,
    /// Attempts started so far, the current one included.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Not claimable before this instant (first run, or the retry after a backoff).
    pub run_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Timestamp>,
    /// Grows with every claim, never shrinks: the fencing token of the current lease.
    pub lease_seq: u64,
    pub last_error: Option<String>,
    pub queued_at: Timestamp,
    pub first_started_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub version: u64,
}

impl Job {
    /// The lease a claimer holds on this job, if it is running.
    pub fn lease(&self) -> Option<JobLease> {
        match (self.status, &self.lease_owner, self.lease_expires_at) {
            (JobStatus::Running, Some(owner), Some(expires_at)) => Some(JobLease {
                job_id: self.id,
                node_id: owner.clone(),
                attempt: self.attempts,
                seq: self.lease_seq,
                expires_at,
            }),
            _ => None,
        }
    }
}

/// Proof of a claim. `seq` fences: once the job is claimed again, the old holder's calls are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLease {
    pub job_id: JobId,
    pub node_id: String,
    pub attempt: u32,
    pub seq: u64,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// One structured line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLogLine {
    pub seq: u64,
    pub at: Timestamp,
    pub level: LogLevel,
    pub message: String,
    pub fields: serde_json::Value,
}

/// What to enqueue. Built for a project through its scope, or for the system (KEK rotation).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub(crate) project_id: Option<ProjectId>,
    pub kind: JobKind,
    pub subject: Option<String>,
    pub dedupe_key: Option<String>,
    pub payload: serde_json::Value,
    pub max_attempts: u32,
    /// Delay before the first run; zero runs as soon as a worker is free.
    pub delay: Duration,
    /// Set on the scheduler's writes in a cluster: the store refuses the job if a newer term has
    /// written (`StoreError::Fenced`).
    pub fence: Option<super::Fence>,
}

impl NewJob {
    pub fn for_project(scope: &ProjectScope, kind: JobKind, max_attempts: u32) -> Self {
        NewJob::build(Some(scope.project_id()), kind, max_attempts)
    }

    /// A job that belongs to no project (KEK rotation, maintenance).
    pub fn system(kind: JobKind, max_attempts: u32) -> Self {
        NewJob::build(None, kind, max_attempts)
    }

    fn build(project_id: Option<ProjectId>, kind: JobKind, max_attempts: u32) -> Self {
        NewJob {
            project_id,
            kind,
            subject: None,
            dedupe_key: None,
            payload: serde_json::Value::Object(Default::default()),
            max_attempts: max_attempts.max(1),
            delay: Duration::ZERO,
            fence: None,
        }
    }

    pub fn project_id(&self) -> Option<ProjectId> {
        self.project_id
    }

    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn payload(mut self, payload: serde_json::Value) -> Self {
        self.payload = payload;
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn fenced(mut self, fence: Option<super::Fence>) -> Self {
        self.fence = fence;
        self
    }
}
