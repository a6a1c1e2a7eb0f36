//! What a write may name. Invariant: a record is written only under the scope it belongs to (its
//! organization, and its project for project records), and a membership only names a project and a
//! user of its own organization, so no scope can ever be built over another organization's data.

use rusqlite::{Connection, params};

use crate::store::{RawRecord, RecordKind, RecordScope, StoreError};

pub(super) fn check_owner(scope: &RecordScope, raw: &RawRecord) -> Result<(), StoreError> {
    let matches = raw.org_id == scope.org_id()
        && match scope.project_id() {
            Some(project) => raw.project_id == Some(project),
            None => !raw.kind.is_project_scoped(),
        };
    if matches { Ok(()) } else { Err(StoreError::ScopeMismatch { kind: raw.kind.name() }) }
}

/// A membership names a project and a user of the organization it is written in: one naming
/// another organization's project would build this organization's scope over that project.
pub(super) fn check_membership(conn: &Connection, scope: &RecordScope, raw: &RawRecord) -> Result<(), StoreError> {
    if raw.kind != RecordKind::Membership {
        return Ok(());
    }
    let refused = || StoreError::ScopeMismatch { kind: raw.kind.name() };
    let (Some(project), Some(user)) = (raw.project_id, raw.lookup_key.as_deref()) else { return Err(refused()) };
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE org_id = ?1 AND id = ?2) AND EXISTS (SELECT 1 FROM {} WHERE org_id = ?1 AND id = ?3)",
        RecordKind::Project.table(),
        RecordKind::User.table()
    );
    let ours: bool = conn
        .prepare_cached(&sql)?
        .query_row(params![scope.org_id().to_string(), project.to_string(), user], |r| r.get(0))?;
    if ours { Ok(()) } else { Err(refused()) }
}
