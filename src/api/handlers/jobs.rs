//! Jobs of a project, with their logs and timings.

use actix_web::web;
use certautopilot_core::SystemScope;
use certautopilot_core::ids::JobId;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::views::{JobDetail, JobLogView, JobPage, JobView};

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<JobPage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    Ok(web::Json(state.store()?.list_project_jobs(&scope, &query.page()?).await?.map(JobView::from).into()))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<JobDetail>, ApiError> {
    let id: JobId = path_id(&id, "job")?;
    let system = SystemScope::new("gateway");
    // System jobs (no project) are not reachable here; unknown and foreign ids read alike.
    let project = state
        .store()?
        .get_job(&system, id)
        .await
        .ok()
        .and_then(|j| j.project_id)
        .ok_or_else(|| ApiError::not_found("job"))?;
    let scope = auth
        .project_scope(project)
        .await
        .map_err(|e| if e.code == crate::api::error::ErrorCode::NotFound { ApiError::not_found("job") } else { e })?;
    let job = state.store()?.get_project_job(&scope, id).await?;
    let log = state
        .store()?
        .job_logs(&system, id)
        .await?
        .into_iter()
        .map(|l| JobLogView { seq: l.seq, at: l.at, level: l.level, message: l.message, fields: l.fields })
        .collect();
    Ok(web::Json(JobDetail { job: job.into(), log }))
}
