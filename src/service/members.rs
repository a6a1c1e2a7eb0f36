//! Project members and their roles (admin, operator, viewer). Owners are members of every project
//! by their organization role and are never listed here.
//! Invariant: a membership holds a member role only, for a user who is not an owner.

use certautopilot_core::ids::{ProjectId, UserId};
use certautopilot_core::model::{Membership, OrgRole, Role, User};
use certautopilot_core::store::{RecordStore, membership_key};

use crate::api::views::{AddMember, MemberPage, MemberView, UpdateMember};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::records::related_missing;

/// Every member of the project (one page: a project has few).
pub async fn list(auth: &Authorized, project: ProjectId) -> Result<MemberPage, ApiError> {
    auth.project_scope(project).await?;
    let members = auth.state().store()?.project_members(&auth.caller()?.org_scope(), project).await?;
    Ok(MemberPage { items: members.into_iter().map(MemberView::from).collect(), next_cursor: None })
}

/// Gives a user a role in the project.
pub async fn add(auth: &Authorized, project: ProjectId, input: AddMember) -> Result<MemberView, ApiError> {
    auth.project_scope(project).await?;
    let caller = auth.caller()?;
    member_role(input.role)?;
    let org_scope = caller.org_scope();
    let user: User =
        auth.state().store()?.get(&org_scope, &input.user_id).await.map_err(related_missing("user_id", "user"))?;
    // An owner's role in every project is the organization role; a membership would show a lower
    // one that is not what they can do (issue 14, item 10).
    if user.org_role == OrgRole::Owner {
        return Err(ApiError::invalid(
            "user_id",
            "this user is an owner of the organization and already has every role in every project",
        ));
    }
    let membership = Membership::new(caller.user.org_id, project, user.id, input.role, auth.state().now());
    let details = serde_json::json!({ "role": input.role });
    let audit = auth.audit("member.added", Some(("user", user.id.to_string())), Some(project), details).await?;
    auth.state().store()?.insert_audited(&org_scope, &membership, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project, user_id = %user.id, role = ?input.role, "member added");
    Ok(MemberView::from(membership))
}

/// Takes a user out of the project.
pub async fn remove(auth: &Authorized, project: ProjectId, user: UserId) -> Result<(), ApiError> {
    auth.project_scope(project).await?;
    let caller = auth.caller()?;
    let org_scope = caller.org_scope();
    let store = auth.state().store()?;
    let membership: Membership = store
        .find_unique(&org_scope, &membership_key(project, user))
        .await
        .map_err(|_| ApiError::not_found("member"))?;
    let details = serde_json::json!({ "role": membership.role });
    let audit = auth.audit("member.removed", Some(("user", user.to_string())), Some(project), details).await?;
    store.delete_audited::<Membership>(&org_scope, &membership.id, Some(membership.version), audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project, user_id = %user, "member removed");
    Ok(())
}

/// Changes a member's role in the project. Like adding one, an admin's operation; a user who is
/// not a member is not found (adding is a separate, audited decision), and the same role again
/// changes nothing and writes no audit entry.
pub async fn update(
    auth: &Authorized,
    project: ProjectId,
    user: UserId,
    input: UpdateMember,
) -> Result<MemberView, ApiError> {
    auth.project_scope(project).await?;
    let caller = auth.caller()?;
    member_role(input.role)?;
    let org_scope = caller.org_scope();
    let store = auth.state().store()?;
    let mut membership: Membership = store
        .find_unique(&org_scope, &membership_key(project, user))
        .await
        .map_err(|_| ApiError::not_found("member"))?;
    if membership.role == input.role {
        return Ok(membership.into());
    }
    let details = serde_json::json!({ "before": membership.role, "after": input.role });
    membership.role = input.role;
    membership.updated_at = auth.state().now();
    let audit = auth.audit("member.updated", Some(("user", user.to_string())), Some(project), details).await?;
    let membership = store.update_audited(&org_scope, &membership, audit).await?;
    tracing::info!(by = %caller.user.id, project_id = %project, user_id = %user, role = ?input.role, "member role changed");
    Ok(membership.into())
}

/// A membership's role: a member role, never the organization's owner role.
fn member_role(role: Role) -> Result<(), ApiError> {
    if role == Role::Owner {
        return Err(ApiError::invalid("role", "must be admin, operator or viewer (owner is an organization role)"));
    }
    Ok(())
}
