//! Sealed values on MongoDB, apart from their records (`sealed_secrets`): written and deleted in the
//! transaction of their record, read back with it, and re-wrapped in place by a KEK rotation; the
//! `SealedSecrets` concern.
//! Invariant: one document per (table, record id, field), by a unique index; a re-wrap stores a
//! value only if it is unchanged since it was read, and never changes its data (nonce, ciphertext).
//! No sealed value (wrapped key, nonce, ciphertext) is ever put in an error or a log line.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};

use crate::model::SealedSecret;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::Reader;
use crate::store::mongodb::schema::{CollectionIndexes, index, unique};
use crate::store::mongodb::txn::Fail;
use crate::store::{SealedKey, SealedRow, SealedSecrets, StoreError};

const SEALED: &str = "sealed_secrets";
const KIND: &str = "sealed value";
/// Record ids per query of `load_many`: a page of records (1,000 at most) in one or two queries,
/// well inside the 16 MiB command limit.
const LOAD_CHUNK: usize = 1_000;

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes {
        collection: SEALED,
        indexes: vec![
            // The key, its uniqueness, and the order `sealed_after` pages in.
            unique("sealed_key", doc! { "record_table": 1, "record_id": 1, "field": 1 }, None),
            // KEK rotation and the start-up check ask by version.
            index("sealed_by_version", doc! { "kek_version": 1 }),
        ],
    }]
}

#[async_trait]
impl SealedSecrets for MongoStore {
    async fn kek_usage(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        let pipeline = [doc! { "$group": { "_id": "$kek_version", "n": { "$sum": 1 } } }];
        let groups: Vec<Document> = self.collection(SEALED).aggregate(pipeline).await?.try_collect().await?;
        groups
            .iter()
            .map(|group| {
                let reader = Reader::new(group, "kek usage");
                Ok((version(&reader, "_id")?, reader.u64("n")?))
            })
            .collect()
    }

    async fn sealed_older_than(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        self.sealed_rows(doc! { "kek_version": { "$lt": i64::from(version) } }, None, limit).await
    }

    async fn rewrap_sealed(&self, updates: Vec<(SealedRow, SealedSecret)>) -> Result<u64, StoreError> {
        if updates.iter().any(|(old, new)| new.nonce != old.secret.nonce || new.ciphertext != old.secret.ciphertext) {
            return Err(StoreError::InvalidRequest("a re-wrap must keep the data unchanged".into()));
        }
        self.transact((self, updates), |session, (store, updates)| {
            Box::pin(async move { rewrap(store, session, updates).await })
        })
        .await
    }

    async fn sealed_with_version(&self, version: u32, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        self.sealed_rows(doc! { "kek_version": i64::from(version) }, None, limit).await
    }

    async fn sealed_after(&self, after: Option<SealedKey>, limit: usize) -> Result<Vec<SealedRow>, StoreError> {
        // (table, record id, field) > after, in the unique index's order. Strings compare by their
        // bytes (the simple collation), as SQLite's BINARY does.
        let filter = match after {
            None => doc! {},
            Some(k) => doc! { "$or": [
                { "record_table": { "$gt": &k.table } },
                { "record_table": &k.table, "record_id": { "$gt": &k.record_id } },
                { "record_table": &k.table, "record_id": &k.record_id, "field": { "$gt": &k.field } },
            ] },
        };
        let order = doc! { "record_table": 1, "record_id": 1, "field": 1 };
        self.sealed_rows(filter, Some(order), limit).await
    }
}

impl MongoStore {
    async fn sealed_rows(
        &self,
        filter: Document,
        sort: Option<Document>,
        limit: usize,
    ) -> Result<Vec<SealedRow>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let options = mongodb::options::FindOptions::builder().sort(sort).limit(limit).build();
        let found: Vec<Document> =
            self.collection(SEALED).find(filter).with_options(options).await?.try_collect().await?;
        found.iter().map(sealed_row).collect()
    }
}

/// Replaces wrapped data keys, each only if the value still holds what was read (compare-and-swap),
/// so a value rewritten meanwhile by the running service is left alone. Returns how many matched.
async fn rewrap(
    store: &MongoStore,
    session: &mut ClientSession,
    updates: &[(SealedRow, SealedSecret)],
) -> Result<u64, Fail> {
    let sealed = store.collection(SEALED);
    let mut changed = 0;
    for (old, new) in updates {
        let mut filter = key_filter(&old.key.table, &old.key.record_id, &old.key.field);
        filter.insert("kek_version", i64::from(old.secret.kek_version));
        filter.insert("wrapped_dek", &old.secret.wrapped_dek);
        let update = doc! { "$set": { "kek_version": i64::from(new.kek_version), "wrapped_dek": &new.wrapped_dek } };
        changed += sealed.update_one(filter, update).session(&mut *session).await?.matched_count;
    }
    Ok(changed)
}

