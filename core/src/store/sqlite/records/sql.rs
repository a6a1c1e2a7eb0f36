//! SQL for scoped records. Every statement on a record table carries the scope filter
//! built here from a `RecordScope`; none takes a project id from anywhere else.

use rusqlite::{Connection, OptionalExtension, Row, ToSql, params};

use crate::ids::{OrgId, ProjectId};
use crate::model::Certificate;
use crate::store::page::{cut_due_page, due_position, encode_cursor};
use crate::store::sqlite::ownership::check_membership;
use crate::store::sqlite::{sealed, stats};
use crate::store::{Page, PageRequest, RawRecord, Record, RecordKind, RecordScope, SealedFields, StoreError};
use crate::timestamp::Timestamp;

pub(in crate::store::sqlite) const COLUMNS: &str =
    "id, org_id, project_id, version, unique_key, lookup_key, due_at, created_at, updated_at, doc";

/// The WHERE fragment and its parameters for `scope` on a table of `kind`.
fn scope_filter(scope: &RecordScope, kind: RecordKind) -> Result<(String, Vec<String>), StoreError> {
    match (kind.is_project_scoped(), scope.project_id()) {
        (true, Some(project)) => {
            Ok(("org_id = ? AND project_id = ?".into(), vec![scope.org_id().to_string(), project.to_string()]))
        }
        (false, None) => Ok(("org_id = ?".into(), vec![scope.org_id().to_string()])),
        _ => Err(StoreError::ScopeMismatch { kind: kind.name() }),
    }
}

pub(in crate::store::sqlite) fn raw_from_row(kind: RecordKind, row: &Row<'_>) -> rusqlite::Result<RawColumns> {
    Ok(RawColumns {
        kind,
        id: row.get(0)?,
        org_id: row.get(1)?,
        project_id: row.get(2)?,
        version: row.get(3)?,
        unique_key: row.get(4)?,
        lookup_key: row.get(5)?,
        due_at: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
        doc: row.get(9)?,
    })
}

/// A row as read, before its ids are parsed (parsing failures are `Corrupt`, not SQL errors).
pub(in crate::store::sqlite) struct RawColumns {
    kind: RecordKind,
    id: String,
    org_id: String,
    project_id: Option<String>,
    version: i64,
    unique_key: Option<String>,
    lookup_key: Option<String>,
    due_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    doc: String,
}

impl RawColumns {
    /// The record with its sealed fields read back from `sealed_secrets`.
    fn into_raw_with_sealed(self, conn: &Connection) -> Result<RawRecord, StoreError> {
        let mut raw = self.into_raw()?;
        if raw.kind.has_sealed_fields() {
            raw.sealed = sealed::load(conn, raw.kind.table(), &raw.id)?;
        }
        Ok(raw)
    }
}

/// Fills in the sealed fields of a page of records with one query.
pub(in crate::store::sqlite) fn attach_sealed(
    conn: &Connection,
    kind: RecordKind,
    records: &mut [RawRecord],
) -> Result<(), StoreError> {
    if !kind.has_sealed_fields() || records.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let mut found = sealed::load_many(conn, kind.table(), &ids)?;
    for record in records.iter_mut() {
        record.sealed = found.remove(&record.id).unwrap_or_default();
    }
    Ok(())
}

impl RawColumns {
    pub(in crate::store::sqlite) fn into_raw(self) -> Result<RawRecord, StoreError> {
        let corrupt =
            |reason: &str| StoreError::Corrupt { kind: self.kind.name(), id: self.id.clone(), reason: reason.into() };
        let org_id: OrgId = self.org_id.parse().map_err(|_| corrupt("bad org_id"))?;
        let project_id: Option<ProjectId> =
            self.project_id.as_deref().map(str::parse).transpose().map_err(|_| corrupt("bad project_id"))?;
        Ok(RawRecord {
            kind: self.kind,
            id: self.id,
            org_id,
            project_id,
            version: self.version as u64,
            unique_key: self.unique_key,
            lookup_key: self.lookup_key,
            due_at: self.due_at.map(Timestamp::from_unix_millis),
            created_at: Timestamp::from_unix_millis(self.created_at),
            updated_at: Timestamp::from_unix_millis(self.updated_at),
            doc: self.doc,
            sealed: Vec::new(),
        })
    }
}

