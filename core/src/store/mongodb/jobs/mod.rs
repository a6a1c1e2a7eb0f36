//! The job queue on MongoDB: the `JobQueue` concern over the `jobs` and `job_logs` collections.
//!
//! Layout: one document per job in `jobs` (`_id` is the job id; `subject` and `dedupe_key` are left
//! out when the job has none, so the partial unique indexes below only see jobs that have them),
//! and one document per log line in `job_logs` carrying its job's project, subject and kind, so a
//! certificate's timeline is one index walk without a join. `payload` and log `fields` are stored
//! as JSON text: exact round trips, whatever keys (`$`, `.`) a handler puts in them.
//!
//! Leases: a claim is one `findOneAndUpdate` per job (oldest `run_at` first), which sets
//! `status: running`, the owner, its incarnation and the expiry, and bumps `attempts` and
//! `lease_seq`; `(owner, lease_seq)` is the lease token, so once a job is claimed again the old
//! holder's heartbeat, completion or failure matches no document and gets `LeaseLost`. Expired
//! leases are ended at the start of every claim by updates conditional on the expiry and the token,
//! so a lease renewed meanwhile is left alone and a job is never running under two leases.
//!
//! Invariants kept by the server, not only by the queries: a dedupe key names one job
//! (`jobs_dedupe`), and at most one job per subject is running (`jobs_one_running_per_subject`);
//! a claim that hits the latter skips that job.
//! Each log line's `seq` is taken from the same update that changes its job (`next_log_seq`), so
//! lines are numbered in the order of the changes. Finishing a job (complete, fail, release) and
//! appending to its log run in a transaction with the line; a claim does not (see `claim`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Bson, Document, doc};

use crate::ids::JobId;
use crate::model::{Job, JobKind, JobLease, JobLogLine, JobStatus, LogLevel, NewJob};
use crate::scope::{ProjectScope, SystemScope};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{Reader, ts};
use crate::store::mongodb::error::is_duplicate_key;
use crate::store::mongodb::schema::{CollectionIndexes, index, unique};
use crate::store::mongodb::txn::Fail;
use crate::store::page::encode_cursor;
use crate::store::{ClaimRequest, Enqueued, JobFailure, JobQueue, Page, PageRequest, StoreError};
use crate::timestamp::Timestamp;

use self::doc::{Line, write_log};
// For `store copy` (`transfer.rs`).
pub(super) use self::doc::{job_document, job_from, job_row_from, log_document, log_line, log_row_from};
use self::lease::{change_leased, claim, fail, held, reclaim_own};

mod doc;
mod lease;

pub(super) const JOBS: &str = "jobs";
pub(super) const JOB_LOGS: &str = "job_logs";

/// How many times one claim refreshes the running subjects after the subject index refused a job,
/// before it returns what it has: each refusal means another claimer just started a job on that
/// subject, so the bound only matters under a storm of claimers, who will claim again soon.
const SUBJECT_REFUSALS_PER_CLAIM: u32 = 16;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    let running = || doc! { "status": "running" };
    vec![
        CollectionIndexes {
            collection: JOBS,
            indexes: vec![
                // Enqueue's dedupe lookup, and the refusal of a second job with one key.
                unique("jobs_dedupe", doc! { "dedupe_key": 1 }, Some(doc! { "dedupe_key": { "$exists": true } })),
                // At most one running job per subject (a certificate); also the running-subjects
                // read of a claim that hit it.
                unique(
                    "jobs_one_running_per_subject",
                    doc! { "subject": 1 },
                    Some(doc! { "status": "running", "subject": { "$exists": true } }),
                ),
                // The claim: claimable statuses, due first, in `run_at, _id` order.
                index("jobs_claimable", doc! { "status": 1, "run_at": 1, "_id": 1 }),
                // The sweep of expired leases at every claim.
                partial_index("jobs_lease_expiry", doc! { "lease_expires_at": 1 }, running()),
                // A restarted node's own leases (`reclaim_own_leases`).
                partial_index("jobs_lease_owner", doc! { "lease_owner": 1 }, running()),
                // A project's job listing and lookup, in id order.
                index("jobs_project", doc! { "project_id": 1, "_id": 1 }),
            ],
        },
        CollectionIndexes {
            collection: JOB_LOGS,
            indexes: vec![
                // One job's log in order; unique so a line is never numbered twice.
                unique("job_logs_job", doc! { "job_id": 1, "seq": 1 }, None),
                // A certificate's timeline: every line of its project's jobs about it, oldest first.
                index("job_logs_subject", doc! { "project_id": 1, "subject": 1, "at": 1, "job_id": 1, "seq": 1 }),
            ],
        },
    ]
}

/// A non-unique index over the documents matching `partial` only.
fn partial_index(name: &str, keys: Document, partial: Document) -> mongodb::IndexModel {
    let options =
        mongodb::options::IndexOptions::builder().name(name.to_string()).partial_filter_expression(partial).build();
    mongodb::IndexModel::builder().keys(keys).options(options).build()
}

