//! SKELETON (M2.3, in progress): sealed values on MongoDB, apart from their records. To be written.
use mongodb::ClientSession;

use crate::store::StoreError;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::mongodb::txn::Fail;
use crate::timestamp::Timestamp;

use std::collections::HashMap;

use crate::model::SealedSecret;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}

/// Writes a record's sealed values inside the caller's transaction (same rules as SQLite's
/// `sealed::replace`: fields the record no longer has go; an unchanged value keeps its stored wrap).
pub(super) async fn replace(
    _store: &MongoStore,
    _session: &mut ClientSession,
    _table: &str,
    _record_id: &str,
    _sealed: &[(String, SealedSecret)],
) -> Result<(), Fail> {
    todo!("M2.3 sealed")
}

pub(super) async fn delete_all(
    _store: &MongoStore,
    _session: &mut ClientSession,
    _table: &str,
    _record_id: &str,
) -> Result<(), Fail> {
    todo!("M2.3 sealed")
}

/// The sealed values of records of one table, by record id; inside a transaction when `session` is given.
pub(super) async fn load_many(
    _store: &MongoStore,
    _session: Option<&mut ClientSession>,
    _table: &str,
    _record_ids: &[&str],
) -> Result<HashMap<String, Vec<(String, SealedSecret)>>, StoreError> {
    todo!("M2.3 sealed")
}
