//! Views of projects. Invariant: edits carry the `version` read, so a stale edit is refused.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: String,
    /// The version you read; a stale one gets 409 `version_conflict`.
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ProjectId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        ProjectView { id: p.id, name: p.name, created_at: p.created_at, updated_at: p.updated_at, version: p.version }
    }
}

page_type!(ProjectPage, ProjectView);
