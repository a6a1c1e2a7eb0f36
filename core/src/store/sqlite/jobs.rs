//! The job queue in SQLite: the `JobQueue` concern and its SQL.
//!
//! Leases: a claim sets `status = running`, `lease_owner`, `lease_expires_at` and bumps `attempts`; the
//! pair (owner, attempts) is the lease token, so once a job is reclaimed the old holder's heartbeat,
//! completion or failure matches no row and gets `LeaseLost`. Expired leases are swept at the start of
//! every claim, in the same transaction, so a job is never running under two leases. Each lease also
//! records the claimer's incarnation, so a restarted node ends its predecessor's leases at start.
//! At most one running job per subject is guaranteed by a partial unique index, not only by the query.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::ids::{JobId, ProjectId};
use crate::model::{Job, JobKind, JobLease, JobLogLine, JobStatus, LogLevel, NewJob};
use crate::scope::{ProjectScope, SystemScope};
use crate::store::page::encode_cursor;
use crate::store::sqlite::SqliteStore;
use crate::store::sqlite::fence::check_fence;
use crate::store::{ClaimRequest, Enqueued, JobFailure, JobQueue, Page, PageRequest, StoreError};
use crate::timestamp::Timestamp;

pub(super) const JOB_COLUMNS: &str = "id, project_id, kind, subject, dedupe_key, payload, status, attempts, max_attempts, run_at, \
     lease_owner, lease_expires_at, last_error, queued_at, first_started_at, started_at, finished_at, version, lease_seq";

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let now = self.now();
        self.write(move |c| enqueue(c, &job, now)).await
    }

    async fn claim_jobs(&self, request: &ClaimRequest) -> Result<Vec<Job>, StoreError> {
        let (request, now) = (request.clone(), self.now());
        self.write(move |c| claim(c, &request, now)).await
    }

    async fn heartbeat_job(&self, lease: &JobLease, extend_by: Duration) -> Result<JobLease, StoreError> {
        let (lease, now) = (lease.clone(), self.now());
        self.write(move |c| heartbeat(c, &lease, extend_by, now)).await
    }

    async fn complete_job(&self, lease: &JobLease, message: &str) -> Result<Job, StoreError> {
        let (lease, message, now) = (lease.clone(), message.to_owned(), self.now());
        self.write(move |c| complete(c, &lease, &message, now)).await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> Result<Job, StoreError> {
        let (lease, failure, now) = (lease.clone(), failure.clone(), self.now());
        let jitter = rand::random::<f64>();
        self.write(move |c| fail(c, &lease, &failure, now, jitter)).await
    }

    async fn reclaim_own_leases(&self, node_id: &str, incarnation: &str) -> Result<u64, StoreError> {
        let (node_id, incarnation, now) = (node_id.to_owned(), incarnation.to_owned(), self.now());
        self.write(move |c| reclaim_own(c, &node_id, &incarnation, now)).await
    }

    async fn release_job(&self, lease: &JobLease, reason: &str) -> Result<Job, StoreError> {
        let (lease, reason, now) = (lease.clone(), reason.to_owned(), self.now());
        self.write(move |c| release(c, &lease, &reason, now)).await
    }

    async fn append_job_log(
        &self,
        lease: &JobLease,
        level: LogLevel,
        message: &str,
        fields: serde_json::Value,
    ) -> Result<(), StoreError> {
        let (lease, message, now) = (lease.clone(), message.to_owned(), self.now());
        self.write(move |c| append_log(c, &lease, level, &message, &fields, now)).await
    }

    async fn get_job(&self, _scope: &SystemScope, id: JobId) -> Result<Job, StoreError> {
        self.read(move |c| get(c, id)).await
    }

    async fn get_project_job(&self, scope: &ProjectScope, id: JobId) -> Result<Job, StoreError> {
        let project = scope.project_id();
        self.read(move |c| get_in_project(c, project, id)).await
    }

    async fn list_project_jobs(&self, scope: &ProjectScope, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        let (project, page) = (scope.project_id(), page.clone());
        self.read(move |c| list_in_project(c, project, &page)).await
    }

    async fn job_logs(&self, _scope: &SystemScope, id: JobId) -> Result<Vec<JobLogLine>, StoreError> {
        self.read(move |c| logs(c, id)).await
    }

    async fn subject_job_logs(
        &self,
        scope: &ProjectScope,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<(JobId, JobKind, JobLogLine)>, StoreError> {
        let (project, subject) = (scope.project_id(), subject.to_owned());
        self.read(move |c| subject_logs(c, project, &subject, limit)).await
    }

    async fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError> {
        self.read(counts).await
    }
}

pub(super) struct JobRow {
    id: String,
    project_id: Option<String>,
    kind: String,
    subject: Option<String>,
    dedupe_key: Option<String>,
    payload: String,
    status: String,
    attempts: i64,
    max_attempts: i64,
    run_at: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<i64>,
    last_error: Option<String>,
    queued_at: i64,
    first_started_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    version: i64,
    lease_seq: i64,
}

pub(super) fn job_row(row: &Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: row.get(0)?,
        project_id: row.get(1)?,
        kind: row.get(2)?,
        subject: row.get(3)?,
        dedupe_key: row.get(4)?,
        payload: row.get(5)?,
        status: row.get(6)?,
        attempts: row.get(7)?,
        max_attempts: row.get(8)?,
        run_at: row.get(9)?,
        lease_owner: row.get(10)?,
        lease_expires_at: row.get(11)?,
        last_error: row.get(12)?,
        queued_at: row.get(13)?,
        first_started_at: row.get(14)?,
        started_at: row.get(15)?,
        finished_at: row.get(16)?,
        version: row.get(17)?,
        lease_seq: row.get(18)?,
    })
}

