//! Bodies of `POST /setup`: the organization and its first owner.
//! Invariant: the password is write-only; no view carries it back.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::UserView;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub org_name: String,
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    #[schema(value_type = String, format = "uuid")]
    pub id: OrgId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupResponse {
    pub organization: OrganizationView,
    pub owner: UserView,
}