/// Writes a record's sealed values inside the caller's transaction. A value that comes back
/// unchanged (same nonce and ciphertext: the record was read, edited elsewhere, and saved) keeps its
/// stored document, which a KEK rotation may have re-wrapped meanwhile; writing the old wrap back
/// would resurrect a version about to be retired. Fields the record no longer has go.
pub(super) async fn replace(
    store: &MongoStore,
    session: &mut ClientSession,
    table: &str,
    record_id: &str,
    sealed: &[(String, SealedSecret)],
) -> Result<(), Fail> {
    let collection = store.collection(SEALED);
    let existing: Vec<Document> = collection
        .find(doc! { "record_table": table, "record_id": record_id })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    let existing: Vec<SealedRow> = existing.iter().map(sealed_row).collect::<Result<_, _>>()?;
    let gone: Vec<&str> = existing
        .iter()
        .map(|row| row.key.field.as_str())
        .filter(|field| !sealed.iter().any(|(f, _)| f == field))
        .collect();
    if !gone.is_empty() {
        collection
            .delete_many(doc! { "record_table": table, "record_id": record_id, "field": { "$in": gone } })
            .session(&mut *session)
            .await?;
    }
    for (field, secret) in sealed {
        let unchanged = existing.iter().any(|row| {
            &row.key.field == field && row.secret.nonce == secret.nonce && row.secret.ciphertext == secret.ciphertext
        });
        if unchanged {
            continue;
        }
        let update = doc! { "$set": {
            "kek_version": i64::from(secret.kek_version),
            "wrapped_dek": &secret.wrapped_dek,
            "nonce": &secret.nonce,
            "ciphertext": &secret.ciphertext,
        } };
        collection.update_one(key_filter(table, record_id, field), update).upsert(true).session(&mut *session).await?;
    }
    Ok(())
}

/// Deletes every sealed value of a record, inside the caller's transaction.
pub(super) async fn delete_all(
    store: &MongoStore,
    session: &mut ClientSession,
    table: &str,
    record_id: &str,
) -> Result<(), Fail> {
    store
        .collection(SEALED)
        .delete_many(doc! { "record_table": table, "record_id": record_id })
        .session(&mut *session)
        .await?;
    Ok(())
}

/// The sealed values of records of one table, by record id; inside a transaction when `session` is given.
pub(super) async fn load_many(
    store: &MongoStore,
    mut session: Option<&mut ClientSession>,
    table: &str,
    record_ids: &[&str],
) -> Result<HashMap<String, Vec<(String, SealedSecret)>>, StoreError> {
    let collection = store.collection(SEALED);
    let mut found: HashMap<String, Vec<(String, SealedSecret)>> = HashMap::new();
    for chunk in record_ids.chunks(LOAD_CHUNK) {
        let filter = doc! { "record_table": table, "record_id": { "$in": chunk.to_vec() } };
        let docs: Vec<Document> = match session.as_deref_mut() {
            Some(session) => {
                collection.find(filter).session(&mut *session).await?.stream(&mut *session).try_collect().await?
            }
            None => collection.find(filter).await?.try_collect().await?,
        };
        for row in docs.iter().map(sealed_row) {
            let SealedRow { key, secret } = row?;
            found.entry(key.record_id).or_default().push((key.field, secret));
        }
    }
    Ok(found)
}

fn key_filter(table: &str, record_id: &str, field: &str) -> Document {
    doc! { "record_table": table, "record_id": record_id, "field": field }
}

/// A KEK version as stored (a BSON integer), read back as the `u32` it was written from.
fn version(reader: &Reader<'_>, field: &str) -> Result<u32, StoreError> {
    let stored = reader.u64(field)?;
    u32::try_from(stored).map_err(|_| StoreError::Corrupt {
        kind: reader.kind,
        id: reader.doc.get("_id").map(ToString::to_string).unwrap_or_default(),
        reason: format!("field {field}: KEK version {stored} out of range"),
    })
}

/// A stored sealed value. A malformed document is `Corrupt`, naming the field, never its value.
fn sealed_row(row: &Document) -> Result<SealedRow, StoreError> {
    let reader = Reader::new(row, KIND);
    Ok(SealedRow {
        key: SealedKey {
            table: reader.str("record_table")?.to_owned(),
            record_id: reader.str("record_id")?.to_owned(),
            field: reader.str("field")?.to_owned(),
        },
        secret: SealedSecret {
            kek_version: version(&reader, "kek_version")?,
            wrapped_dek: reader.str("wrapped_dek")?.to_owned(),
            nonce: reader.str("nonce")?.to_owned(),
            ciphertext: reader.str("ciphertext")?.to_owned(),
        },
    })
}
