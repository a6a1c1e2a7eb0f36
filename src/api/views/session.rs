//! Bodies of sign-in and `GET /auth/me`: the session token, its CSRF token, the user and their
//! memberships. Invariant: the password goes in only; only token values made for this caller come out.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::UserView;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// A session JWT for `Authorization: Bearer`; the same value is set as the session cookie.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Send as `X-CSRF-Token` on changes made with the session cookie.
    pub csrf_token: String,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipSummary {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    #[schema(schema_with = crate::api::schema::member_role)]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub memberships: Vec<MembershipSummary>,
}
