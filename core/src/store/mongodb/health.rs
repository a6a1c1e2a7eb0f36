//! The MongoDB store's health: its consistency check, what its writes found about storage, and a
//! probe that tells whether the deployment takes writes again.
//! Invariant: the probe writes one document of its own collection (`write_probe`), never the data,
//! so running it while the deployment refuses writes cannot lose or change anything.
//!
//! `integrity_check` on MongoDB cannot check pages as SQLite's `PRAGMA integrity_check` does (the
//! server's `validate` scans whole collections under locks; operators run it, not a probe). It
//! checks what this backend relies on and could lose without the server noticing:
//! - the schema version document says `SCHEMA_VERSION`;
//! - every collection of the schema exists with each of its named indexes, on the same keys and
//!   with the same uniqueness and partial filter (a dropped unique index would let the audit
//!   chain fork or a dedupe key repeat, silently);
//! - each organization's audit head document agrees with its chain's last entry (the two are
//!   written in one transaction; a head behind its chain makes the next append fail, ahead of it
//!   leaves a gap).

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::IndexModel;
use mongodb::bson::{Bson, Document, doc};

use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::schema::{self, CollectionIndexes};
use crate::store::{StoreError, StoreHealth, WriteHealth};

/// Where `probe_writable` writes: outside the schema's collections, one document, overwritten.
const PROBE: &str = "write_probe";
/// MongoDB's code for a collection that does not exist.
const NAMESPACE_NOT_FOUND: i32 = 26;

#[async_trait]
impl StoreHealth for MongoStore {
    async fn integrity_check(&self) -> Result<(), StoreError> {
        let mut problems = Vec::new();
        let version = schema::current_version(&self.db).await?;
        if version != schema::LATEST_VERSION {
            problems.push(format!("schema version is {version}, expected {}", schema::LATEST_VERSION));
        }
        for collection in schema::expected() {
            self.check_indexes(&collection, &mut problems).await?;
        }
        self.check_audit_heads(&mut problems).await?;
        if problems.is_empty() { Ok(()) } else { Err(StoreError::Integrity(problems.join("; "))) }
    }

    fn round_trips(&self) -> std::collections::BTreeMap<String, u64> {
        self.round_trips.snapshot()
    }

    fn write_health(&self) -> WriteHealth {
        self.write_health.snapshot()
    }

    async fn probe_writable(&self) -> Result<(), StoreError> {
        // A real write with the deployment's write concern: a full disk (`OutOfDiskSpace`) maps to
        // `NotWritable`, like any write's refusal (`error.rs`).
        let result = self
            .collection(PROBE)
            .update_one(doc! { "_id": "probe" }, doc! { "$set": { "at": codec::ts(self.now()) } })
            .upsert(true)
            .await
            .map(drop)
            .map_err(StoreError::from);
        self.write_health.observe(&result);
        result
    }
}

impl MongoStore {
    /// Notes each of `expected`'s indexes that is missing or differs from its definition.
    async fn check_indexes(&self, expected: &CollectionIndexes, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let name = expected.collection;
        let listed = match self.collection(name).list_indexes().await {
            Ok(cursor) => cursor.try_collect::<Vec<IndexModel>>().await?,
            Err(e) if super::error::code(&e) == Some(NAMESPACE_NOT_FOUND) => {
                problems.push(format!("collection {name} is missing"));
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        for want in &expected.indexes {
            let wanted = index_name(want);
            match listed.iter().find(|have| index_name(have) == wanted) {
                None => problems.push(format!("index {wanted} of {name} is missing")),
                Some(have) if !same_definition(want, have) => {
                    problems.push(format!("index {wanted} of {name} differs from its definition"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Each organization's head document against its chain's last entry. Read without a
    /// transaction while chains may grow, so a tail past the head is read again: entries and head
    /// commit together, so a head read after the tail is at least that tail unless damaged.
    async fn check_audit_heads(&self, problems: &mut Vec<String>) -> Result<(), StoreError> {
        let heads: Vec<Document> = self.collection(super::audit::HEADS).find(doc! {}).await?.try_collect().await?;
        for head in &heads {
            let Ok(org) = head.get_str("_id") else {
                problems.push(format!("audit head {:?} has no organization id", head.get("_id")));
                continue;
            };
            let stored = Reader::new(head, "audit head").u64("seq")?;
            let tail = self.audit_tail(org).await?;
            let agrees = tail == stored || (tail > stored && self.audit_head_seq(org).await? >= tail);
            if !agrees {
                problems.push(format!("audit head of organization {org} is at {stored}, its chain ends at {tail}"));
            }
        }
        Ok(())
    }

    async fn audit_tail(&self, org: &str) -> Result<u64, StoreError> {
        let last = self
            .collection("audit_events")
            .find_one(doc! { "org_id": org })
            .sort(doc! { "seq": -1 })
            .projection(doc! { "seq": 1 })
            .await?;
        last.map_or(Ok(0), |last| Reader::new(&last, "audit event").u64("seq"))
    }

    async fn audit_head_seq(&self, org: &str) -> Result<u64, StoreError> {
        let head = self.collection(super::audit::HEADS).find_one(doc! { "_id": org }).await?;
        head.map_or(Ok(0), |head| Reader::new(&head, "audit head").u64("seq"))
    }
}

fn index_name(index: &IndexModel) -> &str {
    index.options.as_ref().and_then(|o| o.name.as_deref()).unwrap_or("")
}

/// Same keys in the same order and directions, same uniqueness, same partial filter.
fn same_definition(want: &IndexModel, have: &IndexModel) -> bool {
    let unique = |m: &IndexModel| m.options.as_ref().and_then(|o| o.unique).unwrap_or(false);
    let partial = |m: &IndexModel| m.options.as_ref().and_then(|o| o.partial_filter_expression.clone());
    same_keys(&want.keys, &have.keys) && unique(want) == unique(have) && partial(want) == partial(have)
}

/// Key documents compared by field and direction: servers may echo `1` back as a double or a long.
fn same_keys(want: &Document, have: &Document) -> bool {
    let direction = |b: &Bson| match b {
        Bson::Int32(v) => Some(f64::from(*v)),
        Bson::Int64(v) => Some(*v as f64),
        Bson::Double(v) => Some(*v),
        _ => None,
    };
    want.len() == have.len()
        && want.iter().zip(have.iter()).all(|((wk, wv), (hk, hv))| wk == hk && direction(wv) == direction(hv))
}
