//! Scoped records on MongoDB: one collection per kind (`RecordKind::table`), the `Records` concern.
//! Reads go straight to the collections, but records with their sealed values are read in one
//! snapshot transaction; writes run in a transaction with their audit outbox row (and job, for
//! `insert_raw_and_enqueue`), in `write.rs`.
//! Invariant: every query's organization and project come from the `RecordScope` passed in
//! (`doc::scope_filter`); a system scope reads across projects only where the trait says so.

pub(super) mod doc;
mod write;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};

use crate::ids::{CertificateId, ProjectId};
use crate::model::{Certificate, Membership, NewJob};
use crate::scope::{OrgScope, ProjectScope, SystemScope};
use crate::store::mongodb::schema::{CollectionIndexes, index, unique};
use crate::store::mongodb::{MongoStore, audit, codec, jobs, sealed};
use crate::store::page::{cut_due_page, due_position, encode_cursor};
use crate::store::{
    AuditWrite, CertificateExpiry, Enqueued, Page, PageRequest, RawRecord, Record, RecordKind, RecordScope, Records,
    ScopeArg, SealedFields, StoreError,
};
use crate::timestamp::Timestamp;

pub(super) use self::doc::scope_filter;
pub(super) use self::write::insert;

/// Each kind's collection: scope lookups and lists in id order, unique keys per scope (only where
/// a key is set), lookups by secondary key; certificates also by renewal window and by expiry.
pub(super) fn indexes() -> Vec<CollectionIndexes> {
    // Schema v1's kinds: the ones added later come with their own step (`schema::schema_v5`).
    let v1: Vec<RecordKind> = RecordKind::ALL
        .into_iter()
        .filter(|k| *k != RecordKind::ApprovalRequest && !RecordKind::NOTIFICATIONS.contains(k))
        .collect();
    indexes_of(&v1)
}

/// The collections of `kinds`, each with the indexes every record kind has and its own.
pub(super) fn indexes_of(kinds: &[RecordKind]) -> Vec<CollectionIndexes> {
    let keyed = doc! { "unique_key": { "$type": "string" } };
    kinds
        .iter()
        .copied()
        .map(|kind| {
            let mut indexes = if kind.is_project_scoped() {
                vec![
                    index("scope", doc! { "org_id": 1, "project_id": 1, "_id": 1 }),
                    unique("unique_key", doc! { "project_id": 1, "unique_key": 1 }, Some(keyed.clone())),
                    index("lookup", doc! { "org_id": 1, "project_id": 1, "lookup_key": 1, "_id": 1 }),
                ]
            } else {
                vec![
                    index("scope", doc! { "org_id": 1, "_id": 1 }),
                    unique("unique_key", doc! { "org_id": 1, "unique_key": 1 }, Some(keyed.clone())),
                    index("lookup", doc! { "org_id": 1, "lookup_key": 1, "_id": 1 }),
                ]
            };
            match kind {
                // A project's members, and whether a project still holds anything.
                RecordKind::Membership => indexes.push(index("project", doc! { "project_id": 1, "_id": 1 })),
                // The renewal scan walks (due_at, id); the expiry metric sorts by not_after.
                RecordKind::Certificate => {
                    indexes.push(index("due", doc! { "due_at": 1, "_id": 1 }));
                    indexes.push(index("expiry", doc! { "cert_not_after": 1 }));
                }
                _ => {}
            }
            CollectionIndexes { collection: kind.table(), indexes }
        })
        .collect()
}

fn records_from(kind: RecordKind, documents: &[Document]) -> Result<Vec<RawRecord>, StoreError> {
    documents.iter().map(|d| doc::from_document(kind, d)).collect()
}

impl MongoStore {
    /// Records matching `filter`, in `sort` order, at most `limit`, with their sealed fields.
    pub(super) async fn find_records(
        &self,
        kind: RecordKind,
        filter: Document,
        sort: Document,
        limit: Option<usize>,
    ) -> Result<Vec<RawRecord>, StoreError> {
        self.find_records_reading(kind, filter, sort, limit, SealedFields::Read).await
    }

