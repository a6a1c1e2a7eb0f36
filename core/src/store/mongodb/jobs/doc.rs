//! How jobs and their log lines are stored as documents, and read back.
//! Invariant: a log line's `seq` is the one its job's update just took (`next_log_seq - 1`), and it
//! carries its job's kind, project and subject, which never change.

use mongodb::ClientSession;
use mongodb::bson::{Document, doc};

use super::JOB_LOGS;
use crate::ids::ProjectId;
use crate::model::{Job, JobKind, JobLogLine, JobStatus, LogLevel};
use crate::store::StoreError;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{Reader, ts};
use crate::store::mongodb::txn::Fail;
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
    let r = Reader::new(job, "job");
    let level = serde_json::to_value(line.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let mut document = doc! {
        "job_id": r.str("_id")?,
        "seq": r.i64("next_log_seq")? - 1,
        "at": ts(at),
        "level": level,
        "message": line.message,
        "fields": line.fields.to_string(),
        "kind": r.str("kind")?,
    };
    // The job's project and subject, for the subject timeline (they never change).
    for field in ["project_id", "subject"] {
        if let Some(value) = r.opt_str(field)? {
            document.insert(field, value);
        }
    }
    let logs = store.collection(JOB_LOGS);
    let insert = logs.insert_one(document);
    match session {
        Some(session) => insert.session(session).await?,
        None => insert.await?,
    };
    Ok(())
}

pub(super) fn log_line(d: &Document) -> Result<JobLogLine, StoreError> {
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

pub(super) fn job_from(d: &Document) -> Result<Job, StoreError> {
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
