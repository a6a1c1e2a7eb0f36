//! SKELETON (M2.3, in progress): scheduler fencing on MongoDB. To be written.
use mongodb::ClientSession;

use crate::store::StoreError;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::mongodb::txn::Fail;
use crate::timestamp::Timestamp;

use crate::model::Fence;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}

/// The fencing rule inside the caller's transaction: refuses `fence` if a newer term has written,
/// else records this write of its term.
pub(super) async fn check(
    _store: &MongoStore,
    _session: &mut ClientSession,
    _fence: &Fence,
    _now: Timestamp,
) -> Result<(), Fail> {
    todo!("M2.3 fencing")
}