impl JobRow {
    pub(super) fn into_job(self) -> Result<Job, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt { kind: "job", id: self.id.clone(), reason: reason.into() };
        let ts = Timestamp::from_unix_millis;
        Ok(Job {
            id: self.id.parse().map_err(|_| corrupt("bad id"))?,
            project_id: self
                .project_id
                .as_deref()
                .map(str::parse::<ProjectId>)
                .transpose()
                .map_err(|_| corrupt("bad project_id"))?,
            kind: JobKind::parse(&self.kind).ok_or_else(|| corrupt("unknown kind"))?,
            subject: self.subject.clone(),
            dedupe_key: self.dedupe_key.clone(),
            payload: serde_json::from_str(&self.payload).map_err(|_| corrupt("payload is not JSON"))?,
            status: JobStatus::parse(&self.status).ok_or_else(|| corrupt("unknown status"))?,
            attempts: self.attempts as u32,
            max_attempts: self.max_attempts as u32,
            run_at: ts(self.run_at),
            lease_owner: self.lease_owner.clone(),
            lease_expires_at: self.lease_expires_at.map(ts),
            lease_seq: self.lease_seq as u64,
            last_error: self.last_error.clone(),
            queued_at: ts(self.queued_at),
            first_started_at: self.first_started_at.map(ts),
            started_at: self.started_at.map(ts),
            finished_at: self.finished_at.map(ts),
            version: self.version as u64,
        })
    }
}

fn load(conn: &Connection, id: &str) -> Result<Option<Job>, StoreError> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"))?
        .query_row([id], job_row)
        .optional()?
        .map(JobRow::into_job)
        .transpose()
}

pub(crate) fn get(conn: &Connection, id: JobId) -> Result<Job, StoreError> {
    load(conn, &id.to_string())?.ok_or_else(|| StoreError::NotFound { kind: "job", id: id.to_string() })
}

pub(crate) fn get_in_project(conn: &Connection, project: ProjectId, id: JobId) -> Result<Job, StoreError> {
    conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND project_id = ?2"))?
        .query_row([id.to_string(), project.to_string()], job_row)
        .optional()?
        .map(JobRow::into_job)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound { kind: "job", id: id.to_string() })
}

pub(crate) fn list_in_project(
    conn: &Connection,
    project: ProjectId,
    page: &PageRequest,
) -> Result<Page<Job>, StoreError> {
    let limit = page.effective_limit()?;
    let after = page.decoded_cursor()?.unwrap_or_default();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE project_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![project.to_string(), after, (limit + 1) as i64], job_row)?;
    let mut items =
        rows.map(|r| r.map_err(StoreError::from).and_then(JobRow::into_job)).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|j| encode_cursor(&j.id.to_string()))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

