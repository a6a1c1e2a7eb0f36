//! Route handlers, one file per resource. Each takes `Authorized` first: the route table's policy
//! is enforced before the handler body runs, and project data is reached only through scopes.

pub mod acme_accounts;
pub mod admin;
pub mod audit;
pub mod certificates;
pub mod cluster;
pub mod dns;
pub mod jobs;
pub mod members;
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

use crate::api::auth::Authorized;
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
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let max = certautopilot_core::store::MAX_PAGE_SIZE;
        if let Some(limit) = self.limit
            && !(1..=max).contains(&limit)
        {
            return Err(ApiError::invalid("limit", format!("must be 1 to {max}")));
        }
        Ok(PageRequest { limit: self.limit, cursor: self.cursor.clone() })
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

/// A body id that must name something in the project; not found there is a validation error.
pub fn related_missing(field: &str, what: &str) -> impl FnOnce(certautopilot_core::StoreError) -> ApiError {
    let (field, what) = (field.to_owned(), what.to_owned());
    move |e| match e {
        certautopilot_core::StoreError::NotFound { .. } => {
            ApiError::invalid(field, format!("no such {what} in this project"))
        }
        other => other.into(),
    }
}

/// Refuses (409) when a record of kind `R` in the project still points at what is being deleted.
/// Reads page by page; a reference created concurrently can still slip through (not one transaction).
pub async fn ensure_unreferenced<R>(
    state: &crate::api::AppState,
    scope: &certautopilot_core::ProjectScope,
    what: &str,
    refers: impl Fn(&R) -> bool,
) -> Result<(), ApiError>
where
    R: certautopilot_core::store::Record<Scope = certautopilot_core::ProjectScope>,
{
    use certautopilot_core::store::RecordStore;
    let mut page = PageRequest::first(1_000);
    loop {
        let found = state.store()?.list::<R>(scope, &page).await?;
        if let Some(user) = found.items.iter().find(|r| refers(r)) {
            return Err(ApiError::new(
                crate::api::error::ErrorCode::Conflict,
                format!("still used by {} {}; remove that first", R::KIND.name(), user.record_id()),
            )
            .with_detail_prefix(what));
        }
        match found.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => return Ok(()),
        }
    }
}

/// The end of every delete route for a project-scoped record: delete it and write its audit entry
/// in one transaction, then answer 204.
pub async fn delete_with_audit<R>(
    auth: &Authorized,
    state: &crate::api::AppState,
    scope: &certautopilot_core::ProjectScope,
    id: &str,
    action: &str,
    object_kind: &str,
) -> Result<actix_web::HttpResponse, ApiError>
where
    R: certautopilot_core::store::Record<Scope = certautopilot_core::ProjectScope>,
{
    use certautopilot_core::store::RecordStore;
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        action,
        Some((object_kind, id.to_owned())),
        Some(scope.project_id()),
        serde_json::json!({}),
    );
    state.store()?.delete_audited::<R>(scope, &id, None, audit).await?;
    Ok(actix_web::HttpResponse::NoContent().finish())
}
