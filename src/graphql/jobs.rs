//! Jobs of a project, and one job with its log: the service layer's `jobs::list` and `jobs::get`
//! (REST's `JobView` and `JobDetail`).
//! Invariant: a job is reached only through its project's scope (`listJobs` / `getJob`'s policy);
//! jobs with no project (system jobs) and other projects' jobs read as not found.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use certautopilot_core::ids::JobId;
use certautopilot_core::model::Job;
use certautopilot_core::store::cursor_after;

use crate::api::views::JobView;
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, Json, at, at_opt, name_of};
use crate::graphql::{authorize, parse_id, parse_project, state};
use crate::service;

pub struct JobNode(pub JobView);

impl JobNode {
    pub fn new(job: Job) -> Self {
        JobNode(job.into())
    }
}

#[Object(name = "Job")]
impl JobNode {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn project_id(&self) -> Option<ID> {
        self.0.project_id.map(|p| ID(p.to_string()))
    }
    /// `issue`, `renew`, `revoke`, `distribute`, `scan`, …
    async fn kind(&self) -> String {
        name_of(&self.0.kind)
    }
    /// What the job is about (a certificate's or a target's id).
    async fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }
    /// `queued`, `running`, `succeeded`, `failed` or `dead`.
    async fn status(&self) -> String {
        name_of(&self.0.status)
    }
    async fn attempts(&self) -> u32 {
        self.0.attempts
    }
    async fn max_attempts(&self) -> u32 {
        self.0.max_attempts
    }
    async fn run_at(&self) -> DateTime {
        at(self.0.run_at)
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn queued_at(&self) -> DateTime {
        at(self.0.queued_at)
    }
    async fn started_at(&self) -> Option<DateTime> {
        at_opt(self.0.started_at)
    }
    async fn finished_at(&self) -> Option<DateTime> {
        at_opt(self.0.finished_at)
    }
}

/// One line of a job's log.
#[derive(SimpleObject)]
pub struct JobLogLine {
    seq: u64,
    at: DateTime,
    /// `info`, `warn` or `error`.
    level: String,
    message: String,
    fields: Json,
}

/// A job with its whole log (REST's `JobDetail`).
#[derive(SimpleObject)]
pub struct JobDetail {
    job: JobNode,
    log: Vec<JobLogLine>,
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// The jobs of a project, oldest first.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, JobNode>> {
        let project = parse_project(&project_id)?;
        let binding = Binding::new("jobs", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let page = service::jobs::list(&authorize(ctx, "Query.jobs")?, project, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |j| cursor_after(&j.id.to_string()), JobNode))
    }

    /// One job with its log.
    async fn job(&self, ctx: &Context<'_>, id: ID) -> GqlResult<JobDetail> {
        let id: JobId = parse_id(&id, "job")?;
        let detail = service::jobs::get(&authorize(ctx, "Query.job")?, id).await?;
        let log = detail
            .log
            .into_iter()
            .map(|l| JobLogLine {
                seq: l.seq,
                at: at(l.at),
                level: name_of(&l.level),
                message: l.message,
                fields: async_graphql::Json(l.fields),
            })
            .collect();
        Ok(JobDetail { job: JobNode(detail.job), log })
    }
}
