//! What the operations on project records share: the page a list may ask for, body ids that must
//! name something in the project, the reference check before a delete, and the delete itself with
//! its audit entry. Invariant: a refusal here comes before any write, so it changes nothing.

use certautopilot_core::ProjectScope;
use certautopilot_core::store::{MAX_PAGE_SIZE, PageRequest, Record, RecordStore};

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
