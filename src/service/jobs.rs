//! Jobs of a project, with their logs and timings.
//! Invariant: system jobs (no project) are not reachable here; unknown and foreign ids read alike.

use certautopilot_core::SystemScope;
use certautopilot_core::ids::{JobId, ProjectId};
use certautopilot_core::store::PageRequest;

use crate::api::views::{JobDetail, JobLogView, JobPage, JobView};
use crate::service::authorized::Authorized;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::records;

pub async fn list(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<JobPage, ApiError> {
    let scope = auth.project_scope(project).await?;
    Ok(auth.state().store()?.list_project_jobs(&scope, &records::page(page)?).await?.map(JobView::from).into())
}

/// One job with its log.
pub async fn get(auth: &Authorized, id: JobId) -> Result<JobDetail, ApiError> {
    auth.caller()?;
    let store = auth.state().store()?;
    let system = SystemScope::new("gateway");
    let project =
        store.get_job(&system, id).await.ok().and_then(|j| j.project_id).ok_or_else(|| ApiError::not_found("job"))?;
    let scope = auth
        .project_scope(project)
        .await
        .map_err(|e| if e.code == ErrorCode::NotFound { ApiError::not_found("job") } else { e })?;
    let job = store.get_project_job(&scope, id).await?;
    let log = store
        .job_logs(&system, id)
        .await?
        .into_iter()
        .map(|l| JobLogView { seq: l.seq, at: l.at, level: l.level, message: l.message, fields: l.fields })
        .collect();
    Ok(JobDetail { job: job.into(), log })
}