fn write_log(
    conn: &Connection,
    job_id: &str,
    at: Timestamp,
    level: LogLevel,
    message: &str,
    fields: &serde_json::Value,
) -> Result<(), StoreError> {
    let seq: i64 = conn
        .prepare_cached("UPDATE jobs SET next_log_seq = next_log_seq + 1 WHERE id = ?1 RETURNING next_log_seq - 1")?
        .query_row([job_id], |r| r.get(0))?;
    let level = serde_json::to_value(level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    conn.prepare_cached(
        "INSERT INTO job_logs (job_id, seq, at, level, message, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![job_id, seq, at.as_unix_millis(), level, message, fields.to_string()])?;
    Ok(())
}

fn job_project(job: &NewJob) -> Option<ProjectId> {
    job.project_id
}

pub(crate) fn enqueue(conn: &Connection, job: &NewJob, now: Timestamp) -> Result<Enqueued, StoreError> {
    let job_new = job;
    if let Some(fence) = &job.fence {
        check_fence(conn, fence, now)?;
    }
    if let Some(key) = &job.dedupe_key {
        let existing: Option<String> = conn
            .prepare_cached("SELECT id FROM jobs WHERE dedupe_key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        if let Some(id) = existing {
            let job = load(conn, &id)?.ok_or_else(|| StoreError::NotFound { kind: "job", id })?;
            // Keys are global; a job of another project (or of the system) is never handed out.
            if job.project_id != job_project(job_new) {
                return Err(StoreError::AlreadyExists { kind: "job", key: "dedupe key".into() });
            }
            return Ok(Enqueued { job, created: false });
        }
    }
    let id = JobId::new().to_string();
    let run_at = now.saturating_add(job.delay);
    conn.prepare_cached(
        "INSERT INTO jobs (id, project_id, kind, subject, dedupe_key, payload, status, attempts, max_attempts, run_at, \
         queued_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, ?8, ?9, 1)",
    )?
    .execute(params![
        id,
        job.project_id.map(|p| p.to_string()),
        job.kind.as_str(),
        job.subject,
        job.dedupe_key,
        job.payload.to_string(),
        i64::from(job.max_attempts),
        run_at.as_unix_millis(),
        now.as_unix_millis(),
    ])?;
    write_log(conn, &id, now, LogLevel::Info, "queued", &serde_json::json!({ "run_at": run_at }))?;
    let job = load(conn, &id)?.ok_or_else(|| StoreError::NotFound { kind: "job", id })?;
    Ok(Enqueued { job, created: true })
}

/// Ends leases nobody renewed: the attempt counts, and the job is retried at once or declared dead.
fn sweep_expired(conn: &Connection, now: Timestamp) -> Result<(), StoreError> {
    let expired: Vec<(String, i64, i64, Option<String>)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, attempts, max_attempts, lease_owner FROM jobs WHERE status = 'running' AND lease_expires_at <= ?1",
        )?;
        let rows = stmt.query_map([now.as_unix_millis()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, attempts, max_attempts, owner) in expired {
        let error = format!("lease of node {} expired", owner.as_deref().unwrap_or("?"));
        end_lease(conn, &id, attempts, max_attempts, &error, now)?;
    }
    Ok(())
}

/// Ends the leases `node_id` holds under any incarnation but `incarnation` (a start of the node that
/// is gone), as `sweep_expired` ends expired ones. Leases from before incarnations were recorded
/// (NULL) were taken by an earlier start too.
pub(crate) fn reclaim_own(
    conn: &Connection,
    node_id: &str,
    incarnation: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
    let stale: Vec<(String, i64, i64)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, attempts, max_attempts FROM jobs WHERE status = 'running' AND lease_owner = ?1 \
             AND (lease_incarnation IS NULL OR lease_incarnation <> ?2)",
        )?;
        let rows = stmt.query_map(params![node_id, incarnation], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let error = format!("lease of node {node_id} ended: the node restarted");
    for (id, attempts, max_attempts) in &stale {
        end_lease(conn, id, *attempts, *max_attempts, &error, now)?;
    }
    Ok(stale.len() as u64)
}

/// Ends a running job's attempt that its holder can no longer finish: the job is claimable again
/// at once (`failed`), or `dead` if that was its last attempt; the log says why.
fn end_lease(
    conn: &Connection,
    id: &str,
    attempts: i64,
    max_attempts: i64,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let dead = attempts >= max_attempts;
    conn.prepare_cached(
        "UPDATE jobs SET status = ?2, run_at = ?3, lease_owner = NULL, lease_expires_at = NULL, lease_incarnation = NULL, \
         last_error = ?4, finished_at = CASE WHEN ?2 = 'dead' THEN ?3 ELSE NULL END, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![id, if dead { "dead" } else { "failed" }, now.as_unix_millis(), error])?;
    write_log(conn, id, now, LogLevel::Warn, error, &serde_json::json!({ "attempt": attempts, "dead": dead }))
}

pub(crate) fn claim(conn: &Connection, claim: &ClaimRequest, now: Timestamp) -> Result<Vec<Job>, StoreError> {
    sweep_expired(conn, now)?;
    if claim.kinds.is_empty() || claim.limit == 0 {
        return Ok(Vec::new());
    }
    let kinds = claim.kinds.iter().map(|k| format!("'{}'", k.as_str())).collect::<Vec<_>>().join(",");
    // One job per statement, so the subject check sees the jobs this claim has just taken.
    let pick = format!(
        "SELECT id FROM jobs AS j WHERE status IN ('queued', 'failed') AND run_at <= ?1 AND kind IN ({kinds}) \
         AND (subject IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS r WHERE r.subject = j.subject AND r.status = 'running')) \
         ORDER BY run_at, id LIMIT 1"
    );
    let expires = now.saturating_add(claim.lease);
    let mut claimed = Vec::new();
    while claimed.len() < claim.limit {
        let Some(id) =
            conn.prepare_cached(&pick)?.query_row([now.as_unix_millis()], |r| r.get::<_, String>(0)).optional()?
        else {
            break;
        };
        conn.prepare_cached(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_seq = lease_seq + 1, lease_owner = ?2, \
             lease_incarnation = ?5, lease_expires_at = ?3, started_at = ?4, first_started_at = COALESCE(first_started_at, ?4), \
             version = version + 1 WHERE id = ?1",
        )?
        .execute(params![id, claim.node_id, expires.as_unix_millis(), now.as_unix_millis(), claim.incarnation])?;
        let job = load(conn, &id)?.ok_or_else(|| StoreError::NotFound { kind: "job", id: id.clone() })?;
        write_log(
            conn,
            &id,
            now,
            LogLevel::Info,
            "claimed",
            &serde_json::json!({ "node": claim.node_id, "attempt": job.attempts }),
        )?;
        claimed.push(job);
    }
    Ok(claimed)
}

/// Refuses unless `lease` is still the job's current lease. An expired lease that no claim has swept
/// yet is still honoured: nobody else can hold the job until the sweep.
fn check_lease(conn: &Connection, lease: &JobLease) -> Result<(), StoreError> {
    let held = conn
        .prepare_cached(
            "SELECT 1 FROM jobs WHERE id = ?1 AND status = 'running' AND lease_owner = ?2 AND lease_seq = ?3",
        )?
        .query_row(params![lease.job_id.to_string(), lease.node_id, lease.seq as i64], |_| Ok(()))
        .optional()?;
    held.ok_or(StoreError::LeaseLost { job_id: lease.job_id })
}

pub(crate) fn heartbeat(
    conn: &Connection,
    lease: &JobLease,
    extend_by: std::time::Duration,
    now: Timestamp,
) -> Result<JobLease, StoreError> {
    check_lease(conn, lease)?;
    let expires = now.saturating_add(extend_by);
    conn.prepare_cached("UPDATE jobs SET lease_expires_at = ?2 WHERE id = ?1")?
        .execute(params![lease.job_id.to_string(), expires.as_unix_millis()])?;
    Ok(JobLease { expires_at: expires, ..lease.clone() })
}

pub(crate) fn complete(conn: &Connection, lease: &JobLease, message: &str, now: Timestamp) -> Result<Job, StoreError> {
    check_lease(conn, lease)?;
    let id = lease.job_id.to_string();
    conn.prepare_cached(
        "UPDATE jobs SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, lease_incarnation = NULL, \
         finished_at = ?2, last_error = NULL, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![id, now.as_unix_millis()])?;
    write_log(conn, &id, now, LogLevel::Info, message, &serde_json::json!({ "attempt": lease.attempt }))?;
    get(conn, lease.job_id)
}

pub(crate) fn fail(
    conn: &Connection,
    lease: &JobLease,
    failure: &JobFailure,
    now: Timestamp,
    jitter: f64,
) -> Result<Job, StoreError> {
    check_lease(conn, lease)?;
    let id = lease.job_id.to_string();
    let max_attempts: i64 =
        conn.prepare_cached("SELECT max_attempts FROM jobs WHERE id = ?1")?.query_row([&id], |r| r.get(0))?;
    let dead = !failure.retryable || i64::from(lease.attempt) >= max_attempts;
    let delay = failure.backoff.delay(lease.attempt, jitter);
    let run_at = if dead { now } else { now.saturating_add(delay) };
    conn.prepare_cached(
        "UPDATE jobs SET status = ?2, run_at = ?3, lease_owner = NULL, lease_expires_at = NULL, lease_incarnation = NULL, \
         last_error = ?4, finished_at = CASE WHEN ?2 = 'dead' THEN ?5 ELSE NULL END, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![
        id,
        if dead { "dead" } else { "failed" },
        run_at.as_unix_millis(),
        failure.error,
        now.as_unix_millis()
    ])?;
    let fields = serde_json::json!({
        "attempt": lease.attempt,
        "retry_at": if dead { None } else { Some(run_at) },
        "retryable": failure.retryable,
    });
    write_log(conn, &id, now, LogLevel::Error, &failure.error, &fields)?;
    get(conn, lease.job_id)
}

pub(crate) fn release(conn: &Connection, lease: &JobLease, reason: &str, now: Timestamp) -> Result<Job, StoreError> {
    check_lease(conn, lease)?;
    let id = lease.job_id.to_string();
    // The attempt did not really happen: give it back so a shutdown does not push a job toward `dead`.
    conn.prepare_cached(
        "UPDATE jobs SET status = 'queued', attempts = attempts - 1, run_at = ?2, lease_owner = NULL, \
         lease_expires_at = NULL, lease_incarnation = NULL, version = version + 1 WHERE id = ?1",
    )?
    .execute(params![id, now.as_unix_millis()])?;
    write_log(conn, &id, now, LogLevel::Info, reason, &serde_json::json!({ "released_by": lease.node_id }))?;
    get(conn, lease.job_id)
}

pub(crate) fn append_log(
    conn: &Connection,
    lease: &JobLease,
    level: LogLevel,
    message: &str,
    fields: &serde_json::Value,
    now: Timestamp,
) -> Result<(), StoreError> {
    check_lease(conn, lease)?;
    write_log(conn, &lease.job_id.to_string(), now, level, message, fields)
}

pub(crate) fn logs(conn: &Connection, id: JobId) -> Result<Vec<JobLogLine>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT seq, at, level, message, fields FROM job_logs WHERE job_id = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([id.to_string()], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get(4)?))
    })?;
    rows.map(|row| {
        let (seq, at, level, message, fields) = row?;
        log_line(&id.to_string(), seq, at, level, message, fields)
    })
    .collect()
}

