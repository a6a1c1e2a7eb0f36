//! Project members and their roles (admin, operator, viewer). Owners are members of every project
//! by their organization role and are never listed here.

use actix_web::{HttpResponse, web};
use certautopilot_core::ids::{ProjectId, UserId};
use certautopilot_core::model::{Membership, OrgRole, Role, User};
use certautopilot_core::store::{RecordStore, membership_key};

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{AddMember, MemberPage, MemberView};

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<MemberPage>, ApiError> {
    let project: ProjectId = path_id(&id, "project")?;
    auth.project_scope(project).await?;
    let members = state.store()?.project_members(&auth.caller()?.org_scope(), project).await?;
    Ok(web::Json(MemberPage { items: members.into_iter().map(MemberView::from).collect(), next_cursor: None }))
}

pub async fn add(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<HttpResponse, ApiError> {
    let project: ProjectId = path_id(&id, "project")?;
    auth.project_scope(project).await?;
    let caller = auth.caller()?;
    if body.role == Role::Owner {
        return Err(ApiError::invalid("role", "must be admin, operator or viewer (owner is an organization role)"));
    }
    let org_scope = caller.org_scope();
    let user: User = state.store()?.get(&org_scope, &body.user_id).await.map_err(|e| {
        let map = related_missing("user_id", "user");
        map(e)
    })?;
    // An owner's role in every project is the organization role; a membership would show a lower
    // one that is not what they can do (issue 14, item 10).
    if user.org_role == OrgRole::Owner {
        return Err(ApiError::invalid(
            "user_id",
            "this user is an owner of the organization and already has every role in every project",
        ));
    }
    let membership = Membership::new(caller.user.org_id, project, user.id, body.role, state.now());
    let audit = state.org().await?.audit(
        caller.principal(),
        "member.added",
        Some(("user", user.id.to_string())),
        Some(project),
        serde_json::json!({ "role": body.role }),
    );
    state.store()?.insert_audited(&org_scope, &membership, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project, user_id = %user.id, role = ?body.role, "member added");
    Ok(HttpResponse::Created().json(MemberView::from(membership)))
}

pub async fn remove(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (project, user) = path.into_inner();
    let project: ProjectId = path_id(&project, "project")?;
    let user: UserId = path_id(&user, "member")?;
    auth.project_scope(project).await?;
    let caller = auth.caller()?;
    let org_scope = caller.org_scope();
    let membership: Membership = state
        .store()?
        .find_unique(&org_scope, &membership_key(project, user))
        .await
        .map_err(|_| ApiError::not_found("member"))?;
    let audit = state.org().await?.audit(
        caller.principal(),
        "member.removed",
        Some(("user", user.to_string())),
        Some(project),
        serde_json::json!({ "role": membership.role }),
    );
    state.store()?.delete_audited::<Membership>(&org_scope, &membership.id, Some(membership.version), audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project, user_id = %user, "member removed");
    Ok(HttpResponse::NoContent().finish())
}
