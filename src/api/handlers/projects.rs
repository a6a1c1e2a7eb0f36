//! Projects: owners create and delete them; members see the ones they belong to.

use actix_web::{HttpResponse, web};
use certautopilot_core::Page;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{Membership, Project};
use certautopilot_core::store::RecordStore;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateProject, ProjectPage, ProjectView, UpdateProject};
use crate::service::validate;

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<ProjectPage>, ApiError> {
    let caller = auth.caller()?;
    let scope = caller.org_scope();
    if caller.is_owner() {
        let page = state.store()?.list::<Project>(&scope, &query.page()?).await?;
        return Ok(web::Json(page.map(ProjectView::from).into()));
    }
    // A member pages through their own memberships (the user-id lookup index), one project each;
    // the cursor is the membership page's.
    let memberships =
        state.store()?.list_by_lookup::<Membership>(&scope, &caller.user.id.to_string(), &query.page()?).await?;
    // Deleting a project removes its memberships in the same transaction, so a project missing
    // here is only a delete racing this read; it is left out.
    let ids: Vec<_> = memberships.items.iter().map(|m| m.project_id).collect();
    let projects = state.store()?.get_many::<Project>(&scope, &ids).await?;
    Ok(web::Json(
        Page { items: projects.into_iter().map(ProjectView::from).collect(), next_cursor: memberships.next_cursor }
            .into(),
    ))
}

pub async fn create(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller()?;
    let project = Project::new(caller.user.org_id, validate::name("name", &body.name)?, state.now());
    let audit = state.org().await?.audit(
        caller.principal(),
        "project.created",
        Some(("project", project.id.to_string())),
        Some(project.id),
        serde_json::json!({ "name": project.name }),
    );
    state.store()?.insert_audited(&caller.org_scope(), &project, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project.id, "project created");
    Ok(HttpResponse::Created().json(ProjectView::from(project)))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<ProjectView>, ApiError> {
    let id: ProjectId = path_id(&id, "project")?;
    auth.project_scope(id).await?;
    let project: Project = state.store()?.get(&auth.caller()?.org_scope(), &id).await?;
    Ok(web::Json(project.into()))
}

pub async fn update(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> Result<web::Json<ProjectView>, ApiError> {
    let id: ProjectId = path_id(&id, "project")?;
    auth.project_scope(id).await?;
    let scope = auth.caller()?.org_scope();
    let mut project: Project = state.store()?.get(&scope, &id).await?;
    project.name = validate::name("name", &body.name)?;
    project.version = body.version;
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "project.updated",
        Some(("project", id.to_string())),
        Some(id),
        serde_json::json!({ "name": project.name }),
    );
    Ok(web::Json(state.store()?.update_audited(&scope, &project, audit).await?.into()))
}

/// Deletes a project that holds nothing any more, with its memberships, in one transaction.
pub async fn delete(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ProjectId = path_id(&id, "project")?;
    auth.project_scope(id).await?;
    let caller = auth.caller()?;
    let audit = state.org().await?.audit(
        caller.principal(),
        "project.deleted",
        Some(("project", id.to_string())),
        Some(id),
        serde_json::json!({}),
    );
    state.store()?.delete_empty_project(&caller.org_scope(), id, Some(audit)).await?;
    tracing::info!(by = %caller.user.id, project_id = %id, "project deleted");
    Ok(HttpResponse::NoContent().finish())
}
