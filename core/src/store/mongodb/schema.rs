//! The versioned schema: a `schema` collection holds the version (`{_id: "version"}`), and each
//! step (indexes, later data moves) runs under a migration lock (`{_id: "migration_lock"}`, taken by
//! inserting it, expiring so a crashed node cannot hold it forever), so when several nodes start
//! together exactly one runs each step and the others wait for the version to arrive.
//! Invariant: every step is idempotent (index creation with fixed names and specs), so a step that a
//! crashed holder left half done is simply run again by the next one.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mongodb::bson::{Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Database, IndexModel};

use crate::clock::Clock;
use crate::store::StoreError;

pub const LATEST_VERSION: u32 = 7;

/// A collection and the indexes one concern needs on it (named, so re-creating one is a no-op).
pub(super) struct CollectionIndexes {
    pub collection: &'static str,
    pub indexes: Vec<IndexModel>,
}

/// An index named `name` on `keys`.
pub(super) fn index(name: &str, keys: Document) -> IndexModel {
    IndexModel::builder().keys(keys).options(IndexOptions::builder().name(name.to_string()).build()).build()
}

/// A unique index; `partial` limits it to the documents that match.
pub(super) fn unique(name: &str, keys: Document, partial: Option<Document>) -> IndexModel {
    let options =
        IndexOptions::builder().name(name.to_string()).unique(true).partial_filter_expression(partial).build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// Version 1: every concern's collections and indexes.
fn schema_v1() -> Vec<CollectionIndexes> {
    let mut all = Vec::new();
    all.extend(super::organizations::indexes());
    all.extend(super::records::indexes());
    all.extend(super::jobs::indexes());
    all.extend(super::fence::indexes());
    all.extend(super::audit::indexes());
    all.extend(super::sealed::indexes());
    all.extend(super::login::indexes());
    all.extend(super::siem::indexes());
    all
}

/// Every collection and index the schema at `LATEST_VERSION` has: what `integrity_check` expects.
pub(super) fn expected() -> Vec<CollectionIndexes> {
    steps().into_iter().flat_map(|step| step()).collect()
}

/// Each entry migrates from version `index` to `index + 1`. Never edit a released entry: append.
fn steps() -> Vec<fn() -> Vec<CollectionIndexes>> {
    vec![schema_v1, schema_v2, schema_v3, schema_v4, schema_v5, schema_v6, schema_v7]
}

/// Version 7 (M2.10): the audit chain's verified-up-to marks.
fn schema_v7() -> Vec<CollectionIndexes> {
    super::siem::mark_indexes()
}

/// Version 6 (M2.8, notifications): channels, rules and certificate watches.
fn schema_v6() -> Vec<CollectionIndexes> {
    super::records::indexes_of(&crate::store::RecordKind::NOTIFICATIONS)
}

/// Version 5 (M2.8, approvals): the approval requests' collection, indexed like every record kind.
fn schema_v5() -> Vec<CollectionIndexes> {
    super::records::indexes_of(&[crate::store::RecordKind::ApprovalRequest])
}

/// Version 4 (M2.8, health): the certificates with a drifted deployment by project; the documents'
/// fact fields (now with `cert_overdue_at`) are back-filled again by `data_moves`.
fn schema_v4() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes {
        collection: crate::store::RecordKind::Deployment.table(),
        indexes: vec![index("drifted", doc! { "org_id": 1, "project_id": 1, "dep_drifted": 1, "lookup_key": 1 })],
    }]
}

/// Version 2 (M2.5): the overview's figures by project and expiry (`stats.rs`); the documents'
/// fact fields are back-filled by `data_moves`.
fn schema_v2() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes {
        collection: crate::store::RecordKind::Certificate.table(),
        indexes: vec![index("stats", doc! { "org_id": 1, "project_id": 1, "cert_not_after": 1, "_id": 1 })],
    }]
}

/// Version 3: the inventory's expiry order filtered by one status (`stats.rs`,
/// `certificates_by_expiry`) as one range per segment, like `stats` is for the unfiltered order.
fn schema_v3() -> Vec<CollectionIndexes> {
    vec![CollectionIndexes {
        collection: crate::store::RecordKind::Certificate.table(),
        indexes: vec![index(
            "status_expiry",
            doc! { "org_id": 1, "project_id": 1, "cert_status": 1, "cert_not_after": 1, "_id": 1 },
        )],
    }]
}

/// A step's data moves, after its indexes; idempotent like the indexes (a rerun rewrites the same values).
async fn data_moves(db: &Database, version: u32) -> Result<(), StoreError> {
    match version {
        2 | 4 => super::stats::backfill_facts(db).await,
        _ => Ok(()),
    }
}