/// Maps constraint violations to the errors callers can act on.
fn map_insert_error(e: rusqlite::Error, raw: &RawRecord) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(code, _) = &e {
        match code.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE => {
                let key = raw.unique_key.clone().unwrap_or_default();
                return StoreError::AlreadyExists { kind: raw.kind.name(), key: format!("key {key:?}") };
            }
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                return StoreError::AlreadyExists { kind: raw.kind.name(), key: format!("id {}", raw.id) };
            }
            _ => {}
        }
    }
    StoreError::from(e)
}

fn bind(values: &[String]) -> Vec<&dyn ToSql> {
    values.iter().map(|v| v as &dyn ToSql).collect()
}

pub(crate) fn insert(conn: &Connection, scope: &RecordScope, records: &[RawRecord]) -> Result<(), StoreError> {
    for raw in records {
        scope.check_owner(raw)?;
        check_membership(conn, scope, raw)?;
        let sql =
            format!("INSERT INTO {} ({COLUMNS}) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?7, ?8)", raw.kind.table());
        conn.prepare_cached(&sql)?
            .execute(params![
                raw.id,
                raw.org_id.to_string(),
                raw.project_id.map(|p| p.to_string()),
                raw.unique_key,
                raw.lookup_key,
                raw.due_at.map(Timestamp::as_unix_millis),
                raw.created_at.as_unix_millis(),
                raw.doc,
            ])
            .map_err(|e| map_insert_error(e, raw))?;
        stats::write_facts(conn, raw.kind, &raw.id, &raw.doc)?;
        sealed::replace(conn, raw.kind.table(), &raw.id, &raw.sealed)?;
    }
    Ok(())
}

pub(crate) fn get(conn: &Connection, scope: &RecordScope, kind: RecordKind, id: &str) -> Result<RawRecord, StoreError> {
    find_one(conn, scope, kind, "id", id)?.ok_or_else(|| StoreError::not_found(kind, id))
}

/// A page of references resolved in one statement (`id IN (…)`) plus one for their sealed fields,
/// not one per id: answered in the order given, an id given twice twice, the others left out.
pub(crate) fn get_many(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    ids: &[String],
) -> Result<Vec<RawRecord>, StoreError> {
    let mut found = std::collections::HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for raw in select_in(conn, scope, kind, "id", chunk, usize::MAX)? {
            found.insert(raw.id.clone(), raw);
        }
    }
    let mut records: Vec<RawRecord> = ids.iter().filter_map(|id| found.get(id).cloned()).collect();
    attach_sealed(conn, kind, &mut records)?;
    Ok(records)
}

/// Keys bound in one `IN (…)` list: far below SQLite's limit on bound parameters (32,766).
pub(in crate::store::sqlite) const IN_LIST_CHUNK: usize = 900;

/// The records in scope whose `column` is one of `values`, ordered by that column then id, at most
/// `limit`, without their sealed fields (the caller attaches them once for everything it read).
pub(in crate::store::sqlite) fn select_in(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    column: &'static str,
    values: &[String],
    limit: usize,
) -> Result<Vec<RawRecord>, StoreError> {
    if values.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let (filter, mut args) = scope_filter(scope, kind)?;
    args.extend(values.iter().cloned());
    let placeholders = vec!["?"; values.len()].join(",");
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {COLUMNS} FROM {} WHERE {filter} AND {column} IN ({placeholders}) ORDER BY {column}, id LIMIT {limit}",
        kind.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(bind(&args).as_slice(), |row| raw_from_row(kind, row))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(RawColumns::into_raw)).collect()
}

pub(crate) fn find_unique(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    key: &str,
) -> Result<RawRecord, StoreError> {
    find_one(conn, scope, kind, "unique_key", key)?.ok_or_else(|| StoreError::not_found(kind, key))
}

fn find_one(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    column: &'static str,
    value: &str,
) -> Result<Option<RawRecord>, StoreError> {
    let (filter, mut values) = scope_filter(scope, kind)?;
    values.push(value.to_owned());
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE {filter} AND {column} = ?", kind.table());
    conn.prepare_cached(&sql)?
        .query_row(bind(&values).as_slice(), |row| raw_from_row(kind, row))
        .optional()?
        .map(|columns| columns.into_raw_with_sealed(conn))
        .transpose()
}

