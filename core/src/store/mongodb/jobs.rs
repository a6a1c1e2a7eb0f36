//! SKELETON (M2.3, in progress): the job queue on MongoDB. To be written.
use mongodb::ClientSession;

use crate::store::StoreError;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::mongodb::txn::Fail;
use crate::timestamp::Timestamp;

use crate::model::NewJob;
use crate::store::Enqueued;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}

/// Enqueues `job` (or finds the one with its dedupe key) inside the caller's transaction; a job
/// with a scheduler fence passes `fence::check` in the same transaction.
pub(super) async fn enqueue(
    _store: &MongoStore,
    _session: &mut ClientSession,
    _job: &NewJob,
    _now: Timestamp,
) -> Result<Enqueued, Fail> {
    todo!("M2.3 job queue")
}
