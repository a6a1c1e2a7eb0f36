//! Projects: owners create and delete them, admins rename them, members see the ones they belong to.
//! Invariant: a project is deleted only once it holds nothing, with its memberships, in one
//! transaction; a member's list shows only their own projects.

use certautopilot_core::Page;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{Membership, Project};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::api::views::{CreateProject, ProjectPage, ProjectView, UpdateProject};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::{records, validate};

/// Every project for an owner; a member's own projects for a member.
pub async fn list(auth: &Authorized, page: PageRequest) -> Result<ProjectPage, ApiError> {
    let caller = auth.caller()?;
    let store = auth.state().store()?;
    let scope = caller.org_scope();
    let page = records::page(page)?;
    if caller.is_owner() {
        return Ok(store.list::<Project>(&scope, &page).await?.map(ProjectView::from).into());
    }
    // A member pages through their own memberships (the user-id lookup index), one project each;
    // the cursor is the membership page's.
    let memberships = store.list_by_lookup::<Membership>(&scope, &caller.user.id.to_string(), &page).await?;
    // Deleting a project removes its memberships in the same transaction, so a project missing
    // here is only a delete racing this read; it is left out.
    let ids: Vec<_> = memberships.items.iter().map(|m| m.project_id).collect();
    let projects = store.get_many::<Project>(&scope, &ids).await?;
    Ok(Page { items: projects.into_iter().map(ProjectView::from).collect(), next_cursor: memberships.next_cursor }
        .into())
}

pub async fn create(auth: &Authorized, input: CreateProject) -> Result<ProjectView, ApiError> {
    let caller = auth.caller()?;
    let project = Project::new(caller.user.org_id, validate::name("name", &input.name)?, auth.state().now());
    let audit = auth
        .audit(
            "project.created",
            Some(("project", project.id.to_string())),
            Some(project.id),
            serde_json::json!({ "name": project.name }),
        )
        .await?;
    auth.state().store()?.insert_audited(&caller.org_scope(), &project, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project.id, "project created");
    Ok(ProjectView::from(project))
}

pub async fn get(auth: &Authorized, id: ProjectId) -> Result<ProjectView, ApiError> {
    auth.project_scope(id).await?;
    let project: Project = auth.state().store()?.get(&auth.caller()?.org_scope(), &id).await?;
    Ok(project.into())
}

/// Renames a project, version-checked.
pub async fn update(auth: &Authorized, id: ProjectId, input: UpdateProject) -> Result<ProjectView, ApiError> {
    auth.project_scope(id).await?;
    let scope = auth.caller()?.org_scope();
    let mut project: Project = auth.state().store()?.get(&scope, &id).await?;
    project.name = validate::name("name", &input.name)?;
    project.version = input.version;
    let details = serde_json::json!({ "name": project.name });
    let audit = auth.audit("project.updated", Some(("project", id.to_string())), Some(id), details).await?;
    Ok(auth.state().store()?.update_audited(&scope, &project, audit).await?.into())
}

/// Deletes a project that holds nothing any more, with its memberships, in one transaction.
pub async fn delete(auth: &Authorized, id: ProjectId) -> Result<(), ApiError> {
    auth.project_scope(id).await?;
    let caller = auth.caller()?;
    let audit =
        auth.audit("project.deleted", Some(("project", id.to_string())), Some(id), serde_json::json!({})).await?;
    auth.state().store()?.delete_empty_project(&caller.org_scope(), id, Some(audit)).await?;
    tracing::info!(by = %caller.user.id, project_id = %id, "project deleted");
    Ok(())
}