pub(crate) fn list(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    lookup_key: Option<&str>,
    page: &PageRequest,
    sealed: SealedFields,
) -> Result<Page<RawRecord>, StoreError> {
    let limit = page.effective_limit()?;
    let after = page.decoded_cursor()?;
    let (mut filter, mut values) = scope_filter(scope, kind)?;
    if let Some(key) = lookup_key {
        filter.push_str(" AND lookup_key = ?");
        values.push(key.to_owned());
    }
    if let Some(after) = after {
        filter.push_str(" AND id > ?");
        values.push(after);
    }
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE {filter} ORDER BY id LIMIT {}", kind.table(), limit + 1);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(bind(&values).as_slice(), |row| raw_from_row(kind, row))?;
    let items =
        rows.map(|r| r.map_err(StoreError::from).and_then(RawColumns::into_raw)).collect::<Result<Vec<_>, _>>()?;
    finish_page(conn, kind, items, limit, sealed)
}

/// Cuts one row read ahead (`limit + 1` were asked for) into the next cursor and attaches the
/// sealed fields when they are to be read.
fn finish_page(
    conn: &Connection,
    kind: RecordKind,
    mut items: Vec<RawRecord>,
    limit: usize,
    sealed: SealedFields,
) -> Result<Page<RawRecord>, StoreError> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| encode_cursor(&r.id))
    } else {
        None
    };
    if sealed == SealedFields::Read {
        attach_sealed(conn, kind, &mut items)?;
    }
    Ok(Page { items, next_cursor })
}

/// Every record of a project-scoped kind across all projects, in id order (for system components:
/// the scheduler's scans, metrics).
pub(crate) fn list_all(conn: &Connection, kind: RecordKind, page: &PageRequest) -> Result<Page<RawRecord>, StoreError> {
    if !kind.is_project_scoped() {
        return Err(StoreError::InvalidRequest(format!("{} records are not listed across projects", kind.name())));
    }
    let limit = page.effective_limit()?;
    let after = page.decoded_cursor()?.unwrap_or_default();
    let sql = format!("SELECT {COLUMNS} FROM {} WHERE id > ?1 ORDER BY id LIMIT {}", kind.table(), limit + 1);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([after], |row| raw_from_row(kind, row))?;
    let items =
        rows.map(|r| r.map_err(StoreError::from).and_then(RawColumns::into_raw)).collect::<Result<Vec<_>, _>>()?;
    finish_page(conn, kind, items, limit, SealedFields::Read)
}

/// The stored version of a record in scope, to tell "gone" from "changed" after a guarded write missed.
fn stored_version(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    id: &str,
) -> Result<Option<u64>, StoreError> {
    let (filter, mut values) = scope_filter(scope, kind)?;
    values.push(id.to_owned());
    let sql = format!("SELECT version FROM {} WHERE {filter} AND id = ?", kind.table());
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(bind(&values).as_slice(), |r| r.get::<_, i64>(0))
        .optional()?
        .map(|v| v as u64))
}

pub(crate) fn update(
    conn: &Connection,
    scope: &RecordScope,
    raw: RawRecord,
    now: Timestamp,
) -> Result<RawRecord, StoreError> {
    scope.check_owner(&raw)?;
    check_membership(conn, scope, &raw)?;
    let (filter, scope_values) = scope_filter(scope, raw.kind)?;
    let sql = format!(
        "UPDATE {} SET version = version + 1, unique_key = ?, lookup_key = ?, due_at = ?, updated_at = ?, doc = ?
         WHERE {filter} AND id = ? AND version = ?",
        raw.kind.table()
    );
    let due = raw.due_at.map(Timestamp::as_unix_millis);
    let now_millis = now.as_unix_millis();
    let version = raw.version as i64;
    let mut args: Vec<&dyn ToSql> = vec![&raw.unique_key, &raw.lookup_key, &due, &now_millis, &raw.doc];
    args.extend(bind(&scope_values));
    args.push(&raw.id);
    args.push(&version);
    let changed = conn.prepare_cached(&sql)?.execute(args.as_slice()).map_err(|e| map_insert_error(e, &raw))?;
    if changed == 0 {
        return Err(match stored_version(conn, scope, raw.kind, &raw.id)? {
            None => StoreError::not_found(raw.kind, raw.id),
            Some(actual) => StoreError::Conflict { kind: raw.kind.name(), id: raw.id, expected: raw.version, actual },
        });
    }
    stats::write_facts(conn, raw.kind, &raw.id, &raw.doc)?;
    sealed::replace(conn, raw.kind.table(), &raw.id, &raw.sealed)?;
    get(conn, scope, raw.kind, &raw.id)
}

