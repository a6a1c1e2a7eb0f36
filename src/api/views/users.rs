//! Views of the organization's users. Invariant: no password hash leaves the server.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = "uuid")]
    pub id: UserId,
    pub email: String,
    /// `owner` or `member`.
    #[schema(value_type = String)]
    pub org_role: OrgRole,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            org_role: u.org_role,
            disabled: u.disabled,
            created_at: u.created_at,
            version: u.version,
        }
    }
}

page_type!(UserPage, UserView);