    /// `find_records`, with the sealed fields only when `sealed` says to read them.
    async fn find_records_reading(
        &self,
        kind: RecordKind,
        filter: Document,
        sort: Document,
        limit: Option<usize>,
        sealed: SealedFields,
    ) -> Result<Vec<RawRecord>, StoreError> {
        if sealed == SealedFields::Read && kind.has_sealed_fields() {
            // The records and their sealed values from one snapshot: read apart, a save committed
            // between the two reads would pair a record with another version's sealed values (a
            // pending order with its key already gone).
            let query = (self, kind, filter, sort, limit);
            return self
                .read_snapshot(query, |session, (store, kind, filter, sort, limit)| {
                    Box::pin(async move {
                        let collection = store.collection(kind.table());
                        let mut find = collection.find(filter.clone()).sort(sort.clone());
                        if let Some(limit) = limit {
                            find = find.limit(*limit as i64);
                        }
                        let documents: Vec<Document> =
                            find.session(&mut *session).await?.stream(&mut *session).try_collect().await?;
                        let mut records = records_from(*kind, &documents)?;
                        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
                        let mut found = sealed::load_many(store, Some(session), kind.table(), &ids).await?;
                        for record in records.iter_mut() {
                            record.sealed = found.remove(&record.id).unwrap_or_default();
                        }
                        Ok(records)
                    })
                })
                .await;
        }
        let collection = self.collection(kind.table());
        let mut find = collection.find(filter).sort(sort);
        if let Some(limit) = limit {
            find = find.limit(limit as i64);
        }
        let documents: Vec<Document> = find.await?.try_collect().await?;
        records_from(kind, &documents)
    }

    async fn find_one_record(&self, kind: RecordKind, filter: Document) -> Result<Option<RawRecord>, StoreError> {
        Ok(self.find_records(kind, filter, doc! { "_id": 1 }, Some(1)).await?.pop())
    }

    /// A page in id order after the request's cursor (`limit + 1` read to know if more follow).
    async fn page_by_id(
        &self,
        kind: RecordKind,
        mut filter: Document,
        page: &PageRequest,
        sealed: SealedFields,
    ) -> Result<Page<RawRecord>, StoreError> {
        let limit = page.effective_limit()?;
        if let Some(after) = page.decoded_cursor()? {
            filter.insert("_id", doc! { "$gt": after });
        }
        let mut items = self.find_records_reading(kind, filter, doc! { "_id": 1 }, Some(limit + 1), sealed).await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| encode_cursor(&r.id))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}

impl MongoStore {
    /// Inserts (or, with `update`, updates) records and enqueues a job in one transaction.
    async fn write_with_job(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        update: bool,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        if job.project_id().is_some_and(|p| Some(p) != scope.project_id()) {
            return Err(StoreError::ScopeMismatch { kind: "job" });
        }
        let now = self.now();
        let org = audit.as_ref().map(|a| a.draft.org_id);
        let enqueued = self
            .transact((self, scope, records, job, audit), |s, (store, scope, records, job, audit)| {
                Box::pin(async move {
                    if update {
                        for record in records.iter() {
                            write::update(store, s, scope, record, now).await?;
                        }
                    } else {
                        write::insert(store, s, scope, records).await?;
                    }
                    let enqueued = jobs::enqueue(store, s, job, now).await?;
                    audit::enqueue(store, s, audit.as_ref(), now).await?;
                    Ok(enqueued)
                })
            })
            .await?;
        self.signal_audit(org);
        Ok(enqueued)
    }
}

