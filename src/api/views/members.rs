//! Views of project memberships: who holds which role in a project.
//! Invariant: a membership names a member role only (owners hold theirs through the organization).

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    /// `admin`, `operator` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

/// A member's new role in the project.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// `admin`, `operator` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = "uuid")]
    pub id: MembershipId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Membership> for MemberView {
    fn from(m: Membership) -> Self {
        MemberView { id: m.id, project_id: m.project_id, user_id: m.user_id, role: m.role, created_at: m.created_at }
    }
}

page_type!(MemberPage, MemberView);
