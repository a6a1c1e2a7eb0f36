//! Views of jobs and their logs, and the answer of every route that queues one (`JobQueued`).
//! Invariant: secret-free (job payloads are not shown; log fields never hold secrets).

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    #[schema(value_type = String, format = "uuid")]
    pub id: JobId,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub project_id: Option<ProjectId>,
    #[schema(value_type = String)]
    pub kind: JobKind,
    pub subject: Option<String>,
    #[schema(value_type = String)]
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    #[schema(value_type = String, format = DateTime)]
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub queued_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            project_id: j.project_id,
            kind: j.kind,
            subject: j.subject,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error,
            queued_at: j.queued_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}

page_type!(JobPage, JobView);

#[derive(Debug, Serialize, ToSchema)]
pub struct JobLogView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[schema(value_type = String)]
    pub level: LogLevel,
    pub message: String,
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    pub job: JobView,
    pub log: Vec<JobLogView>,
}

/// A job queued by a request (renew, revoke); `created` is false when the same request was
/// already queued and that job is returned.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobQueued {
    pub job: JobView,
    pub created: bool,
}