#[async_trait]
impl JobQueue for MongoStore {
    async fn enqueue_job(&self, job: NewJob) -> Result<Enqueued, StoreError> {
        let now = self.now();
        self.transact((self, job), move |session, (store, job)| Box::pin(enqueue(store, session, job, now))).await
    }

    async fn claim_jobs(&self, request: &ClaimRequest) -> Result<Vec<Job>, StoreError> {
        let result = claim(self, request, self.now()).await;
        self.observed(result)
    }

    async fn heartbeat_job(&self, lease: &JobLease, extend_by: Duration) -> Result<JobLease, StoreError> {
        let expires = self.now().saturating_add(extend_by);
        let result =
            self.collection(JOBS)
                .update_one(held(lease), doc! { "$set": { "lease_expires_at": ts(expires) } })
                .await
                .map_err(StoreError::from)
                .and_then(|r| {
                    if r.matched_count == 1 { Ok(()) } else { Err(StoreError::LeaseLost { job_id: lease.job_id }) }
                });
        self.observed(result).map(|()| JobLease { expires_at: expires, ..lease.clone() })
    }

    async fn complete_job(&self, lease: &JobLease, message: &str) -> Result<Job, StoreError> {
        let now = self.now();
        self.transact((self, lease, message), move |session, (store, lease, message)| {
            Box::pin(async move {
                let update = doc! {
                    "$set": {
                        "status": "succeeded", "lease_owner": Bson::Null, "lease_expires_at": Bson::Null,
                        "lease_incarnation": Bson::Null, "finished_at": ts(now), "last_error": Bson::Null,
                    },
                    "$inc": { "version": 1_i64, "next_log_seq": 1_i64 },
                };
                let job = change_leased(store, session, lease, update).await?;
                let line = Line::new(LogLevel::Info, message, serde_json::json!({ "attempt": lease.attempt }));
                write_log(store, Some(session), &job, now, &line).await?;
                Ok(job_from(&job)?)
            })
        })
        .await
    }

    async fn fail_job(&self, lease: &JobLease, failure: &JobFailure) -> Result<Job, StoreError> {
        // Drawn once, so a retried transaction schedules the same retry.
        let (now, jitter) = (self.now(), rand::random::<f64>());
        self.transact((self, lease, failure), move |session, (store, lease, failure)| {
            Box::pin(fail(store, session, lease, failure, now, jitter))
        })
        .await
    }

    async fn reclaim_own_leases(&self, node_id: &str, incarnation: &str) -> Result<u64, StoreError> {
        let result = reclaim_own(self, node_id, incarnation, self.now()).await;
        self.observed(result)
    }

    async fn release_job(&self, lease: &JobLease, reason: &str) -> Result<Job, StoreError> {
        let now = self.now();
        self.transact((self, lease, reason), move |session, (store, lease, reason)| {
            Box::pin(async move {
                // The attempt did not really happen: give it back so a shutdown does not push a job
                // toward `dead`. `lease_seq` still grows at the next claim, fencing this lease.
                let update = doc! {
                    "$set": {
                        "status": "queued", "run_at": ts(now), "lease_owner": Bson::Null,
                        "lease_expires_at": Bson::Null, "lease_incarnation": Bson::Null,
                    },
                    "$inc": { "attempts": -1_i64, "version": 1_i64, "next_log_seq": 1_i64 },
                };
                let job = change_leased(store, session, lease, update).await?;
                let line = Line::new(LogLevel::Info, reason, serde_json::json!({ "released_by": lease.node_id }));
                write_log(store, Some(session), &job, now, &line).await?;
                Ok(job_from(&job)?)
            })
        })
        .await
    }

    async fn append_job_log(
        &self,
        lease: &JobLease,
        level: LogLevel,
        message: &str,
        fields: serde_json::Value,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let line = Line::new(level, message, fields);
        self.transact((self, lease, line), move |session, (store, lease, line)| {
            Box::pin(async move {
                // Taking the line's number is the write that proves the lease is still held.
                let job = change_leased(store, session, lease, doc! { "$inc": { "next_log_seq": 1_i64 } }).await?;
                write_log(store, Some(session), &job, now, line).await?;
                Ok(())
            })
        })
        .await
    }

    async fn get_job(&self, _scope: &SystemScope, id: JobId) -> Result<Job, StoreError> {
        let found = self.collection(JOBS).find_one(doc! { "_id": id.to_string() }).await?;
        found
            .as_ref()
            .map(job_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound { kind: "job", id: id.to_string() })
    }

    async fn get_project_job(&self, scope: &ProjectScope, id: JobId) -> Result<Job, StoreError> {
        let filter = doc! { "_id": id.to_string(), "project_id": scope.project_id().to_string() };
        let found = self.collection(JOBS).find_one(filter).await?;
        found
            .as_ref()
            .map(job_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound { kind: "job", id: id.to_string() })
    }

