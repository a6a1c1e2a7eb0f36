//! What the operations on project records share: the page a list may ask for and the list itself,
//! a record addressed by id alone, the version check of an edit, body ids that must name something
//! in the project, the reference check before a delete, and the delete itself with its audit entry.
//! Invariant: a refusal here comes before any write, so it changes nothing.

use certautopilot_core::ids::ProjectId;
use certautopilot_core::store::{MAX_PAGE_SIZE, PageRequest, Record, RecordStore};
use certautopilot_core::{Page, ProjectScope};

use crate::service::authorized::Authorized;
use crate::service::error::{ApiError, ErrorCode};

/// The page a list asks for; a size outside 1 to `MAX_PAGE_SIZE` is refused, naming `limit`.
pub fn page(request: PageRequest) -> Result<PageRequest, ApiError> {
    if let Some(limit) = request.limit
        && !(1..=MAX_PAGE_SIZE).contains(&limit)
    {
        return Err(ApiError::invalid("limit", format!("must be 1 to {MAX_PAGE_SIZE}")));
    }
    Ok(request)
}

/// One page of the project's records of kind `R`, as views `V`.
pub async fn list<R, V>(auth: &Authorized, project: ProjectId, request: PageRequest) -> Result<Page<V>, ApiError>
where
    R: Record<Scope = ProjectScope>,
    V: From<R>,
{
    let scope = auth.project_scope(project).await?;
    Ok(auth.state().store()?.list::<R>(&scope, &page(request)?).await?.map(V::from))
}

/// Record `id` of kind `R` and the scope of its project, for operations addressed by id alone.
/// Unknown ids and ids of projects the caller cannot see are both `what` not found.
pub async fn addressed<R>(
    auth: &Authorized,
    id: &(impl ToString + Sync),
    what: &str,
) -> Result<(ProjectScope, R), ApiError>
where
    R: Record<Scope = ProjectScope>,
{
    let id = id.to_string();
    let scope = auth.scope_of_record(R::KIND, &id, what).await?;
    let record = auth.state().store()?.get::<R>(&scope, &id).await?;
    Ok((scope, record))
}

/// The version check every edit starts with: `given` is the version the caller read.
pub fn at_version(what: &str, stored: u64, given: u64) -> Result<(), ApiError> {
    if given == stored {
        return Ok(());
    }
    Err(ApiError::new(ErrorCode::VersionConflict, format!("the {what} is at version {stored}, not {given}")))
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
    auth: &Authorized,
    scope: &ProjectScope,
    what: &str,
    refers: impl Fn(&R) -> bool,
) -> Result<(), ApiError>
where
    R: Record<Scope = ProjectScope>,
{
    let mut page = PageRequest::first(1_000);
    loop {
        let found = auth.state().store()?.list::<R>(scope, &page).await?;
        if let Some(user) = found.items.iter().find(|r| refers(r)) {
            return Err(ApiError::new(
                ErrorCode::Conflict,
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

/// The end of every delete of a project record: delete it and write its audit entry in one
/// transaction.
pub async fn delete_with_audit<R>(
    auth: &Authorized,
    scope: &ProjectScope,
    id: &str,
    action: &str,
    object_kind: &str,
) -> Result<(), ApiError>
where
    R: Record<Scope = ProjectScope>,
{
    let audit =
        auth.audit(action, Some((object_kind, id.to_owned())), Some(scope.project_id()), serde_json::json!({})).await?;
    auth.state().store()?.delete_audited::<R>(scope, &id, None, audit).await?;
    Ok(())
}
