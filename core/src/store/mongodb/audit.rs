//! SKELETON (M2.3, in progress): the audit outbox and chain on MongoDB. To be written.
use mongodb::ClientSession;

use crate::store::StoreError;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::mongodb::txn::Fail;
use crate::timestamp::Timestamp;

use crate::store::AuditWrite;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}

/// Writes `audit`'s draft to the outbox inside the caller's transaction. Returns the outbox id.
pub(super) async fn enqueue(
    _store: &MongoStore,
    _session: &mut ClientSession,
    _audit: Option<&AuditWrite>,
    _now: Timestamp,
) -> Result<Option<u64>, Fail> {
    todo!("M2.3 audit outbox")
}
