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
use mongodb::options::ReturnDocument;

use crate::ids::{JobId, ProjectId};
use crate::model::{Job, JobKind, JobLease, JobLogLine, JobStatus, LogLevel, NewJob};
use crate::scope::{ProjectScope, SystemScope};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{Reader, n, ts};
use crate::store::mongodb::error::is_duplicate_key;
use crate::store::mongodb::schema::{CollectionIndexes, index, unique};
use crate::store::mongodb::txn::Fail;
use crate::store::page::encode_cursor;
use crate::store::{ClaimRequest, Enqueued, JobFailure, JobQueue, Page, PageRequest, StoreError};
use crate::timestamp::Timestamp;

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
        docs.iter()
            .map(|d| {
                let r = Reader::new(d, "job log");
                let job_id = r.str("job_id")?;
                let corrupt =
                    |reason: &str| StoreError::Corrupt { kind: "job log", id: job_id.into(), reason: reason.into() };
                let id: JobId = job_id.parse().map_err(|_| corrupt("bad job id"))?;
                let kind = JobKind::parse(r.str("kind")?).ok_or_else(|| corrupt("unknown kind"))?;
                Ok((id, kind, log_line(d)?))
            })
            .collect()
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
    if let Some(key) = &job.dedupe_key {
        if let Some(found) = jobs.find_one(doc! { "dedupe_key": key }).session(&mut *session).await? {
            let existing = job_from(&found)?;
            // Keys are global; a job of another project (or of the system) is never handed out.
            if existing.project_id != job.project_id {
                return Err(StoreError::AlreadyExists { kind: "job", key: "dedupe key".into() }.into());
            }
            return Ok(Enqueued { job: existing, created: false });
        }
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

/// Claims up to `request.limit` due jobs of the requested kinds, oldest `run_at` first, after ending
/// expired leases.
///
/// Each job is taken by its own `findOneAndUpdate`, outside any transaction: claimers race for the
/// same oldest jobs, and a single-document update that loses such a race is retried by the server
/// itself, where a transaction would abort and back off. The cost is that the "claimed" log line
/// is a second write: a crash between the two loses that line, never the lease (the job document
/// records the owner, `started_at` and the attempt).
async fn claim(store: &MongoStore, request: &ClaimRequest, now: Timestamp) -> Result<Vec<Job>, StoreError> {
    sweep_expired(store, now).await?;
    if request.kinds.is_empty() || request.limit == 0 {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = request.kinds.iter().map(|k| k.as_str()).collect();
    let expires = now.saturating_add(request.lease);
    let update = doc! {
        "$set": {
            "status": "running", "lease_owner": &request.node_id, "lease_incarnation": &request.incarnation,
            "lease_expires_at": ts(expires), "started_at": ts(now),
        },
        // `$min` on a field the job does not have yet sets it: the first start is kept.
        "$min": { "first_started_at": ts(now) },
        "$inc": { "attempts": 1_i64, "lease_seq": 1_i64, "version": 1_i64, "next_log_seq": 1_i64 },
    };
    // Subjects known to be running: left out of the next pick instead of being refused again.
    let mut busy: Vec<String> = Vec::new();
    let mut refusals = 0;
    let mut claimed = Vec::new();
    while claimed.len() < request.limit {
        let mut filter = doc! {
            "status": { "$in": [JobStatus::Queued.as_str(), JobStatus::Failed.as_str()] },
            "run_at": { "$lte": ts(now) },
            "kind": { "$in": kinds.clone() },
        };
        if !busy.is_empty() {
            // `$nin` also matches jobs without a subject.
            filter.insert("subject", doc! { "$nin": busy.clone() });
        }
        let picked = store
            .collection(JOBS)
            .find_one_and_update(filter, update.clone())
            .sort(doc! { "run_at": 1, "_id": 1 })
            .return_document(ReturnDocument::After)
            .await;
        match picked {
            Ok(Some(document)) => {
                let job = job_from(&document)?;
                busy.extend(job.subject.clone());
                let fields = serde_json::json!({ "node": request.node_id, "attempt": job.attempts });
                write_log(store, None, &document, now, &Line::new(LogLevel::Info, "claimed", fields)).await?;
                claimed.push(job);
            }
            Ok(None) => break,
            // The oldest due job's subject is running (another claimer just started it): skip it.
            Err(e) if is_duplicate_key(&e) => {
                refusals += 1;
                if refusals > SUBJECT_REFUSALS_PER_CLAIM {
                    break;
                }
                busy = running_subjects(store).await?;
                busy.extend(claimed.iter().filter_map(|j: &Job| j.subject.clone()));
            }
            // Jobs claimed so far are leased to this node: hand them out rather than strand them
            // until their leases expire; the next claim reports the error if it persists.
            Err(e) if !claimed.is_empty() => {
                tracing::warn!(error = %super::error::describe(&e), claimed = claimed.len(), "claim cut short");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(claimed)
}

/// The subjects of every running job.
async fn running_subjects(store: &MongoStore) -> Result<Vec<String>, StoreError> {
    let filter = doc! { "status": "running", "subject": { "$exists": true } };
    let docs: Vec<Document> =
        store.collection(JOBS).find(filter).projection(doc! { "_id": 0, "subject": 1 }).await?.try_collect().await?;
    docs.iter().map(|d| Reader::new(d, "job").str("subject").map(str::to_owned)).collect()
}

/// Ends leases nobody renewed: the attempt counts, and the job is retried at once or declared dead.
async fn sweep_expired(store: &MongoStore, now: Timestamp) -> Result<(), StoreError> {
    let filter = doc! { "status": "running", "lease_expires_at": { "$lte": ts(now) } };
    for held in running_leases(store, filter).await? {
        let error = format!("lease of node {} expired", held.owner);
        // Only if it is still expired: a heartbeat that renewed it meanwhile wins.
        let still = doc! { "lease_expires_at": { "$lte": ts(now) } };
        end_lease(store, &held, still, &error, now).await?;
    }
    Ok(())
}

/// Ends the leases `node_id` holds under any incarnation but `incarnation` (a start of the node that
/// is gone), as `sweep_expired` ends expired ones. Returns how many it ended.
async fn reclaim_own(store: &MongoStore, node_id: &str, incarnation: &str, now: Timestamp) -> Result<u64, StoreError> {
    // `$ne` also matches leases taken before incarnations were recorded.
    let filter = doc! { "status": "running", "lease_owner": node_id, "lease_incarnation": { "$ne": incarnation } };
    let error = format!("lease of node {node_id} ended: the node restarted");
    let mut ended = 0;
    for held in running_leases(store, filter).await? {
        if end_lease(store, &held, doc! {}, &error, now).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// A running job's lease as read, to end it only if it is still that lease.
struct HeldLease {
    id: String,
    owner: String,
    seq: i64,
    attempts: i64,
    max_attempts: i64,
}

async fn running_leases(store: &MongoStore, filter: Document) -> Result<Vec<HeldLease>, StoreError> {
    let projection = doc! { "lease_owner": 1, "lease_seq": 1, "attempts": 1, "max_attempts": 1 };
    let docs: Vec<Document> = store.collection(JOBS).find(filter).projection(projection).await?.try_collect().await?;
    docs.iter()
        .map(|d| {
            let r = Reader::new(d, "job");
            Ok(HeldLease {
                id: r.str("_id")?.to_owned(),
                owner: r.opt_str("lease_owner")?.unwrap_or("?").to_owned(),
                seq: r.i64("lease_seq")?,
                attempts: r.i64("attempts")?,
                max_attempts: r.i64("max_attempts")?,
            })
        })
        .collect()
}

/// Ends a running job's attempt that its holder can no longer finish, if `held` is still its lease
/// (and `also` matches): the job is claimable again at once (`failed`), or `dead` if that was its
/// last attempt; the log says why. Returns whether it ended it.
async fn end_lease(
    store: &MongoStore,
    held: &HeldLease,
    also: Document,
    error: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let dead = held.attempts >= held.max_attempts;
    let mut filter = doc! { "_id": &held.id, "status": "running", "lease_seq": held.seq };
    filter.extend(also);
    let update = doc! {
        "$set": {
            "status": if dead { "dead" } else { "failed" }, "run_at": ts(now), "lease_owner": Bson::Null,
            "lease_expires_at": Bson::Null, "lease_incarnation": Bson::Null, "last_error": error,
            "finished_at": if dead { Bson::Int64(ts(now)) } else { Bson::Null },
        },
        "$inc": { "version": 1_i64, "next_log_seq": 1_i64 },
    };
    let Some(job) =
        store.collection(JOBS).find_one_and_update(filter, update).return_document(ReturnDocument::After).await?
    else {
        return Ok(false);
    };
    let line = Line::new(LogLevel::Warn, error, serde_json::json!({ "attempt": held.attempts, "dead": dead }));
    write_log(store, None, &job, now, &line).await?;
    Ok(true)
}

async fn fail(
    store: &MongoStore,
    session: &mut ClientSession,
    lease: &JobLease,
    failure: &JobFailure,
    now: Timestamp,
    jitter: f64,
) -> Result<Job, Fail> {
    let jobs = store.collection(JOBS);
    let found = jobs.find_one(held(lease)).session(&mut *session).await?;
    let found = found.ok_or(StoreError::LeaseLost { job_id: lease.job_id })?;
    let max_attempts = Reader::new(&found, "job").i64("max_attempts")?;
    let dead = !failure.retryable || i64::from(lease.attempt) >= max_attempts;
    let run_at = if dead { now } else { now.saturating_add(failure.backoff.delay(lease.attempt, jitter)) };
    let update = doc! {
        "$set": {
            "status": if dead { "dead" } else { "failed" }, "run_at": ts(run_at), "lease_owner": Bson::Null,
            "lease_expires_at": Bson::Null, "lease_incarnation": Bson::Null, "last_error": &failure.error,
            "finished_at": if dead { Bson::Int64(ts(now)) } else { Bson::Null },
        },
        "$inc": { "version": 1_i64, "next_log_seq": 1_i64 },
    };
    let job = change_leased(store, session, lease, update).await?;
    let fields = serde_json::json!({
        "attempt": lease.attempt,
        "retry_at": if dead { None } else { Some(run_at) },
        "retryable": failure.retryable,
    });
    write_log(store, Some(session), &job, now, &Line::new(LogLevel::Error, &failure.error, fields)).await?;
    Ok(job_from(&job)?)
}

/// The filter matching `lease`'s job only while `lease` is its current lease. An expired lease that
/// no claim has swept yet still matches: nobody else can hold the job until the sweep.
fn held(lease: &JobLease) -> Document {
    doc! {
        "_id": lease.job_id.to_string(),
        "status": "running",
        "lease_owner": &lease.node_id,
        "lease_seq": n(lease.seq),
    }
}

/// Applies `update` to the job `lease` holds, in the transaction; `LeaseLost` if it is not held.
async fn change_leased(
    store: &MongoStore,
    session: &mut ClientSession,
    lease: &JobLease,
    update: Document,
) -> Result<Document, Fail> {
    let changed = store
        .collection(JOBS)
        .find_one_and_update(held(lease), update)
        .return_document(ReturnDocument::After)
        .session(&mut *session)
        .await?;
    changed.ok_or_else(|| StoreError::LeaseLost { job_id: lease.job_id }.into())
}

/// A log line to write.
struct Line<'a> {
    level: LogLevel,
    message: &'a str,
    fields: serde_json::Value,
}

impl<'a> Line<'a> {
    fn new(level: LogLevel, message: &'a str, fields: serde_json::Value) -> Self {
        Line { level, message, fields }
    }
}

/// Writes `line` for `job` (the job's document as just changed, whose `next_log_seq` was bumped for
/// this line), in the transaction when `session` is given.
async fn write_log(
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

/// Line `seq` of `job`'s log as stored, with the job's kind, project and subject (they never
/// change) for the subject timeline.
pub(super) fn log_document(
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
        "job_id": r.str("_id")?, "seq": seq, "at": ts(at), "level": level, "message": message,
        "fields": fields.to_string(), "kind": r.str("kind")?,
    };
    for field in ["project_id", "subject"] {
        if let Some(value) = r.opt_str(field)? {
            document.insert(field, value);
        }
    }
    Ok(document)
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