    async fn list_project_jobs(&self, scope: &ProjectScope, page: &PageRequest) -> Result<Page<Job>, StoreError> {
        let limit = page.effective_limit()?;
        let after = page.decoded_cursor()?.unwrap_or_default();
        let filter = doc! { "project_id": scope.project_id().to_string(), "_id": { "$gt": after } };
        let docs: Vec<Document> = self
            .collection(JOBS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(limit as i64 + 1)
            .await?
            .try_collect()
            .await?;
        let mut items = docs.iter().map(job_from).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|j| encode_cursor(&j.id.to_string()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn job_logs(&self, _scope: &SystemScope, id: JobId) -> Result<Vec<JobLogLine>, StoreError> {
        let docs: Vec<Document> = self
            .collection(JOB_LOGS)
            .find(doc! { "job_id": id.to_string() })
            .sort(doc! { "seq": 1 })
            .await?
            .try_collect()
            .await?;
        docs.iter().map(log_line).collect()
    }

    async fn subject_job_logs(
        &self,
        scope: &ProjectScope,
        subject: &str,
        limit: usize,
    ) -> Result<Vec<(JobId, JobKind, JobLogLine)>, StoreError> {
        let filter = doc! { "project_id": scope.project_id().to_string(), "subject": subject };
        let docs: Vec<Document> = self
            .collection(JOB_LOGS)
            .find(filter)
            .sort(doc! { "at": 1, "job_id": 1, "seq": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await?
            .try_collect()
            .await?;
        docs.iter().map(subject_log_line).collect()
    }

    async fn job_counts(&self) -> Result<BTreeMap<JobStatus, u64>, StoreError> {
        let pipeline = [doc! { "$group": { "_id": "$status", "n": { "$sum": 1_i64 } } }];
        let groups: Vec<Document> = self.collection(JOBS).aggregate(pipeline).await?.try_collect().await?;
        let mut counts = BTreeMap::new();
        for group in &groups {
            let r = Reader::new(group, "job count");
            if let Some(status) = JobStatus::parse(r.str("_id")?) {
                counts.insert(status, r.u64("n")?);
            }
        }
        Ok(counts)
    }
}

/// A stored log line with its job's id and kind (kept on each line for the subject's timeline).
pub(in crate::store::mongodb) fn subject_log_line(d: &Document) -> Result<(JobId, JobKind, JobLogLine), StoreError> {
    let r = Reader::new(d, "job log");
    let job_id = r.str("job_id")?;
    let corrupt = |reason: &str| StoreError::Corrupt { kind: "job log", id: job_id.into(), reason: reason.into() };
    let id: JobId = job_id.parse().map_err(|_| corrupt("bad job id"))?;
    let kind = JobKind::parse(r.str("kind")?).ok_or_else(|| corrupt("unknown kind"))?;
    Ok((id, kind, log_line(d)?))
}

/// Enqueues `job` (or finds the one with its dedupe key) inside the caller's transaction; a job
/// with a scheduler fence passes `fence::check` in the same transaction.
pub(super) async fn enqueue(
    store: &MongoStore,
    session: &mut ClientSession,
    job: &NewJob,
    now: Timestamp,
) -> Result<Enqueued, Fail> {
    if let Some(fence) = &job.fence {
        super::fence::check(store, session, fence, now).await?;
    }
    let jobs = store.collection(JOBS);
    if let Some(key) = &job.dedupe_key
        && let Some(found) = jobs.find_one(doc! { "dedupe_key": key }).session(&mut *session).await?
    {
        let existing = job_from(&found)?;
        // Keys are global; a job of another project (or of the system) is never handed out.
        if existing.project_id != job.project_id {
            return Err(StoreError::AlreadyExists { kind: "job", key: "dedupe key".into() }.into());
        }
        return Ok(Enqueued { job: existing, created: false });
    }
    let run_at = now.saturating_add(job.delay);
    let mut document = doc! {
        "_id": JobId::new().to_string(),
        "project_id": job.project_id.map(|p| p.to_string()),
        "kind": job.kind.as_str(),
        "payload": job.payload.to_string(),
        "status": JobStatus::Queued.as_str(),
        "attempts": 0_i64,
        "max_attempts": i64::from(job.max_attempts),
        "run_at": ts(run_at),
        "lease_owner": Bson::Null,
        "lease_expires_at": Bson::Null,
        "lease_seq": 0_i64,
        "last_error": Bson::Null,
        "queued_at": ts(now),
        "started_at": Bson::Null,
        "finished_at": Bson::Null,
        "version": 1_i64,
        // Line 1 is the "queued" line written below.
        "next_log_seq": 2_i64,
    };
    // Left out rather than null when absent: the partial unique indexes see only jobs that have one.
    if let Some(subject) = &job.subject {
        document.insert("subject", subject);
    }
    if let Some(key) = &job.dedupe_key {
        document.insert("dedupe_key", key);
    }
    match jobs.insert_one(&document).session(&mut *session).await {
        Ok(_) => {}
        // Another enqueue of the key committed after this snapshot: run again to find its job.
        Err(e) if is_duplicate_key(&e) => return Err(Fail::Raced(e)),
        Err(e) => return Err(e.into()),
    }
    let line = Line::new(LogLevel::Info, "queued", serde_json::json!({ "run_at": run_at }));
    write_log(store, Some(session), &document, now, &line).await?;
    Ok(Enqueued { job: job_from(&document)?, created: true })
}