pub(crate) fn delete(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    id: &str,
    expected_version: Option<u64>,
) -> Result<(), StoreError> {
    let (filter, mut values) = scope_filter(scope, kind)?;
    values.push(id.to_owned());
    let mut sql = format!("DELETE FROM {} WHERE {filter} AND id = ?", kind.table());
    if let Some(v) = expected_version {
        sql.push_str(" AND version = ?");
        values.push(v.to_string());
    }
    let changed = conn.prepare_cached(&sql)?.execute(bind(&values).as_slice())?;
    if changed == 0 {
        return Err(match (stored_version(conn, scope, kind, id)?, expected_version) {
            (Some(actual), Some(expected)) => {
                StoreError::Conflict { kind: kind.name(), id: id.into(), expected, actual }
            }
            _ => StoreError::not_found(kind, id),
        });
    }
    sealed::delete_all(conn, kind.table(), id)?;
    Ok(())
}

/// Deletes every record of `kind` in `scope` listed under `lookup_key` (a certificate's
/// deployments), with their sealed values.
pub(crate) fn delete_by_lookup(
    conn: &Connection,
    scope: &RecordScope,
    kind: RecordKind,
    lookup_key: &str,
) -> Result<(), StoreError> {
    let (filter, mut values) = scope_filter(scope, kind)?;
    values.push(lookup_key.to_owned());
    let ids: Vec<String> = {
        let mut stmt =
            conn.prepare_cached(&format!("SELECT id FROM {} WHERE {filter} AND lookup_key = ?", kind.table()))?;
        stmt.query_map(bind(&values).as_slice(), |r| r.get(0))?.collect::<Result<_, _>>()?
    };
    conn.prepare_cached(&format!("DELETE FROM {} WHERE {filter} AND lookup_key = ?", kind.table()))?
        .execute(bind(&values).as_slice())?;
    for id in ids {
        sealed::delete_all(conn, kind.table(), &id)?;
    }
    Ok(())
}

pub(crate) fn certificates_due(
    conn: &Connection,
    before: Timestamp,
    page: &PageRequest,
) -> Result<Page<Certificate>, StoreError> {
    let limit = page.effective_limit()?;
    let kind = RecordKind::Certificate;
    let position = due_position(page)?;
    let before = before.as_unix_millis();
    let sql_rows = |sql: &str, args: &[&dyn ToSql]| -> Result<Vec<RawRecord>, StoreError> {
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |row| raw_from_row(kind, row))?;
        let mut records =
            rows.map(|r| r.map_err(StoreError::from).and_then(RawColumns::into_raw)).collect::<Result<Vec<_>, _>>()?;
        attach_sealed(conn, kind, &mut records)?;
        Ok(records)
    };
    // Row-value comparison keeps the walk on the (due_at, id) index at any depth.
    let mut items = match &position {
        None => sql_rows(
            &format!(
                "SELECT {COLUMNS} FROM certificates WHERE due_at IS NOT NULL AND due_at < ?1 ORDER BY due_at, id LIMIT {}",
                limit + 1
            ),
            &[&before],
        )?,
        Some((due, id)) => sql_rows(
            &format!(
                "SELECT {COLUMNS} FROM certificates WHERE due_at IS NOT NULL AND due_at < ?1 AND (due_at, id) > (?2, ?3)
                 ORDER BY due_at, id LIMIT {}",
                limit + 1
            ),
            &[&before, due, id],
        )?,
    };
    let next_cursor = cut_due_page(&mut items, limit);
    Ok(Page { items: items.into_iter().map(Certificate::from_raw).collect::<Result<_, _>>()?, next_cursor })
}

