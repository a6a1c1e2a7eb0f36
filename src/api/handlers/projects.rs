//! Projects: owners create and delete them; members see the ones they belong to.

use actix_web::{HttpResponse, web};
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{
    AcmeAccount, Certificate, DistributionTarget, DnsCredential, Membership, Project, Zone,
};
use certautopilot_core::store::{PageRequest, Record, RecordStore};
use certautopilot_core::{Page, ProjectScope};

use crate::api::auth::Authorized;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateProject, ProjectPage, ProjectView, UpdateProject};
use crate::api::{AppState, validate};

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
    let memberships = state
        .store()?
        .list_by_lookup::<Membership>(&scope, &caller.user.id.to_string(), &PageRequest::first(1_000))
        .await?;
    let mut items = Vec::new();
    for m in memberships.items {
        if let Ok(project) = state.store()?.get::<Project>(&scope, &m.project_id).await {
            items.push(ProjectView::from(project));
        }
    }
    Ok(web::Json(Page { items, next_cursor: None }.into()))
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

/// Deletes a project that holds nothing any more, with its memberships.
pub async fn delete(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ProjectId = path_id(&id, "project")?;
    let scope = auth.project_scope(id).await?;
    let caller = auth.caller()?;
    if !is_empty(&state, &scope).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the project still holds accounts, credentials, zones, targets or certificates",
        ));
    }
    let org_scope = caller.org_scope();
    let mut page = PageRequest::first(1_000);
    loop {
        let members = state.store()?.list::<Membership>(&org_scope, &page).await?;
        for m in members.items.iter().filter(|m| m.project_id == id) {
            state.store()?.delete::<Membership>(&org_scope, &m.id, None).await?;
        }
        match members.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    let audit = state.org().await?.audit(
        caller.principal(),
        "project.deleted",
        Some(("project", id.to_string())),
        Some(id),
        serde_json::json!({}),
    );
    state.store()?.delete_audited::<Project>(&org_scope, &id, None, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %id, "project deleted");
    Ok(HttpResponse::NoContent().finish())
}

async fn is_empty(state: &AppState, scope: &ProjectScope) -> Result<bool, ApiError> {
    async fn none<R: Record<Scope = ProjectScope>>(state: &AppState, scope: &ProjectScope) -> Result<bool, ApiError> {
        Ok(state.store()?.list::<R>(scope, &PageRequest::first(1)).await?.items.is_empty())
    }
    Ok(none::<AcmeAccount>(state, scope).await?
        && none::<DnsCredential>(state, scope).await?
        && none::<Zone>(state, scope).await?
        && none::<DistributionTarget>(state, scope).await?
        && none::<Certificate>(state, scope).await?)
}
