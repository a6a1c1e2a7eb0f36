//! Route handlers, one file per resource, each thin: extract the path, query and body, call the
//! operation in `crate::service`, render its answer (status code and view). Each takes
//! `Authorized` first, so the route table's policy is enforced before the body is even read.
//! Invariant: no rule of an operation lives here (validation, scopes, audit entries, jobs).

pub mod acme_accounts;
pub mod admin;
pub mod approvals;
pub mod audit;
pub mod certificates;
pub mod cluster;
pub mod dns;
pub mod jobs;
pub mod members;
pub mod notifications;
pub mod organization;
pub mod projects;
pub mod session;
pub mod setup;
pub mod targets;
pub mod tokens;
pub mod users;

use std::str::FromStr;

use certautopilot_core::ids::ProjectId;
use certautopilot_core::store::PageRequest;
use serde::Deserialize;

use crate::api::error::ApiError;

/// `?project_id=&cursor=&limit=` of list routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub project_id: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

impl ListQuery {
    /// The page asked for, as given: the operation checks its size.
    pub fn page(&self) -> PageRequest {
        PageRequest { limit: self.limit, cursor: self.cursor.clone() }
    }

    pub fn project(&self) -> Result<ProjectId, ApiError> {
        let text = self.project_id.as_deref().ok_or_else(|| ApiError::invalid("project_id", "is required"))?;
        text.parse().map_err(|_| ApiError::invalid("project_id", "must be a project id (UUID)"))
    }
}

/// An id from the path; one that cannot be an id is simply not found.
pub fn path_id<T: FromStr>(text: &str, what: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found(what))
}
