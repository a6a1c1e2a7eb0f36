//! Jobs of a project (queue and history, oldest first as the store pages them) and one job with
//! its structured log, through `listJobs` and `getJob`.
//! Invariant: read-only; a job of another project is not found, like an unknown id.

use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::store::PageRequest;

use crate::api::views::{JobDetail, JobView};
use crate::service::error::ApiError;
use crate::ui::context::{Layout, Ui, UiError, UiResult, render};
use crate::ui::display::{query_value, span, when, when_opt};

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    layout: Layout,
    jobs: Vec<JobView>,
    next_cursor: Option<String>,
    paged: bool,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    detail: JobDetail,
}

impl JobPage {
    /// Where the subject's page is: a certificate's for certificate jobs; `None` for subjects that
    /// have no page of their own (a target scan's, a discovery scan's).
    fn subject_href(&self, subject: &str) -> Option<String> {
        use certautopilot_core::model::JobKind;
        match self.detail.job.kind {
            JobKind::Issue | JobKind::Renew | JobKind::Revoke | JobKind::Distribute => {
                Some(format!("/certificates/{subject}"))
            }
            _ => None,
        }
    }
}

/// Shared by both pages: times and how long a run took.
trait JobTimes {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }
    fn when_opt(&self, at: &Option<certautopilot_core::Timestamp>) -> String {
        when_opt(*at)
    }
    fn took(&self, job: &JobView) -> String {
        match (job.started_at, job.finished_at) {
            (Some(from), Some(to)) => span(to.duration_since(from).as_secs() as i64),
            _ => String::new(),
        }
    }
    fn level(&self, line: &crate::api::views::JobLogView) -> String {
        crate::service::validate::serde_names(&[line.level]).concat()
    }
    fn fields(&self, value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

impl JobTimes for JobsPage {}
impl JobTimes for JobPage {}

pub async fn list(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let Some(project) = ui.project_or_first(query_value(&req, "project").as_deref())? else {
        return Err(UiError::Redirect("/projects".into()));
    };
    let cursor = query_value(&req, "cursor");
    let paged = cursor.is_some();
    let page =
        crate::service::jobs::list(&ui.auth("listJobs")?, project, PageRequest { limit: Some(50), cursor }).await?;
    render(&JobsPage {
        layout: ui.layout("Jobs", "jobs", Some(project)),
        jobs: page.items,
        next_cursor: page.next_cursor,
        paged,
    })
}

pub async fn detail(req: HttpRequest, id: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id = id.parse().map_err(|_| UiError::from(ApiError::not_found("job")))?;
    let detail = crate::service::jobs::get(&ui.auth("getJob")?, id).await?;
    let layout = ui.layout(format!("{} job", detail.job.kind.as_str()), "jobs", detail.job.project_id);
    render(&JobPage { layout, detail })
}
