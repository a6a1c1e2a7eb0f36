//! SIEM delivery cursors on MongoDB (`siem_cursors`): one document per (destination,
//! organization), `{_id: {destination, org_id}, delivered_seq, updated_at}`; and the verified-up-to
//! marks (`audit_marks`), one per organization.
//! Invariant: an advance is one conditional upsert, so neither moves back, even when two forwarders
//! or verifiers on different hosts race.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use crate::ids::OrgId;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::{AuditMarkRow, SiemCursorRow, SiemCursors, StoreError};

pub(super) const CURSORS: &str = "siem_cursors";
/// The chain's marks, `{_id: {org_id, name}, seq, doc, updated_at}`: `verified` (the verifier's)
/// and `checkpoint` (where the live chain begins, written by `archive_audit` in `audit.rs`).
pub(super) const MARKS: &str = "audit_marks";

/// A mark's `_id`, its fields always in this order.
pub(super) fn mark_id(org: OrgId, name: &str) -> Document {
    doc! { "org_id": org.to_string(), "name": name }
}

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    // Found by `_id` only.
    vec![CollectionIndexes { collection: CURSORS, indexes: Vec::new() }]
}

/// Schema v7: the marks' collection, found by `_id` only.
pub(super) fn mark_indexes() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes { collection: MARKS, indexes: Vec::new() }]
}

/// The cursor's `_id`, its fields always in this order (a document `_id` matches field by field).
fn cursor_id(destination: &str, org: OrgId) -> Document {
    doc! { "destination": destination, "org_id": org.to_string() }
}

/// A cursor as stored (`store copy` writes it back as it was).
pub(super) fn cursor_document(row: &SiemCursorRow) -> Document {
    doc! {
        "_id": cursor_id(&row.destination, row.org_id),
        "delivered_seq": codec::n(row.delivered_seq),
        "updated_at": codec::ts(row.updated_at),
    }
}

/// A mark as stored (`store copy` writes it back as it was).
pub(super) fn mark_document(row: &AuditMarkRow) -> Document {
    doc! {
        "_id": mark_id(row.org_id, &row.name),
        "seq": codec::n(row.seq),
        "doc": &row.doc,
        "updated_at": codec::ts(row.updated_at),
    }
}

pub(super) fn mark_from(document: &Document) -> Result<AuditMarkRow, StoreError> {
    let corrupt =
        |reason: String| StoreError::Corrupt { kind: "audit mark", id: format!("{:?}", document.get("_id")), reason };
    let id = document.get_document("_id").map_err(|e| corrupt(e.to_string()))?;
    let key = Reader::new(id, "audit mark");
    let r = Reader::new(document, "audit mark");
    Ok(AuditMarkRow {
        org_id: key.str("org_id")?.parse().map_err(|_| corrupt("bad org_id".into()))?,
        name: key.str("name")?.to_owned(),
        seq: r.u64("seq")?,
        doc: r.str("doc")?.to_owned(),
        updated_at: r.ts("updated_at")?,
    })
}

pub(super) fn cursor_from(document: &Document) -> Result<SiemCursorRow, StoreError> {
    let r = Reader::new(document, "siem cursor");
    let id = document.get_document("_id").map_err(|e| StoreError::Corrupt {
        kind: "siem cursor",
        id: format!("{:?}", document.get("_id")),
        reason: e.to_string(),
    })?;
    let key = Reader::new(id, "siem cursor");
    let org = key.str("org_id")?;
    Ok(SiemCursorRow {
        destination: key.str("destination")?.to_owned(),
        org_id: org.parse().map_err(|_| StoreError::Corrupt {
            kind: "siem cursor",
            id: org.to_owned(),
            reason: "bad org_id".into(),
        })?,
        delivered_seq: r.u64("delivered_seq")?,
        updated_at: r.ts("updated_at")?,
    })
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

    async fn siem_cursors_of(&self, org: OrgId) -> Result<Vec<(String, u64)>, StoreError> {
        let found: Vec<Document> = self
            .collection(CURSORS)
            .find(doc! { "_id.org_id": org.to_string() })
            .sort(doc! { "_id.destination": 1 })
            .await?
            .try_collect()
            .await?;
        found.iter().map(|d| cursor_from(d).map(|row| (row.destination, row.delivered_seq))).collect()
    }

    async fn audit_mark(&self, org: OrgId) -> Result<Option<String>, StoreError> {
        let found = self.collection(MARKS).find_one(doc! { "_id": mark_id(org, "verified") }).await?;
        found.map(|mark| Reader::new(&mark, "audit mark").str("doc").map(str::to_owned)).transpose()
    }

    async fn advance_audit_mark(&self, org: OrgId, seq: u64, doc: &str) -> Result<(), StoreError> {
        // Matches only a mark not further along; when one is, the upsert's insert collides with it
        // on `_id`, which is the answer "keep the stored one".
        let filter = doc! { "_id": mark_id(org, "verified"), "seq": { "$lte": codec::n(seq) } };
        let update = doc! { "$set": { "seq": codec::n(seq), "doc": doc, "updated_at": codec::ts(self.now()) } };
        match self.collection(MARKS).update_one(filter, update).upsert(true).await {
            Err(e) if super::error::is_duplicate_key(&e) => Ok(()),
            result => self.observed(result.map(drop).map_err(StoreError::from)),
        }
    }
}
