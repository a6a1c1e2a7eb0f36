//! How jobs and their log lines are stored as documents, and read back.
//! Invariant: a log line's `seq` is the one its job's update just took (`next_log_seq - 1`), and it
//! carries its job's kind, project and subject, which never change.

use mongodb::ClientSession;
use mongodb::bson::{Bson, Document, doc};

use super::JOB_LOGS;
use crate::ids::ProjectId;
use crate::model::{Job, JobKind, JobLogLine, JobStatus, LogLevel};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{Reader, n, opt_ts, ts};
use crate::store::mongodb::txn::Fail;
use crate::store::{JobLogRow, JobRow, StoreError};
use crate::timestamp::Timestamp;

/// A log line to write.
pub(super) struct Line<'a> {
    level: LogLevel,
    message: &'a str,
    fields: serde_json::Value,
}

impl<'a> Line<'a> {
    pub(super) fn new(level: LogLevel, message: &'a str, fields: serde_json::Value) -> Self {
        Line { level, message, fields }
    }
}

/// Writes `line` for `job` (the job's document as just changed, whose `next_log_seq` was bumped for
/// this line), in the transaction when `session` is given.
pub(super) async fn write_log(
    store: &MongoStore,
    session: Option<&mut ClientSession>,
    job: &Document,
    at: Timestamp,
    line: &Line<'_>,
) -> Result<(), Fail> {
    let seq = Reader::new(job, "job").i64("next_log_seq")? - 1;
    let document = log_document(job, seq, at, line.level, line.message, &line.fields)?;
    let logs = store.collection(JOB_LOGS);
    let insert = logs.insert_one(document);
    match session {
        Some(session) => insert.session(session).await?,
        None => insert.await?,
    };
    Ok(())
}