#[async_trait]
impl Records for MongoStore {
    async fn insert_raw(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let org = audit.as_ref().map(|a| a.draft.org_id);
        self.transact((self, scope, records, audit), |s, (store, scope, records, audit)| {
            Box::pin(async move {
                write::insert(store, s, scope, records).await?;
                audit::enqueue(store, s, audit.as_ref(), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(org);
        Ok(())
    }

    async fn insert_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        self.write_with_job(scope, records, false, job, audit).await
    }

    async fn update_raw_and_enqueue(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        job: NewJob,
        audit: Option<AuditWrite>,
    ) -> Result<Enqueued, StoreError> {
        self.write_with_job(scope, records, true, job, audit).await
    }

    async fn get_raw(&self, scope: &RecordScope, kind: RecordKind, id: &str) -> Result<RawRecord, StoreError> {
        let mut filter = scope_filter(scope, kind)?;
        filter.insert("_id", id);
        self.find_one_record(kind, filter).await?.ok_or_else(|| StoreError::not_found(kind, id))
    }

    async fn get_many_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        ids: &[String],
    ) -> Result<Vec<RawRecord>, StoreError> {
        let mut filter = scope_filter(scope, kind)?;
        filter.insert("_id", doc! { "$in": ids });
        let found = self.find_records(kind, filter, doc! { "_id": 1 }, None).await?;
        let by_id: std::collections::HashMap<&str, &RawRecord> = found.iter().map(|r| (r.id.as_str(), r)).collect();
        // In the order given, an id given twice answered twice; ids not found (or not in scope) left out.
        Ok(ids.iter().filter_map(|id| by_id.get(id.as_str()).map(|r| (*r).clone())).collect())
    }

    async fn find_unique_raw(&self, scope: &RecordScope, kind: RecordKind, key: &str) -> Result<RawRecord, StoreError> {
        let mut filter = scope_filter(scope, kind)?;
        filter.insert("unique_key", key);
        self.find_one_record(kind, filter).await?.ok_or_else(|| StoreError::not_found(kind, key))
    }

    async fn list_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        lookup_key: Option<&str>,
        page: &PageRequest,
        sealed: SealedFields,
    ) -> Result<Page<RawRecord>, StoreError> {
        let mut filter = scope_filter(scope, kind)?;
        if let Some(key) = lookup_key {
            filter.insert("lookup_key", key);
        }
        self.page_by_id(kind, filter, page, sealed).await
    }

    async fn list_all_raw(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        page: &PageRequest,
    ) -> Result<Page<RawRecord>, StoreError> {
        if !kind.is_project_scoped() {
            return Err(StoreError::InvalidRequest(format!("{} records are not listed across projects", kind.name())));
        }
        self.page_by_id(kind, doc! {}, page, SealedFields::Read).await
    }

    async fn update_raw(
        &self,
        scope: &RecordScope,
        record: RawRecord,
        audit: Option<AuditWrite>,
    ) -> Result<RawRecord, StoreError> {
        Ok(self.update_raw_many(scope, vec![record], audit).await?.remove(0))
    }

    async fn delete_raw(
        &self,
        scope: &RecordScope,
        kind: RecordKind,
        id: &str,
        expected_version: Option<u64>,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let org = audit.as_ref().map(|a| a.draft.org_id);
        self.transact((self, scope, id, audit), |s, (store, scope, id, audit)| {
            Box::pin(async move {
                write::delete(store, s, scope, kind, id, expected_version).await?;
                audit::enqueue(store, s, audit.as_ref(), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(org);
        Ok(())
    }

    async fn update_raw_many(
        &self,
        scope: &RecordScope,
        records: Vec<RawRecord>,
        audit: Option<AuditWrite>,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let now = self.now();
        let org = audit.as_ref().map(|a| a.draft.org_id);
        // One transaction: the first refused update aborts the ones before it.
        let stored = self
            .transact((self, scope, records, audit), |s, (store, scope, records, audit)| {
                Box::pin(async move {
                    let mut stored = Vec::with_capacity(records.len());
                    for record in records.iter() {
                        stored.push(write::update(store, s, scope, record, now).await?);
                    }
                    audit::enqueue(store, s, audit.as_ref(), now).await?;
                    Ok(stored)
                })
            })
            .await?;
        self.signal_audit(org);
        Ok(stored)
    }

    async fn delete_certificate(
        &self,
        scope: &ProjectScope,
        id: CertificateId,
        expected_version: u64,
        audit: AuditWrite,
    ) -> Result<(), StoreError> {
        let (scope, id, now, org) = (scope.record_scope(), id.to_string(), self.now(), audit.draft.org_id);
        self.transact((self, scope, id, audit), |s, (store, scope, id, audit)| {
            Box::pin(async move {
                write::delete(store, s, scope, RecordKind::Certificate, id, Some(expected_version)).await?;
                write::delete_by_lookup(store, s, scope, RecordKind::Deployment, id).await?;
                audit::enqueue(store, s, Some(audit), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(Some(org));
        Ok(())
    }

    async fn delete_empty_project(
        &self,
        scope: &OrgScope,
        project: ProjectId,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let (org, now) = (scope.org_id(), self.now());
        let signal = audit.as_ref().map(|a| a.draft.org_id);
        self.transact((self, audit), |s, (store, audit)| {
            Box::pin(async move {
                write::delete_empty_project(store, s, org, project).await?;
                audit::enqueue(store, s, audit.as_ref(), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(signal);
        Ok(())
    }

    async fn project_members(&self, scope: &OrgScope, project: ProjectId) -> Result<Vec<Membership>, StoreError> {
        let filter = doc! { "org_id": scope.org_id().to_string(), "project_id": project.to_string() };
        let raws = self.find_records(RecordKind::Membership, filter, doc! { "_id": 1 }, None).await?;
        raws.into_iter().map(Membership::from_raw).collect()
    }

    async fn locate_project(
        &self,
        _scope: &SystemScope,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<ProjectId>, StoreError> {
        if !kind.is_project_scoped() {
            return Ok(None);
        }
        let found =
            self.collection(kind.table()).find_one(doc! { "_id": id }).projection(doc! { "project_id": 1 }).await?;
        let Some(found) = found else { return Ok(None) };
        let reader = codec::Reader::new(&found, kind.name());
        reader
            .opt_str("project_id")?
            .map(|p| {
                p.parse().map_err(|_| StoreError::Corrupt {
                    kind: kind.name(),
                    id: id.into(),
                    reason: "bad project_id".into(),
                })
            })
            .transpose()
    }

    async fn certificates_due(
        &self,
        _scope: &SystemScope,
        before: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<Certificate>, StoreError> {
        let limit = page.effective_limit()?;
        let kind = RecordKind::Certificate;
        let before = codec::ts(before);
        // `$lt` on a number never matches a null or missing `due_at`, so no `$type` test: on the
        // test server a `$type` beside the range turned the index scan into a collection scan.
        let mut filter = doc! { "due_at": { "$lt": before } };
        if let Some((due, id)) = due_position(page)? {
            // After (due, id) on the (due_at, _id) index, at any depth.
            filter.insert("$or", vec![doc! { "due_at": { "$gt": due } }, doc! { "due_at": due, "_id": { "$gt": id } }]);
        }
        let mut items = self.find_records(kind, filter, doc! { "due_at": 1, "_id": 1 }, Some(limit + 1)).await?;
        let next_cursor = cut_due_page(&mut items, limit);
        Ok(Page { items: items.into_iter().map(Certificate::from_raw).collect::<Result<_, _>>()?, next_cursor })
    }

    async fn certificate_expiries(
        &self,
        _scope: &SystemScope,
        limit: usize,
    ) -> Result<Vec<CertificateExpiry>, StoreError> {
        let filter = doc! { "cert_not_after": { "$type": "long" }, "cert_status": { "$ne": "revoked" } };
        let projection =
            doc! { "_id": 1, "project_id": 1, "cert_common_name": 1, "cert_status": 1, "cert_not_after": 1 };
        let documents: Vec<Document> = self
            .collection(RecordKind::Certificate.table())
            .find(filter)
            .projection(projection)
            .sort(doc! { "cert_not_after": 1 })
            .limit(limit as i64)
            .await?
            .try_collect()
            .await?;
        documents
            .iter()
            .map(|d| {
                let r = codec::Reader::new(d, "certificate");
                let id = r.str("_id")?;
                let corrupt =
                    |what: &str| StoreError::Corrupt { kind: "certificate", id: id.to_owned(), reason: what.into() };
                Ok(CertificateExpiry {
                    id: id.parse().map_err(|_| corrupt("bad id"))?,
                    project_id: r.str("project_id")?.parse().map_err(|_| corrupt("bad project id"))?,
                    common_name: r.str("cert_common_name")?.to_owned(),
                    status: serde_json::from_value(serde_json::Value::String(r.str("cert_status")?.to_owned()))
                        .map_err(|_| corrupt("bad status"))?,
                    not_after: r.ts("cert_not_after")?,
                })
            })
            .collect()
    }
}
