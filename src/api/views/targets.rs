//! Views of distribution targets. Invariant: a target's credential is write-only; a view shows
//! its configuration without secrets and `has_credential`.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTarget {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::api::schema::target_kind)]
    pub kind: String,
    #[schema(schema_with = crate::api::schema::target_config)]
    pub config: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    #[schema(value_type = String, format = "uuid")]
    pub id: TargetId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: TargetKind,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub has_credential: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<DistributionTarget> for TargetView {
    fn from(t: DistributionTarget) -> Self {
        TargetView {
            id: t.id,
            project_id: t.project_id,
            name: t.name,
            kind: t.config.kind(),
            config: t.config.to_json(),
            has_credential: t.credential.is_some(),
            created_at: t.created_at,
            version: t.version,
        }
    }
}

page_type!(TargetPage, TargetView);

/// A target's new name and/or configuration; secrets left out of `config` keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTarget {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    pub version: u64,
}
