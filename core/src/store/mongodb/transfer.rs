//! `StoreTransfer` on MongoDB: each part is one collection read in the order of a unique key (keyset
//! pages whose position is the last document's key, as canonical extended JSON), written back with
//! each concern's own document encoding (the `*_document` / `*_from` pairs in its module), one
//! transaction per batch.
//! Invariant: besides the rows, an import keeps what the concerns derive from them in step: the
//! first-setup marker once an organization arrives (so setup cannot run again on the copy), each
//! organization's audit head at its chain's last `seq`, and the newest scheduler term.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Bson, Document, doc};

use crate::scope::SystemScope;
use crate::store::mongodb::txn::Fail;
use crate::store::mongodb::{MongoStore, audit, codec, error, fence, jobs, organizations, records, sealed, siem};
use crate::store::{ExportPage, JobLogRow, OrganizationRow, StoreError, StoreTransfer, TransferPart, TransferRow};

/// Where a part lives: its collection and the unique key it is paged by (the same order as
/// SQLite's primary keys: strings compare by their bytes under the simple collation).
fn layout(part: TransferPart) -> (&'static str, &'static [&'static str]) {
    match part {
        TransferPart::Organizations => (organizations::COLLECTION, &["_id"]),
        TransferPart::Records(kind) => (kind.table(), &["_id"]),
        TransferPart::Sealed => (sealed::SEALED, &["record_table", "record_id", "field"]),
        TransferPart::Jobs => (jobs::JOBS, &["_id"]),
        TransferPart::JobLogs => (jobs::JOB_LOGS, &["job_id", "seq"]),
        TransferPart::AuditEvents => (audit::EVENTS, &["org_id", "seq"]),
        TransferPart::AuditOutbox => (audit::OUTBOX, &["_id"]),
        // `_id: {term, node}` and `_id: {destination, org_id}` compare field by field.
        TransferPart::Fences => (fence::HISTORY, &["_id"]),
        TransferPart::SiemCursors => (siem::CURSORS, &["_id"]),
        TransferPart::AuditMarks => (siem::MARKS, &["_id"]),
    }
}

#[async_trait]
impl StoreTransfer for MongoStore {
    async fn transfer_count(&self, _scope: &SystemScope, part: TransferPart) -> Result<u64, StoreError> {
        Ok(self.collection(layout(part).0).count_documents(doc! {}).await?)
    }

    async fn export_rows(
        &self,
        _scope: &SystemScope,
        part: TransferPart,
        after: Option<String>,
        limit: usize,
    ) -> Result<ExportPage, StoreError> {
        let (collection, key) = layout(part);
        let filter = match after {
            Some(after) => after_filter(key, &decode_key(&after, key.len())?),
            None => doc! {},
        };
        let sort: Document = key.iter().map(|k| (k.to_string(), Bson::Int32(1))).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
        let found: Vec<Document> =
            self.collection(collection).find(filter).sort(sort).limit(limit).await?.try_collect().await?;
        let rows = found.iter().map(|d| decode_row(part, d)).collect::<Result<Vec<_>, _>>()?;
        let next = match found.last() {
            Some(last) if found.len() as i64 == limit => Some(encode_key(last, key)?),
            _ => None,
        };
        Ok(ExportPage { rows, next })
    }

    async fn import_rows(&self, _scope: &SystemScope, rows: Vec<TransferRow>) -> Result<(), StoreError> {
        self.transact((self, rows), |session, (store, rows)| Box::pin(import(store, session, rows))).await
    }

    async fn is_empty(&self, scope: &SystemScope) -> Result<bool, StoreError> {
        for part in TransferPart::all() {
            if self.transfer_count(scope, part).await? > 0 {
                return Ok(false);
            }
        }
        Ok(self.collection(organizations::SETUP).count_documents(doc! {}).await? == 0)
    }
}

/// The last document's key values, as text.
fn encode_key(document: &Document, key: &[&str]) -> Result<String, StoreError> {
    let values: Vec<Bson> = key
        .iter()
        .map(|k| {
            document.get(*k).cloned().ok_or_else(|| StoreError::Corrupt {
                kind: "exported document",
                id: format!("{:?}", document.get("_id")),
                reason: format!("no {k}"),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Bson::Array(values).into_canonical_extjson().to_string())
}

fn decode_key(text: &str, width: usize) -> Result<Vec<Bson>, StoreError> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|_| StoreError::InvalidCursor)?;
    match Bson::try_from(json) {
        Ok(Bson::Array(values)) if values.len() == width => Ok(values),
        _ => Err(StoreError::InvalidCursor),
    }
}

/// Documents whose key is after `values` in the sort order: `(a, b) > (x, y)` spelled as
/// `a > x or (a = x and b > y)`.
fn after_filter(key: &[&str], values: &[Bson]) -> Document {
    let branches: Vec<Bson> = (0..key.len())
        .map(|i| {
            let mut branch: Document = key[..i].iter().zip(values).map(|(k, v)| (k.to_string(), v.clone())).collect();
            branch.insert(key[i], doc! { "$gt": values[i].clone() });
            Bson::Document(branch)
        })
        .collect();
    doc! { "$or": branches }
}

fn decode_row(part: TransferPart, d: &Document) -> Result<TransferRow, StoreError> {
    Ok(match part {
        TransferPart::Organizations => TransferRow::Organization(organizations::row_from(d)?),
        TransferPart::Records(kind) => TransferRow::Record(records::doc::from_document(kind, d)?),
        TransferPart::Sealed => TransferRow::Sealed(sealed::sealed_row(d)?),
        TransferPart::Jobs => TransferRow::Job(jobs::job_row_from(d)?),
        TransferPart::JobLogs => TransferRow::JobLog(jobs::log_row_from(d)?),
        TransferPart::AuditEvents => {
            let reader = codec::Reader::new(d, "audit event");
            let org = reader.str("org_id")?;
            let org = org.parse().map_err(|_| StoreError::Corrupt {
                kind: "audit event",
                id: org.to_owned(),
                reason: "bad org_id".into(),
            })?;
            TransferRow::AuditEvent(audit::decode(org, d)?)
        }
        TransferPart::AuditOutbox => TransferRow::AuditOutbox(audit::outbox_from(d)?),
        TransferPart::Fences => TransferRow::Fence(fence::history_from(d)?),
        TransferPart::SiemCursors => TransferRow::SiemCursor(siem::cursor_from(d)?),
        TransferPart::AuditMarks => TransferRow::AuditMark(siem::mark_from(d)?),
    })
}

/// What an import batch must bring along besides its documents.
#[derive(Default)]
struct Derived<'r> {
    /// The first organization of the batch: the first-setup marker names it.
    first_org: Option<&'r OrganizationRow>,
    /// Each organization's last chained `seq` in the batch.
    heads: BTreeMap<String, u64>,
    newest_term: Option<u64>,
}

async fn import(store: &MongoStore, session: &mut ClientSession, rows: &[TransferRow]) -> Result<(), Fail> {
    let mut derived = Derived::default();
    let mut batches: Vec<(&'static str, Vec<Document>)> = Vec::new();
    let logs: Vec<&JobLogRow> =
        rows.iter().filter_map(|r| if let TransferRow::JobLog(l) = r { Some(l) } else { None }).collect();
    // Log lines carry their job's kind, project and subject: the jobs are in the target already
    // (an import follows `TransferPart::all`'s order), or in this batch.
    let mut owners = log_owners(store, session, &logs).await?;
    for row in rows {
        let document = match row {
            TransferRow::Organization(o) => {
                derived.first_org = derived.first_org.or(Some(o));
                organizations::row_document(o)
            }
            TransferRow::Record(raw) => {
                let mut document = records::doc::to_document(raw)?;
                // `to_document` writes a new record; a copied one keeps its history.
                document.insert("version", codec::n(raw.version));
                document.insert("updated_at", codec::ts(raw.updated_at));
                document
            }
            TransferRow::Sealed(s) => sealed::sealed_document(s),
            TransferRow::Job(j) => {
                let document = jobs::job_document(j);
                owners.insert(j.job.id.to_string(), document.clone());
                document
            }
            TransferRow::JobLog(l) => {
                let owner = owners.get(&l.job_id.to_string()).ok_or_else(|| StoreError::NotFound {
                    kind: "job",
                    id: format!("{} (of a copied log line)", l.job_id),
                })?;
                jobs::log_document(
                    owner,
                    codec::n(l.line.seq),
                    l.line.at,
                    l.line.level,
                    &l.line.message,
                    &l.line.fields,
                )?
            }
            TransferRow::AuditEvent(event) => {
                let head = derived.heads.entry(event.org_id.to_string()).or_default();
                *head = (*head).max(event.seq);
                audit::entry_document(event)?
            }
            TransferRow::AuditOutbox(o) => audit::outbox_document(o),
            TransferRow::Fence(f) => {
                derived.newest_term = derived.newest_term.max(Some(f.term));
                fence::history_document(f)
            }
            TransferRow::SiemCursor(c) => siem::cursor_document(c),
            TransferRow::AuditMark(m) => siem::mark_document(m),
        };
        let collection = layout(row.part()).0;
        match batches.last_mut() {
            Some((last, documents)) if *last == collection => documents.push(document),
            _ => batches.push((collection, vec![document])),
        }
    }
    for (collection, documents) in batches {
        store.collection(collection).insert_many(documents).session(&mut *session).await.map_err(|e| {
            if error::is_duplicate_key(&e) {
                Fail::Store(StoreError::AlreadyExists { kind: "copied row", key: format!("in {collection}") })
            } else {
                e.into()
            }
        })?;
    }
    write_derived(store, session, &derived).await
}

async fn write_derived(store: &MongoStore, session: &mut ClientSession, derived: &Derived<'_>) -> Result<(), Fail> {
    if let Some(org) = derived.first_org {
        let mut marker = organizations::setup_marker(org.id, org.created_at);
        let filter = doc! { "_id": marker.remove("_id").unwrap_or(Bson::Null) };
        store
            .collection(organizations::SETUP)
            .update_one(filter, doc! { "$setOnInsert": marker })
            .upsert(true)
            .session(&mut *session)
            .await?;
    }
    for (org, seq) in &derived.heads {
        audit::raise_head(store, session, org, *seq).await?;
    }
    if let Some(term) = derived.newest_term {
        fence::raise_newest(store, session, term).await?;
    }
    Ok(())
}

/// The stored jobs the log lines belong to, by id (what `jobs::log_document` copies from them).
async fn log_owners(
    store: &MongoStore,
    session: &mut ClientSession,
    logs: &[&JobLogRow],
) -> Result<HashMap<String, Document>, Fail> {
    if logs.is_empty() {
        return Ok(HashMap::new());
    }
    let mut ids: Vec<String> = logs.iter().map(|l| l.job_id.to_string()).collect();
    ids.sort();
    ids.dedup();
    let found: Vec<Document> = store
        .collection(jobs::JOBS)
        .find(doc! { "_id": { "$in": ids } })
        .projection(doc! { "kind": 1, "project_id": 1, "subject": 1 })
        .session(&mut *session)
        .await?
        .stream(&mut *session)
        .try_collect()
        .await?;
    Ok(found.into_iter().filter_map(|d| Some((d.get_str("_id").ok()?.to_owned(), d))).collect())
}
