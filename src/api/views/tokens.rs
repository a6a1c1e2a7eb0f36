//! Views of API tokens. Invariant: a token's secret is shown once, in `CreatedApiToken`; every
//! other view has only its id and metadata (the store keeps only a hash).

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    pub name: String,
    /// Days until it expires (at most `auth.api_token_max_days`); omitted means the maximum.
    #[schema(minimum = 1)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApiTokenId,
    pub name: String,
    /// Shown this once; only a hash is kept.
    pub token: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApiTokenId,
    /// Whose token it is: owners list and revoke every user's tokens.
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    pub name: String,
    pub revoked: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        ApiTokenView {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            revoked: t.revoked,
            expires_at: t.expires_at,
            created_at: t.created_at,
        }
    }
}

page_type!(ApiTokenPage, ApiTokenView);