/// Line `seq` of `job`'s log as stored (`job` needs only its id, kind, project and subject).
pub(in crate::store::mongodb) fn log_document(
    job: &Document,
    seq: i64,
    at: Timestamp,
    level: LogLevel,
    message: &str,
    fields: &serde_json::Value,
) -> Result<Document, StoreError> {
    let r = Reader::new(job, "job");
    let level = serde_json::to_value(level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let mut document = doc! {
        "job_id": r.str("_id")?,
        "seq": seq,
        "at": ts(at),
        "level": level,
        "message": message,
        "fields": fields.to_string(),
        "kind": r.str("kind")?,
    };
    // The job's project and subject, for the subject timeline (they never change).
    for field in ["project_id", "subject"] {
        if let Some(value) = r.opt_str(field)? {
            document.insert(field, value);
        }
    }
    Ok(document)
}

pub(in crate::store::mongodb) fn log_line(d: &Document) -> Result<JobLogLine, StoreError> {
    let r = Reader::new(d, "job log");
    let corrupt = |reason: &str| StoreError::Corrupt {
        kind: "job log",
        id: format!("{}#{}", r.str("job_id").unwrap_or("?"), r.i64("seq").unwrap_or(0)),
        reason: reason.into(),
    };
    Ok(JobLogLine {
        seq: r.u64("seq")?,
        at: r.ts("at")?,
        level: serde_json::from_value(serde_json::Value::String(r.str("level")?.to_owned()))
            .map_err(|_| corrupt("bad level"))?,
        message: r.str("message")?.to_owned(),
        fields: serde_json::from_str(r.str("fields")?).map_err(|_| corrupt("fields are not JSON"))?,
    })
}

pub(in crate::store::mongodb) fn job_from(d: &Document) -> Result<Job, StoreError> {
    let r = Reader::new(d, "job");
    let id = r.str("_id")?;
    let corrupt = |reason: &str| StoreError::Corrupt { kind: "job", id: id.to_owned(), reason: reason.into() };
    let count = |field: &str| u32::try_from(r.u64(field)?).map_err(|_| corrupt("counter out of range"));
    Ok(Job {
        id: id.parse().map_err(|_| corrupt("bad id"))?,
        project_id: r
            .opt_str("project_id")?
            .map(str::parse::<ProjectId>)
            .transpose()
            .map_err(|_| corrupt("bad project_id"))?,
        kind: JobKind::parse(r.str("kind")?).ok_or_else(|| corrupt("unknown kind"))?,
        subject: r.opt_str("subject")?.map(str::to_owned),
        dedupe_key: r.opt_str("dedupe_key")?.map(str::to_owned),
        payload: serde_json::from_str(r.str("payload")?).map_err(|_| corrupt("payload is not JSON"))?,
        status: JobStatus::parse(r.str("status")?).ok_or_else(|| corrupt("unknown status"))?,
        attempts: count("attempts")?,
        max_attempts: count("max_attempts")?,
        run_at: r.ts("run_at")?,
        lease_owner: r.opt_str("lease_owner")?.map(str::to_owned),
        lease_expires_at: r.opt_ts("lease_expires_at")?,
        lease_seq: r.u64("lease_seq")?,
        last_error: r.opt_str("last_error")?.map(str::to_owned),
        queued_at: r.ts("queued_at")?,
        first_started_at: r.opt_ts("first_started_at")?,
        started_at: r.opt_ts("started_at")?,
        finished_at: r.opt_ts("finished_at")?,
        version: r.u64("version")?,
    })
}

/// A job as stored, lease and counters included: `job_from`'s inverse, for `store copy` (`enqueue`
/// writes a new job's fields by the same names). `subject` and `dedupe_key` are left out when
/// absent, as `enqueue` leaves them, so the partial unique indexes see only jobs that have one.
pub(in crate::store::mongodb) fn job_document(row: &JobRow) -> Document {
    let (j, opt) = (&row.job, |v: &Option<String>| v.as_ref().map_or(Bson::Null, |s| Bson::String(s.clone())));
    let mut document = doc! {
        "_id": j.id.to_string(),
        "project_id": j.project_id.map_or(Bson::Null, |p| Bson::String(p.to_string())),
        "kind": j.kind.as_str(),
        "payload": j.payload.to_string(),
        "status": j.status.as_str(),
        "attempts": i64::from(j.attempts),
        "max_attempts": i64::from(j.max_attempts),
        "run_at": ts(j.run_at),
        "lease_owner": opt(&j.lease_owner),
        "lease_incarnation": opt(&row.lease_incarnation),
        "lease_expires_at": opt_ts(j.lease_expires_at),
        "lease_seq": n(j.lease_seq),
        "last_error": opt(&j.last_error),
        "queued_at": ts(j.queued_at),
        "first_started_at": opt_ts(j.first_started_at),
        "started_at": opt_ts(j.started_at),
        "finished_at": opt_ts(j.finished_at),
        "version": n(j.version),
        "next_log_seq": n(row.next_log_seq),
    };
    if let Some(subject) = &j.subject {
        document.insert("subject", subject);
    }
    if let Some(key) = &j.dedupe_key {
        document.insert("dedupe_key", key);
    }
    document
}

pub(in crate::store::mongodb) fn job_row_from(d: &Document) -> Result<JobRow, StoreError> {
    let r = Reader::new(d, "job");
    Ok(JobRow {
        job: job_from(d)?,
        next_log_seq: r.u64("next_log_seq")?,
        lease_incarnation: r.opt_str("lease_incarnation")?.map(str::to_owned),
    })
}

pub(in crate::store::mongodb) fn log_row_from(d: &Document) -> Result<JobLogRow, StoreError> {
    let job_id = Reader::new(d, "job log").str("job_id")?;
    let corrupt = || StoreError::Corrupt { kind: "job log", id: job_id.to_owned(), reason: "bad job id".into() };
    Ok(JobLogRow { job_id: job_id.parse().map_err(|_| corrupt())?, line: log_line(d)? })
}