pub(crate) fn locate_project(conn: &Connection, kind: RecordKind, id: &str) -> Result<Option<ProjectId>, StoreError> {
    if !kind.is_project_scoped() {
        return Ok(None);
    }
    let sql = format!("SELECT project_id FROM {} WHERE id = ?1", kind.table());
    let found: Option<Option<String>> = conn.prepare_cached(&sql)?.query_row([id], |r| r.get(0)).optional()?;
    found
        .flatten()
        .map(|p| {
            p.parse().map_err(|_| StoreError::Corrupt {
                kind: kind.name(),
                id: id.into(),
                reason: "bad project_id".into(),
            })
        })
        .transpose()
}

pub(crate) fn delete_empty_project(conn: &Connection, org: OrgId, project: ProjectId) -> Result<(), StoreError> {
    let id = project.to_string();
    // Another organization's project reads like an unknown one, never as "still holds …".
    let ours = conn
        .prepare_cached("SELECT 1 FROM projects WHERE org_id = ?1 AND id = ?2")?
        .query_row([org.to_string(), id.clone()], |_| Ok(()))
        .optional()?;
    if ours.is_none() {
        return Err(StoreError::not_found(RecordKind::Project, id));
    }
    // Watches are the notification router's bookkeeping, not something a person made: they go with
    // the project.
    for kind in RecordKind::ALL.into_iter().filter(|k| k.is_project_scoped() && *k != RecordKind::CertificateWatch) {
        let sql = format!("SELECT 1 FROM {} WHERE project_id = ?1 LIMIT 1", kind.table());
        if conn.prepare_cached(&sql)?.query_row([&id], |_| Ok(())).optional()?.is_some() {
            return Err(StoreError::NotEmpty { kind: "project", id, holds: kind.name() });
        }
    }
    conn.prepare_cached("DELETE FROM memberships WHERE org_id = ?1 AND project_id = ?2")?
        .execute([org.to_string(), id.clone()])?;
    conn.prepare_cached("DELETE FROM certificate_watches WHERE org_id = ?1 AND project_id = ?2")?
        .execute([org.to_string(), id.clone()])?;
    let deleted = conn
        .prepare_cached("DELETE FROM projects WHERE org_id = ?1 AND id = ?2")?
        .execute([org.to_string(), id.clone()])?;
    if deleted == 0 {
        return Err(StoreError::not_found(RecordKind::Project, id));
    }
    Ok(())
}

pub(crate) fn project_members(conn: &Connection, org: OrgId, project: ProjectId) -> Result<Vec<RawRecord>, StoreError> {
    let kind = RecordKind::Membership;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM memberships WHERE project_id = ?1 AND org_id = ?2 ORDER BY id"
    ))?;
    let rows = stmt.query_map([project.to_string(), org.to_string()], |row| raw_from_row(kind, row))?;
    rows.map(|r| r.map_err(StoreError::from).and_then(RawColumns::into_raw)).collect()
}

pub(crate) fn certificate_expiries(
    conn: &Connection,
    limit: usize,
) -> Result<Vec<crate::store::CertificateExpiry>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, project_id, json_extract(doc, '$.common_name'), json_extract(doc, '$.status'),
                json_extract(doc, '$.not_after')
         FROM certificates WHERE json_extract(doc, '$.not_after') IS NOT NULL
           AND json_extract(doc, '$.status') != 'revoked'",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, project, common_name, status, not_after) = row?;
        let corrupt = |what: &str| StoreError::Corrupt { kind: "certificate", id: id.clone(), reason: what.into() };
        out.push(crate::store::CertificateExpiry {
            id: id.parse().map_err(|_| corrupt("bad id"))?,
            project_id: project.parse().map_err(|_| corrupt("bad project id"))?,
            common_name,
            status: serde_json::from_value(serde_json::Value::String(status)).map_err(|_| corrupt("bad status"))?,
            not_after: serde_json::from_value(serde_json::Value::String(not_after))
                .map_err(|_| corrupt("bad not_after"))?,
        });
    }
    out.sort_by_key(|e| e.not_after);
    out.truncate(limit);
    Ok(out)
}