/// How long a holder may keep the lock before another node takes over (a step is index builds on
/// collections that are empty or small at the version they arrive in).
const LOCK_LEASE: Duration = Duration::from_secs(60);
/// How long a node waits for another's migration before it gives up starting.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

fn wall_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(super) async fn current_version(db: &Database) -> Result<u32, StoreError> {
    let found = db.collection::<Document>("schema").find_one(doc! { "_id": "version" }).await?;
    Ok(found.and_then(|d| d.get_i64("version").ok()).unwrap_or(0) as u32)
}

/// Brings the schema to `LATEST_VERSION`, or waits while another node does.
pub(super) async fn migrate(db: &Database, _clock: &dyn Clock) -> Result<(), StoreError> {
    let holder = uuid::Uuid::now_v7().to_string();
    let started = Instant::now();
    loop {
        let version = current_version(db).await?;
        if version > LATEST_VERSION {
            return Err(StoreError::Migration {
                version,
                message: format!(
                    "the database's schema is version {version}, newer than this binary's {LATEST_VERSION}: \
                     run the newer binary"
                ),
            });
        }
        if version == LATEST_VERSION {
            return Ok(());
        }
        if take_lock(db, &holder).await? {
            let result = run_steps(db, version, &holder).await;
            release_lock(db, &holder).await?;
            return result;
        }
        if started.elapsed() > WAIT_LIMIT {
            return Err(StoreError::Migration {
                version: version + 1,
                message: "another node holds the migration lock and has not finished".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn take_lock(db: &Database, holder: &str) -> Result<bool, StoreError> {
    let locks = db.collection::<Document>("schema");
    let now = wall_millis();
    let expires = now + LOCK_LEASE.as_millis() as i64;
    match locks.insert_one(doc! { "_id": "migration_lock", "holder": holder, "expires_at": expires }).await {
        Ok(_) => return Ok(true),
        Err(e) if super::error::is_duplicate_key(&e) => {}
        Err(e) => return Err(e.into()),
    }
    // Held: take it over only if its holder let it expire.
    let taken = locks
        .find_one_and_update(
            doc! { "_id": "migration_lock", "expires_at": { "$lt": now } },
            doc! { "$set": { "holder": holder, "expires_at": expires } },
        )
        .return_document(ReturnDocument::After)
        .await?;
    Ok(taken.is_some())
}

async fn release_lock(db: &Database, holder: &str) -> Result<(), StoreError> {
    db.collection::<Document>("schema").delete_one(doc! { "_id": "migration_lock", "holder": holder }).await?;
    Ok(())
}

/// MongoDB's code for "the collection exists already".
const NAMESPACE_EXISTS: i32 = 48;

async fn create_collection(db: &Database, name: &str, version: u32) -> Result<(), StoreError> {
    match db.create_collection(name).await {
        Ok(()) => Ok(()),
        Err(e) if super::error::code(&e) == Some(NAMESPACE_EXISTS) => Ok(()),
        Err(e) => Err(StoreError::Migration {
            version,
            message: format!("collection {name}: {}", super::error::describe(&e)),
        }),
    }
}

async fn run_steps(db: &Database, from: u32, holder: &str) -> Result<(), StoreError> {
    for (i, step) in steps().into_iter().enumerate().skip(from as usize) {
        let to = i as u32 + 1;
        for collection in step() {
            if collection.indexes.is_empty() {
                // Created now even without an index of its own: MongoDB before 4.4 cannot create a
                // collection inside a transaction, where its first write may happen.
                create_collection(db, collection.collection, to).await?;
                continue;
            }
            db.collection::<Document>(collection.collection).create_indexes(collection.indexes).await.map_err(|e| {
                StoreError::Migration {
                    version: to,
                    message: format!("indexes of {}: {}", collection.collection, super::error::describe(&e)),
                }
            })?;
        }
        data_moves(db, to).await.map_err(|e| StoreError::Migration { version: to, message: e.to_string() })?;
        // Only the lock's holder moves the version, and never backwards.
        let still_held =
            db.collection::<Document>("schema").find_one(doc! { "_id": "migration_lock", "holder": holder }).await?;
        if still_held.is_none() {
            return Err(StoreError::Migration { version: to, message: "the migration lock expired mid-step".into() });
        }
        db.collection::<Document>("schema")
            .update_one(doc! { "_id": "version" }, doc! { "$max": { "version": i64::from(to) } })
            .upsert(true)
            .await?;
        tracing::info!(version = to, "store schema migrated");
    }
    Ok(())
}
