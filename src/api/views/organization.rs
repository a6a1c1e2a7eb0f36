//! Wire types of the organization and its ownership transfer. The password a transfer re-enters is
//! write-only: it never appears in a response or a `Debug` rendering.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::{OrgId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::views::UserView;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationDetail {
    #[schema(value_type = String, format = "uuid")]
    pub id: OrgId,
    pub name: String,
    /// The one owner.
    pub owner: UserView,
    /// Days an audit entry stays in the live chain before it is archived; absent: kept forever.
    pub audit_retention_days: Option<u32>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// Names the next owner. `password` is the caller's own, re-entered; it may be left out only from a
/// session signed in less than `auth.reauth_window_secs` ago.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnership {
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Debug for TransferOwnership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOwnership")
            .field("user_id", &self.user_id)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerTransferred {
    /// The new owner.
    pub owner: UserView,
    /// Now an ordinary user, with the project memberships they had.
    pub previous_owner: UserView,
}

/// The organization's audit retention: `days` an entry stays live (0 to 36500; 0 archives every
/// entry once verified and delivered, the head excepted), or `null` to keep everything live.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAuditRetention {
    pub days: Option<u32>,
}
