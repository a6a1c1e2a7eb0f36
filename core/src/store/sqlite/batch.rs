//! The `BatchReads` concern in SQLite: one statement per read, whatever the number of keys (up to
//! `IN_LIST_CHUNK` keys a statement). The newest N per key come from a window function
//! (`ROW_NUMBER() OVER (PARTITION BY key …)`), so one busy certificate cannot crowd out the others.
//! Invariant: every statement filters by the caller's organization and project.

use async_trait::async_trait;
use rusqlite::{Connection, ToSql};

use crate::ids::ProjectId;
use crate::model::{AuditEvent, Job, Membership};
use crate::scope::{OrgScope, ProjectScope};
use crate::store::sqlite::records::sql::{IN_LIST_CHUNK, attach_sealed, select_in};
use crate::store::sqlite::{SqliteStore, audit, jobs};
use crate::store::{BatchReads, RawRecord, Record, RecordKind, RecordScope, StoreError, SubjectLogLine};

#[async_trait]
impl BatchReads for SqliteStore {
    async fn list_by_lookups_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        keys: &[String],
        limit: usize,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let (scope, keys) = (scope.clone(), keys.to_vec());
        self.read(move |c| {
            let mut found = Vec::new();
            for chunk in keys.chunks(IN_LIST_CHUNK) {
                found.extend(select_in(c, &scope, kind, "lookup_key", chunk, limit - found.len())?);
            }
            attach_sealed(c, kind, &mut found)?;
            Ok(found)
        })
        .await
    }

    async fn members_of_projects(
        &self,
        scope: &OrgScope,
        projects: &[ProjectId],
    ) -> Result<Vec<Membership>, StoreError> {
        let (org, projects) =
            (scope.org_id().to_string(), projects.iter().map(ToString::to_string).collect::<Vec<_>>());
        self.read(move |c| {
            let mut found = chunked(&projects, |chunk| members_in(c, &org, chunk))?;
            found.sort_by_key(|m: &Membership| m.id.to_string());
            Ok(found)
        })
        .await
    }

    async fn subject_jobs(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let (project, subjects) = (scope.project_id().to_string(), subjects.to_vec());
        self.read(move |c| chunked(&subjects, |chunk| jobs_in(c, &project, chunk, per_subject))).await
    }

    async fn subject_log_tails(
        &self,
        scope: &ProjectScope,
        subjects: &[String],
        per_subject: usize,
    ) -> Result<Vec<SubjectLogLine>, StoreError> {
        let (project, subjects) = (scope.project_id().to_string(), subjects.to_vec());
        self.read(move |c| chunked(&subjects, |chunk| log_tails_in(c, &project, chunk, per_subject))).await
    }

    async fn object_audit_tails(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        objects: &[String],
        per_object: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let (org, project, objects) = (scope.org_id().to_string(), project.to_string(), objects.to_vec());
        self.read(move |c| {
            let mut found = chunked(&objects, |chunk| audit_tails_in(c, &org, &project, chunk, per_object))?;
            found.sort_by_key(|e| e.seq);
            Ok(found)
        })
        .await
    }
}

/// `read` over `keys` in chunks of `IN_LIST_CHUNK` (one statement each), the answers in order.
fn chunked<T>(
    keys: &[String],
    mut read: impl FnMut(&[String]) -> Result<Vec<T>, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut found = Vec::new();
    for chunk in keys.chunks(IN_LIST_CHUNK) {
        found.extend(read(chunk)?);
    }
    Ok(found)
}

/// `?1, ?2, …` bindings: the fixed arguments first, then the keys.
fn arguments<'a>(fixed: &'a [&'a dyn ToSql], keys: &'a [String]) -> Vec<&'a dyn ToSql> {
    fixed.iter().copied().chain(keys.iter().map(|k| k as &dyn ToSql)).collect()
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

fn members_in(conn: &Connection, org: &str, projects: &[String]) -> Result<Vec<Membership>, StoreError> {
    // Memberships are organization records; their project is a column to list by.
    let scope_org = [&org as &dyn ToSql];
    let sql = format!(
        "SELECT {} FROM memberships WHERE org_id = ? AND project_id IN ({}) ORDER BY id",
        crate::store::sqlite::records::sql::COLUMNS,
        placeholders(projects.len())
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(arguments(&scope_org, projects).as_slice(), |row| {
        crate::store::sqlite::records::sql::raw_from_row(RecordKind::Membership, row)
    })?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|c| c.into_raw()).and_then(Membership::from_raw)).collect()
}

fn jobs_in(conn: &Connection, project: &str, subjects: &[String], per_subject: usize) -> Result<Vec<Job>, StoreError> {
    let per_subject = i64::try_from(per_subject).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT {columns} FROM (SELECT {columns}, ROW_NUMBER() OVER (PARTITION BY subject ORDER BY id DESC) AS rn
           FROM jobs WHERE project_id = ? AND subject IN ({keys}))
         WHERE rn <= ? ORDER BY subject, id DESC",
        columns = jobs::JOB_COLUMNS,
        keys = placeholders(subjects.len())
    );
    let fixed = [&project as &dyn ToSql];
    let mut args = arguments(&fixed, subjects);
    args.push(&per_subject);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args.as_slice(), jobs::job_row)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(jobs::JobRow::into_job)).collect()
}

fn log_tails_in(
    conn: &Connection,
    project: &str,
    subjects: &[String],
    per_subject: usize,
) -> Result<Vec<SubjectLogLine>, StoreError> {
    let per_subject = i64::try_from(per_subject).unwrap_or(i64::MAX);
    // The newest first for the cut; handed back oldest first, as `subject_job_logs` orders them.
    let sql = format!(
        "SELECT id, kind, seq, at, level, message, fields, subject FROM (
           SELECT {}, j.subject,
             ROW_NUMBER() OVER (PARTITION BY j.subject ORDER BY l.at DESC, j.id DESC, l.seq DESC) AS rn
           FROM jobs j JOIN job_logs l ON l.job_id = j.id
           WHERE j.project_id = ? AND j.subject IN ({}))
         WHERE rn <= ? ORDER BY subject, at, id, seq",
        jobs::SUBJECT_LOG_COLUMNS,
        placeholders(subjects.len())
    );
    let fixed = [&project as &dyn ToSql];
    let mut args = arguments(&fixed, subjects);
    args.push(&per_subject);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args.as_slice(), |r| Ok((jobs::subject_log_row(r)?, r.get::<_, String>(7)?)))?;
    rows.map(|row| {
        let (columns, subject) = row?;
        let (job_id, kind, line) = jobs::subject_log_line(columns)?;
        Ok(SubjectLogLine { subject, job_id, kind, line })
    })
    .collect()
}

fn audit_tails_in(
    conn: &Connection,
    org: &str,
    project: &str,
    objects: &[String],
    per_object: usize,
) -> Result<Vec<AuditEvent>, StoreError> {
    let per_object = i64::try_from(per_object).unwrap_or(i64::MAX);
    let sql = format!(
        "SELECT seq, doc FROM (
           SELECT seq, doc, ROW_NUMBER() OVER (PARTITION BY object_id ORDER BY seq DESC) AS rn
           FROM audit_events WHERE org_id = ? AND project_id = ? AND object_id IN ({}))
         WHERE rn <= ? ORDER BY seq",
        placeholders(objects.len())
    );
    let fixed = [&org as &dyn ToSql, &project as &dyn ToSql];
    let mut args = arguments(&fixed, objects);
    args.push(&per_object);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(args.as_slice(), |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    rows.map(|row| {
        let (seq, doc) = row?;
        audit::decode(org, seq, &doc)
    })
    .collect()
}
