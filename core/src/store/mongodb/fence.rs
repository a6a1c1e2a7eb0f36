//! Scheduler fencing on MongoDB. `scheduler_term` holds one document, the newest term that has
//! written; `scheduler_fence` keeps every (term, node) whose writes were accepted, for history.
//! Invariant: the check and the record of a fenced write run in the caller's transaction, and every
//! check writes the newest-term document, so two fenced writes in flight at once conflict (one is
//! retried from a fresh snapshot by `transact`) and an older term can never commit after a newer one.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use crate::model::{Fence, FenceRecord, SchedulerBeat};
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader, ts};
use crate::store::mongodb::error::is_duplicate_key;
use crate::store::mongodb::schema::{CollectionIndexes, index};
use crate::store::mongodb::txn::Fail;
use crate::store::{Fencing, StoreError};
use crate::timestamp::Timestamp;

/// One document, `{_id: "newest", term, writes}`: the point every fenced write contends on.
const NEWEST: &str = "scheduler_term";
/// One document per (term, node) that wrote: `{_id: {term, node}, term, node, first_write_at, ...}`.
pub(super) const HISTORY: &str = "scheduler_fence";
/// One document per node whose scheduler ticked: `{_id: node, term, beat_at}`.
const BEATS: &str = "scheduler_beats";

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes {
        collection: HISTORY,
        // `fence_history`: oldest term first, then in the order the nodes first wrote.
        indexes: vec![index("scheduler_fence_order", doc! { "term": 1, "first_write_at": 1 })],
    }]
}

#[async_trait]
impl Fencing for MongoStore {
    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError> {
        let now = self.now();
        self.transact((self, fence), move |session, (store, fence)| Box::pin(check(store, session, fence, now))).await
    }

    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError> {
        let docs: Vec<Document> = self
            .collection(HISTORY)
            .find(doc! {})
            .sort(doc! { "term": 1, "first_write_at": 1 })
            .await?
            .try_collect()
            .await?;
        docs.iter().map(history_from).collect()
    }

    async fn scheduler_beat(&self, beat: &SchedulerBeat) -> Result<(), StoreError> {
        let term = beat.term.map(codec::n);
        self.collection(BEATS)
            .update_one(doc! { "_id": &beat.node }, doc! { "$set": { "term": term, "beat_at": ts(beat.at) } })
            .upsert(true)
            .await?;
        Ok(())
    }

    async fn last_scheduler_beat(&self) -> Result<Option<SchedulerBeat>, StoreError> {
        let newest = self.collection(BEATS).find_one(doc! {}).sort(doc! { "beat_at": -1, "_id": 1 }).await?;
        newest
            .map(|d| {
                let r = Reader::new(&d, "scheduler beat");
                Ok(SchedulerBeat {
                    node: r.str("_id")?.to_owned(),
                    term: r.opt_i64("term")?.map(|t| t as u64),
                    at: r.ts("beat_at")?,
                })
            })
            .transpose()
    }
}

/// A history document as stored: `history_from`'s inverse (`store copy` writes it back).
pub(super) fn history_document(record: &FenceRecord) -> Document {
    let term = codec::n(record.term);
    doc! {
        "_id": { "term": term, "node": &record.node },
        "term": term,
        "node": &record.node,
        "first_write_at": ts(record.first_write_at),
        "last_write_at": ts(record.last_write_at),
        "writes": codec::n(record.writes),
    }
}

pub(super) fn history_from(d: &Document) -> Result<FenceRecord, StoreError> {
    let r = Reader::new(d, "scheduler fence");
    Ok(FenceRecord {
        term: r.u64("term")?,
        node: r.str("node")?.to_owned(),
        first_write_at: r.ts("first_write_at")?,
        last_write_at: r.ts("last_write_at")?,
        writes: r.u64("writes")?,
    })
}

/// Raises the newest term to `term` (never lowers it) inside the caller's transaction: for
/// history copied in by `store copy`, so an older term stays refused on the copy.
pub(super) async fn raise_newest(store: &MongoStore, session: &mut ClientSession, term: u64) -> Result<(), Fail> {
    store
        .collection(NEWEST)
        .update_one(doc! { "_id": "newest" }, doc! { "$max": { "term": codec::n(term) } })
        .upsert(true)
        .session(session)
        .await?;
    Ok(())
}

/// The fencing rule inside the caller's transaction: refuses `fence` if a newer term has written,
/// else records this write of its term.
pub(super) async fn check(
    store: &MongoStore,
    session: &mut ClientSession,
    fence: &Fence,
    now: Timestamp,
) -> Result<(), Fail> {
    let term = i64::try_from(fence.term).map_err(|_| StoreError::InvalidRequest("fencing term out of range".into()))?;
    // `$inc` makes this a real write even when the term does not move: a no-op update would not
    // conflict with a concurrent newer term's, and the older one could commit after it. A refusal
    // aborts the transaction, which undoes the update.
    let before = store
        .collection(NEWEST)
        .find_one_and_update(doc! { "_id": "newest" }, doc! { "$max": { "term": term }, "$inc": { "writes": 1_i64 } })
        .upsert(true)
        .return_document(ReturnDocument::Before)
        .session(&mut *session)
        .await
        .map_err(raced_if_duplicate)?;
    if let Some(before) = before {
        let newest = Reader::new(&before, "scheduler term").u64("term")?;
        if newest > fence.term {
            return Err(StoreError::Fenced { term: fence.term, newest }.into());
        }
    }
    let record = doc! {
        "$setOnInsert": { "term": term, "node": &fence.node, "first_write_at": ts(now) },
        "$set": { "last_write_at": ts(now) },
        "$inc": { "writes": 1_i64 },
    };
    store
        .collection(HISTORY)
        .update_one(doc! { "_id": { "term": term, "node": &fence.node } }, record)
        .upsert(true)
        .session(session)
        .await
        .map_err(raced_if_duplicate)?;
    Ok(())
}

/// Two first upserts of one `_id` at once: the loser may be told of the winner's commit as a
/// duplicate key; a fresh snapshot sees the winner's document and updates it.
fn raced_if_duplicate(e: mongodb::error::Error) -> Fail {
    if is_duplicate_key(&e) { Fail::Raced(e) } else { Fail::Driver(e) }
}
