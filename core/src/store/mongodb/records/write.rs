//! Writes of scoped records inside a transaction: insert, guarded update and delete, and the
//! cascades (a certificate's deployments, an empty project's memberships).
//! Invariant: every filter starts from `scope_filter`; an update or delete guarded by a version
//! that no longer matches changes nothing and tells `Conflict` from `NotFound`.

use mongodb::ClientSession;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use crate::ids::{OrgId, ProjectId};
use crate::store::mongodb::records::doc::{from_document, mutable_fields, scope_filter, to_document};
use crate::store::mongodb::txn::Fail;
use crate::store::mongodb::{MongoStore, codec, error, sealed};
use crate::store::{RawRecord, RecordKind, RecordScope, StoreError};
use crate::timestamp::Timestamp;

/// Maps a unique index's refusal to `AlreadyExists`, naming the id or the unique key it hit.
fn map_duplicate(e: mongodb::error::Error, raw: &RawRecord) -> Fail {
    if !error::is_duplicate_key(&e) {
        return e.into();
    }
    // The server names the index it hit; `_id_` is the primary key's.
    let on_id = e.to_string().contains("_id_");
    let key =
        if on_id { format!("id {}", raw.id) } else { format!("key {:?}", raw.unique_key.clone().unwrap_or_default()) };
    Fail::Store(StoreError::AlreadyExists { kind: raw.kind.name(), key })
}

/// A membership names a project and a user of the organization it is written in: one naming
/// another organization's project would build this organization's scope over that project.
async fn check_membership(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    raw: &RawRecord,
) -> Result<(), Fail> {
    if raw.kind != RecordKind::Membership {
        return Ok(());
    }
    let refused = || Fail::Store(StoreError::ScopeMismatch { kind: raw.kind.name() });
    let (Some(project), Some(user)) = (raw.project_id, raw.lookup_key.as_deref()) else { return Err(refused()) };
    let org = scope.org_id().to_string();
    for (kind, id) in [(RecordKind::Project, project.to_string()), (RecordKind::User, user.to_owned())] {
        let found = store
            .collection(kind.table())
            .find_one(doc! { "_id": id, "org_id": &org })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        if found.is_none() {
            return Err(refused());
        }
    }
    Ok(())
}

pub(in crate::store::mongodb) async fn insert(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    records: &[RawRecord],
) -> Result<(), Fail> {
    for raw in records {
        scope.check_owner(raw)?;
        check_membership(store, session, scope, raw).await?;
    }
    // One command per run of records of one kind (a bulk load is thousands of them), then their
    // sealed values.
    for run in records.chunk_by(|a, b| a.kind == b.kind) {
        let documents = run.iter().map(to_document).collect::<Result<Vec<_>, _>>()?;
        let inserted = store.collection(run[0].kind.table()).insert_many(documents).session(&mut *session).await;
        if let Err(e) = inserted {
            let culprit = failed_insert(&e).and_then(|i| run.get(i)).unwrap_or(&run[0]);
            return Err(map_duplicate(e, culprit));
        }
    }
    for raw in records.iter().filter(|r| !r.sealed.is_empty()) {
        sealed::replace(store, session, raw.kind.table(), &raw.id, &raw.sealed).await?;
    }
    Ok(())
}

/// Which document of an `insertMany` the server refused, if it said.
fn failed_insert(e: &mongodb::error::Error) -> Option<usize> {
    match e.kind.as_ref() {
        mongodb::error::ErrorKind::InsertMany(m) => m.write_errors.as_ref()?.first().map(|w| w.index),
        _ => None,
    }
}

/// The stored version of a record in scope, to tell "gone" from "changed" after a guarded write missed.
async fn stored_version(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    kind: RecordKind,
    id: &str,
) -> Result<Option<u64>, Fail> {
    let mut filter = scope_filter(scope, kind)?;
    filter.insert("_id", id);
    let found =
        store.collection(kind.table()).find_one(filter).projection(doc! { "version": 1 }).session(session).await?;
    Ok(found.map(|d| codec::Reader::new(&d, kind.name()).u64("version")).transpose()?)
}

