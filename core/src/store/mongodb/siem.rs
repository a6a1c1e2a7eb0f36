//! SIEM delivery cursors on MongoDB (`siem_cursors`): one document per (destination,
//! organization), `{_id: {destination, org_id}, delivered_seq, updated_at}`.
//! Invariant: an advance is one `$max` upsert, so a cursor never moves back, even when two
//! forwarders on different hosts race.

use async_trait::async_trait;
use mongodb::bson::{Document, doc};

use crate::ids::OrgId;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::{SiemCursors, StoreError};

const CURSORS: &str = "siem_cursors";

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    // Found by `_id` only.
    vec![CollectionIndexes { collection: CURSORS, indexes: Vec::new() }]
}

/// The cursor's `_id`, its fields always in this order (a document `_id` matches field by field).
fn cursor_id(destination: &str, org: OrgId) -> Document {
    doc! { "destination": destination, "org_id": org.to_string() }
}

#[async_trait]
impl SiemCursors for MongoStore {
    async fn siem_cursor(&self, destination: &str, org: OrgId) -> Result<u64, StoreError> {
        let found = self.collection(CURSORS).find_one(doc! { "_id": cursor_id(destination, org) }).await?;
        found.map_or(Ok(0), |cursor| Reader::new(&cursor, "siem cursor").u64("delivered_seq"))
    }

    async fn advance_siem_cursor(&self, destination: &str, org: OrgId, seq: u64) -> Result<(), StoreError> {
        let filter = doc! { "_id": cursor_id(destination, org) };
        let update = doc! {
            "$max": { "delivered_seq": codec::n(seq) },
            "$set": { "updated_at": codec::ts(self.now()) },
        };
        let cursors = self.collection(CURSORS);
        let mut result = cursors.update_one(filter.clone(), update.clone()).upsert(true).await;
        // Two first advances may both insert; the one refused finds the document there and applies
        // its `$max` to it.
        if result.as_ref().is_err_and(super::error::is_duplicate_key) {
            result = cursors.update_one(filter, update).upsert(true).await;
        }
        self.observed(result.map(drop).map_err(StoreError::from))
    }
}