/// The log lines of every job about `subject` in `project`, oldest first, at most `limit`.
pub(crate) fn subject_logs(
    conn: &Connection,
    project: ProjectId,
    subject: &str,
    limit: usize,
) -> Result<Vec<(JobId, JobKind, JobLogLine)>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {SUBJECT_LOG_COLUMNS} FROM jobs j JOIN job_logs l ON l.job_id = j.id
         WHERE j.subject = ?1 AND j.project_id = ?2 ORDER BY l.at, j.id, l.seq LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![subject, project.to_string(), limit as i64], subject_log_row)?;
    rows.map(|row| subject_log_line(row?)).collect()
}

/// A log line with its job's id and kind, as `subject_logs` selects it (a batch read selects the
/// same columns first, `batch.rs`).
pub(super) const SUBJECT_LOG_COLUMNS: &str = "j.id, j.kind, l.seq, l.at, l.level, l.message, l.fields";

/// `SUBJECT_LOG_COLUMNS` as read: job id, kind, seq, at, level, message, fields.
pub(super) type SubjectLogRow = (String, String, i64, i64, String, String, String);

pub(super) fn subject_log_row(r: &Row<'_>) -> rusqlite::Result<SubjectLogRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

pub(super) fn subject_log_line(row: SubjectLogRow) -> Result<(JobId, JobKind, JobLogLine), StoreError> {
    let (id, kind, seq, at, level, message, fields) = row;
    let corrupt = |what: &str| StoreError::Corrupt { kind: "job", id: id.clone(), reason: what.into() };
    let job_id: JobId = id.parse().map_err(|_| corrupt("bad id"))?;
    let kind = JobKind::parse(&kind).ok_or_else(|| corrupt("unknown kind"))?;
    Ok((job_id, kind, log_line(&id, seq, at, level, message, fields)?))
}

pub(super) fn log_line(
    id: &str,
    seq: i64,
    at: i64,
    level: String,
    message: String,
    fields: String,
) -> Result<JobLogLine, StoreError> {
    let corrupt =
        |reason: &str| StoreError::Corrupt { kind: "job log", id: format!("{id}#{seq}"), reason: reason.into() };
    Ok(JobLogLine {
        seq: seq as u64,
        at: Timestamp::from_unix_millis(at),
        level: serde_json::from_value(serde_json::Value::String(level)).map_err(|_| corrupt("bad level"))?,
        message,
        fields: serde_json::from_str(&fields).map_err(|_| corrupt("fields are not JSON"))?,
    })
}

pub(crate) fn counts(conn: &Connection) -> Result<BTreeMap<JobStatus, u64>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT status, COUNT(*) FROM jobs GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut counts = std::collections::BTreeMap::new();
    for row in rows {
        let (status, n) = row?;
        if let Some(status) = JobStatus::parse(&status) {
            counts.insert(status, n as u64);
        }
    }
    Ok(counts)
}