pub(in crate::store::mongodb) async fn update(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    raw: &RawRecord,
    now: Timestamp,
) -> Result<RawRecord, Fail> {
    scope.check_owner(raw)?;
    check_membership(store, session, scope, raw).await?;
    let mut filter = scope_filter(scope, raw.kind)?;
    filter.insert("_id", &raw.id);
    filter.insert("version", codec::n(raw.version));
    let updated = store
        .collection(raw.kind.table())
        .find_one_and_update(filter, doc! { "$set": mutable_fields(raw, now)?, "$inc": { "version": 1_i64 } })
        .return_document(ReturnDocument::After)
        .session(&mut *session)
        .await
        .map_err(|e| map_duplicate(e, raw))?;
    let Some(updated) = updated else {
        return Err(Fail::Store(match stored_version(store, session, scope, raw.kind, &raw.id).await? {
            None => StoreError::not_found(raw.kind, raw.id.clone()),
            Some(actual) => {
                StoreError::Conflict { kind: raw.kind.name(), id: raw.id.clone(), expected: raw.version, actual }
            }
        }));
    };
    let mut stored = from_document(raw.kind, &updated)?;
    if raw.kind.has_sealed_fields() {
        sealed::replace(store, session, raw.kind.table(), &raw.id, &raw.sealed).await?;
        // Read back: a value that came back unchanged keeps the wrap a KEK rotation may have renewed.
        let mut found = sealed::load_many(store, Some(session), raw.kind.table(), &[raw.id.as_str()]).await?;
        stored.sealed = found.remove(&raw.id).unwrap_or_default();
    }
    Ok(stored)
}

pub(in crate::store::mongodb) async fn delete(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    kind: RecordKind,
    id: &str,
    expected_version: Option<u64>,
) -> Result<(), Fail> {
    let mut filter = scope_filter(scope, kind)?;
    filter.insert("_id", id);
    if let Some(v) = expected_version {
        filter.insert("version", codec::n(v));
    }
    let deleted = store.collection(kind.table()).delete_one(filter).session(&mut *session).await?;
    if deleted.deleted_count == 0 {
        return Err(Fail::Store(match (stored_version(store, session, scope, kind, id).await?, expected_version) {
            (Some(actual), Some(expected)) => {
                StoreError::Conflict { kind: kind.name(), id: id.into(), expected, actual }
            }
            _ => StoreError::not_found(kind, id),
        }));
    }
    if kind.has_sealed_fields() {
        sealed::delete_all(store, session, kind.table(), id).await?;
    }
    Ok(())
}

/// Deletes every record of `kind` in `scope` listed under `lookup_key` (a certificate's
/// deployments), with their sealed values.
pub(in crate::store::mongodb) async fn delete_by_lookup(
    store: &MongoStore,
    session: &mut ClientSession,
    scope: &RecordScope,
    kind: RecordKind,
    lookup_key: &str,
) -> Result<(), Fail> {
    let mut filter = scope_filter(scope, kind)?;
    filter.insert("lookup_key", lookup_key);
    let collection = store.collection(kind.table());
    let ids: Vec<String> = if kind.has_sealed_fields() {
        let mut cursor = collection.find(filter.clone()).projection(doc! { "_id": 1 }).session(&mut *session).await?;
        let mut ids = Vec::new();
        while let Some(found) = cursor.next(&mut *session).await {
            ids.push(codec::Reader::new(&found?, kind.name()).str("_id")?.to_owned());
        }
        ids
    } else {
        Vec::new()
    };
    collection.delete_many(filter).session(&mut *session).await?;
    for id in ids {
        sealed::delete_all(store, session, kind.table(), &id).await?;
    }
    Ok(())
}

pub(in crate::store::mongodb) async fn delete_empty_project(
    store: &MongoStore,
    session: &mut ClientSession,
    org: OrgId,
    project: ProjectId,
) -> Result<(), Fail> {
    let (org, id) = (org.to_string(), project.to_string());
    let ours: Document = doc! { "_id": &id, "org_id": &org };
    let projects = store.collection(RecordKind::Project.table());
    // Another organization's project reads like an unknown one, never as "still holds …".
    if projects.find_one(ours.clone()).session(&mut *session).await?.is_none() {
        return Err(Fail::Store(StoreError::not_found(RecordKind::Project, id)));
    }
    // Watches are the notification router's bookkeeping: they go with the project.
    for kind in RecordKind::ALL.into_iter().filter(|k| k.is_project_scoped() && *k != RecordKind::CertificateWatch) {
        let holds = store
            .collection(kind.table())
            .find_one(doc! { "org_id": &org, "project_id": &id })
            .projection(doc! { "_id": 1 })
            .session(&mut *session)
            .await?;
        if holds.is_some() {
            return Err(Fail::Store(StoreError::NotEmpty { kind: "project", id, holds: kind.name() }));
        }
    }
    for kind in [RecordKind::Membership, RecordKind::CertificateWatch] {
        store
            .collection(kind.table())
            .delete_many(doc! { "org_id": &org, "project_id": &id })
            .session(&mut *session)
            .await?;
    }
    projects.delete_one(ours).session(&mut *session).await?;
    Ok(())
}
