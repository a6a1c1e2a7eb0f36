//! Leases on MongoDB: claiming (one `findOneAndUpdate` per job), ending leases that expired or
//! that a former start of the node left behind, and the changes a holder makes under its lease.
//! Invariant: every change under a lease is conditional on `(owner, lease_seq)` (or, for ending a
//! lease, on the `lease_seq` read), so a job is never running under two leases and a stale holder
//! changes nothing.

use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::ReturnDocument;

use super::doc::{Line, job_from, write_log};
use super::{JOBS, SUBJECT_REFUSALS_PER_CLAIM};
use crate::model::{Job, JobLease, JobStatus, LogLevel};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{Reader, n, ts};
use crate::store::mongodb::error::is_duplicate_key;
use crate::store::mongodb::txn::Fail;
use crate::store::{ClaimRequest, JobFailure, StoreError};
use crate::timestamp::Timestamp;

/// Claims up to `request.limit` due jobs of the requested kinds, oldest `run_at` first, after ending
/// expired leases.
///
/// Each job is taken by its own `findOneAndUpdate`, outside any transaction: claimers race for the
/// same oldest jobs, and a single-document update that loses such a race is retried by the server
/// itself, where a transaction would abort and back off. The cost is that the "claimed" log line
/// is a second write: a crash between the two loses that line, never the lease (the job document
/// records the owner, `started_at` and the attempt).
pub(super) async fn claim(store: &MongoStore, request: &ClaimRequest, now: Timestamp) -> Result<Vec<Job>, StoreError> {
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
                tracing::warn!(error = %crate::store::mongodb::error::describe(&e), claimed = claimed.len(), "claim cut short");
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
pub(super) async fn reclaim_own(
    store: &MongoStore,
    node_id: &str,
    incarnation: &str,
    now: Timestamp,
) -> Result<u64, StoreError> {
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
    let line = Line::new(LogLevel::Warn, error, serde_json::json!({ "attempt": held.attempts, "dead": dead }));
    // One transaction, not a plain update: the job's last holder may have been cut off from the
    // store inside its own transaction on this document (recording the outcome), which the server
    // keeps open until it expires it; a plain update would wait that out on the server and hold up
    // every claim meanwhile. A conflict skips the job until a later claim.
    let ended = store
        .transact_once((store, filter, update, line), move |session, (store, filter, update, line)| {
            Box::pin(async move {
                let ended = store
                    .collection(JOBS)
                    .find_one_and_update(filter.clone(), update.clone())
                    .return_document(ReturnDocument::After)
                    .session(&mut *session)
                    .await?;
                let Some(job) = ended else { return Ok(false) };
                write_log(store, Some(session), &job, now, line).await?;
                Ok(true)
            })
        })
        .await?;
    if ended.is_none() {
        tracing::debug!(job_id = %held.id, "ending the lease met another transaction on the job; a later claim tries again");
    }
    Ok(ended.unwrap_or(false))
}

pub(super) async fn fail(
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
pub(super) fn held(lease: &JobLease) -> Document {
    doc! {
        "_id": lease.job_id.to_string(),
        "status": "running",
        "lease_owner": &lease.node_id,
        "lease_seq": n(lease.seq),
    }
}

/// Applies `update` to the job `lease` holds, in the transaction; `LeaseLost` if it is not held.
pub(super) async fn change_leased(
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
