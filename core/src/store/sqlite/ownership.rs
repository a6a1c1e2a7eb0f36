//! What a membership may name (the owner check itself is `RecordScope::check_owner`, the same for
//! every backend). Invariant: a membership only names a project and a user of its own organization,
//! so no scope can ever be built over another organization's data.

use rusqlite::{Connection, params};

use crate::store::{RawRecord, RecordKind, RecordScope, StoreError};

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
