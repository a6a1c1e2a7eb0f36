//! The audit outbox and chain on MongoDB: the `AuditLog` concern, and the outbox row a state change
//! writes inside its own transaction (`enqueue`). The chain's HMACs are the AuditActor's (M1.4).
//! Invariant: per organization, `seq` is gap-free and appends are serialized across hosts: a chain
//! transaction moves the organization's head document from the `seq` it read, so two chainers
//! conflict on it (and the unique `(org_id, seq)` index refuses a repeat regardless); an outbox row
//! leaves only in the transaction that chains it.
//!
//! Layout:
//! - `audit_outbox` `{_id: outbox id (i64), org_id, at, draft: JSON text}`; `(org_id, _id)` serves
//!   `pending_audit`, oldest first. The draft stays text, as on SQLite, so a row that no longer
//!   decodes can still be recorded as it was stored.
//! - `audit_events` `{org_id, seq, at, action, project_id, object_id?, doc: JSON text}`: `doc` is the
//!   hashed entry; the other fields are what searches filter on, checked against `doc` on read.
//! - `audit_heads` `{_id: org_id, seq}`: the last chained `seq`, moved in every chain transaction.
//! - `audit_outbox_tags` `{_id: "next", n}`: hands each store object its outbox id tag, once.
//!
//! Outbox ids are `clock << 13 | tag`, 63 bits: `clock` is a logical clock per store object,
//! `max(previous + 1, now_millis << 8)` (strictly increasing, close to the commit time), `tag` a
//! number the store object takes from `audit_outbox_tags` the first time it writes (its value
//! modulo 2^13). Ids are unique across processes (two live store objects share a tag only after
//! 8,192 others started meanwhile; the outbox's `_id` would refuse a repeat even then) and ordered
//! by time to within the hosts' clock skew. A counter document would give a strict global order,
//! but every audited write of every organization would update that one document: a hot spot that
//! serializes all writers across hosts and turns their concurrency into transaction retries.
//! Nothing needs the strict order: the chain writer takes whatever is pending oldest first each
//! time, so a row whose transaction commits after a newer-numbered one's is chained next time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{ClientSession, IndexModel};

use crate::audit::{AuditDraft, PendingAudit, UnreadableDraft};
use crate::ids::OrgId;
use crate::model::AuditEvent;
use crate::scope::OrgScope;
use crate::store::mongodb::MongoStore;
use crate::store::mongodb::codec::{self, Reader};
use crate::store::mongodb::schema::{CollectionIndexes, index, unique};
use crate::store::mongodb::txn::Fail;
use crate::store::{AuditFilter, AuditLog, AuditWrite, OutboxRow, StoreError};
use crate::timestamp::Timestamp;

pub(super) const OUTBOX: &str = "audit_outbox";
pub(super) const EVENTS: &str = "audit_events";
pub(super) const HEADS: &str = "audit_heads";
const TAGS: &str = "audit_outbox_tags";

pub(super) fn indexes() -> Vec<CollectionIndexes> {
    // Only entries about an object carry `object_id`, so the timeline index holds those alone.
    let by_object = IndexModel::builder()
        .keys(doc! { "org_id": 1, "object_id": 1, "seq": 1 })
        .options(
            IndexOptions::builder()
                .name("audit_events_object".to_string())
                .partial_filter_expression(doc! { "object_id": { "$exists": true } })
                .build(),
        )
        .build();
    vec![
        CollectionIndexes {
            collection: OUTBOX,
            indexes: vec![index("audit_outbox_org", doc! { "org_id": 1, "_id": 1 })],
        },
        CollectionIndexes {
            collection: EVENTS,
            indexes: vec![
                // The chain's order and its gap-free guard: a repeated `seq` is refused here.
                unique("audit_events_seq", doc! { "org_id": 1, "seq": 1 }, None),
                // One per filter of `AuditFilter`, each ending in `seq` so a page comes in chain order.
                index("audit_events_project", doc! { "org_id": 1, "project_id": 1, "seq": 1 }),
                by_object,
                index("audit_events_action", doc! { "org_id": 1, "action": 1, "seq": 1 }),
                index("audit_events_at", doc! { "org_id": 1, "at": 1, "seq": 1 }),
            ],
        },
        CollectionIndexes { collection: HEADS, indexes: Vec::new() },
        CollectionIndexes { collection: TAGS, indexes: Vec::new() },
    ]
}

/// Bits of an outbox id below the logical clock: the store object's tag.
const TAG_BITS: u32 = 13;
/// Bits of the logical clock below the millisecond: ids a store object hands out in one
/// millisecond before it borrows from the next (the clock then runs a little ahead).
const SUB_MILLI_BITS: u32 = 8;
/// The largest clock that still leaves the id positive as an i64: 2^50, about the year 2109.
const MAX_CLOCK: u64 = (1 << (63 - TAG_BITS)) - 1;

/// Hands out this store object's outbox ids (see the module doc).
#[derive(Debug, Default)]
pub(super) struct OutboxIds {
    /// Taken from the store on the first write, not at connect: a store opened only to read (a
    /// verification with read-only credentials) never needs one.
    tag: tokio::sync::OnceCell<u64>,
    /// The last logical clock value handed out: `millis << SUB_MILLI_BITS | counter`.
    clock: AtomicU64,
}

impl OutboxIds {
    async fn next(&self, store: &MongoStore, now: Timestamp) -> Result<u64, StoreError> {
        let tag = *self.tag.get_or_try_init(|| take_tag(store)).await?;
        let millis = u64::try_from(now.as_unix_millis()).unwrap_or(0);
        let floor = millis.saturating_mul(1 << SUB_MILLI_BITS);
        let advance = |previous: u64| previous.saturating_add(1).max(floor);
        let previous = match self.clock.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| Some(advance(p))) {
            Ok(p) | Err(p) => p,
        };
        let clock = advance(previous);
        if clock > MAX_CLOCK {
            return Err(StoreError::InvalidRequest(format!("outbox id clock {clock} is past the year 2109")));
        }
        Ok(clock << TAG_BITS | tag)
    }
}

/// Takes the next tag from `audit_outbox_tags`. Outside any transaction: once per store object.
async fn take_tag(store: &MongoStore) -> Result<u64, StoreError> {
    let tags = store.collection(TAGS);
    // Two first writers may both try to create the document; the one refused finds it there.
    for _ in 0..2 {
        let taken = tags
            .find_one_and_update(doc! { "_id": "next" }, doc! { "$inc": { "n": 1_i64 } })
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await;
        match taken {
            Ok(Some(found)) => {
                let n = Reader::new(&found, "outbox id tag").u64("n")?;
                return Ok(n % (1 << TAG_BITS));
            }
            Ok(None) => {}
            Err(e) if super::error::is_duplicate_key(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Corrupt { kind: "outbox id tag", id: "next".into(), reason: "cannot be taken".into() })
}

#[async_trait]
impl AuditLog for MongoStore {
    async fn chain_audit(&self, events: Vec<AuditEvent>, drained: Vec<u64>) -> Result<(), StoreError> {
        self.transact((self, events, drained), |session, (store, events, drained)| {
            Box::pin(async move { chain(store, session, events, drained).await })
        })
        .await
    }

    async fn append_audit(&self, audit: AuditWrite) -> Result<u64, StoreError> {
        let org = audit.draft.org_id;
        let written = async {
            let (id, row) = outbox_row(self, &audit, self.now()).await?;
            self.collection(OUTBOX).insert_one(row).await?;
            Ok(id)
        }
        .await;
        let id = self.observed(written)?;
        self.signal_audit(Some(org));
        Ok(id)
    }

    async fn pending_audit(&self, org: OrgId, limit: usize) -> Result<Vec<PendingAudit>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows: Vec<Document> = self
            .collection(OUTBOX)
            .find(doc! { "org_id": org.to_string() })
            .sort(doc! { "_id": 1 })
            .limit(limit_of(limit))
            .await?
            .try_collect()
            .await?;
        rows.iter().map(|row| pending_row(row, org)).collect()
    }

    async fn pending_audit_orgs(&self) -> Result<Vec<(OrgId, u64)>, StoreError> {
        let pipeline = [doc! { "$group": { "_id": "$org_id", "n": { "$sum": 1 } } }, doc! { "$sort": { "_id": 1 } }];
        let groups: Vec<Document> = self.collection(OUTBOX).aggregate(pipeline).await?.try_collect().await?;
        let mut orgs = Vec::with_capacity(groups.len());
        for group in &groups {
            let reader = Reader::new(group, "audit outbox group");
            let count = reader.u64("n")?;
            // A row no organization can own must not stop the others' chaining; it is reported instead.
            match group.get_str("_id").ok().and_then(|org| org.parse::<OrgId>().ok()) {
                Some(org) => orgs.push((org, count)),
                None => tracing::error!(
                    org_id = ?group.get("_id"),
                    rows = count,
                    "audit outbox rows with a malformed organization id; left alone"
                ),
            }
        }
        Ok(orgs)
    }

    fn audit_outbox_signal(&self) -> tokio::sync::broadcast::Receiver<OrgId> {
        self.audit_signal.subscribe()
    }

    async fn archive_audit(
        &self,
        org: OrgId,
        expected_checkpoint: u64,
        through_seq: u64,
        checkpoint: &str,
        audit: AuditWrite,
    ) -> Result<(), StoreError> {
        let now = self.now();
        self.transact((self, checkpoint, audit), |s, (store, checkpoint, audit)| {
            Box::pin(async move {
                let marks = store.collection(super::siem::MARKS);
                let id = super::siem::mark_id(org, "checkpoint");
                let stored = marks.find_one(doc! { "_id": id.clone() }).session(&mut *s).await?;
                let current = stored.map(|d| Reader::new(&d, "audit checkpoint").u64("seq")).transpose()?.unwrap_or(0);
                if current != expected_checkpoint {
                    return Err(Fail::Store(StoreError::Conflict {
                        kind: "audit checkpoint",
                        id: org.to_string(),
                        expected: expected_checkpoint,
                        actual: current,
                    }));
                }
                let events = store.collection(EVENTS);
                let head = events
                    .find_one(doc! { "org_id": org.to_string() })
                    .sort(doc! { "seq": -1 })
                    .session(&mut *s)
                    .await?;
                let head_seq = head.map(|d| Reader::new(&d, "audit entry").u64("seq")).transpose()?.unwrap_or(0);
                if through_seq >= head_seq || through_seq <= current {
                    return Err(Fail::Store(StoreError::InvalidRequest(format!(
                        "cannot archive through seq {through_seq}: the head stays live and the checkpoint is at {current}"
                    ))));
                }
                events
                    .delete_many(doc! { "org_id": org.to_string(), "seq": { "$lte": codec::n(through_seq) } })
                    .session(&mut *s)
                    .await?;
                let update = doc! { "$set": {
                    "seq": codec::n(through_seq), "doc": checkpoint.to_owned(), "updated_at": codec::ts(now) } };
                marks.update_one(doc! { "_id": id }, update).upsert(true).session(&mut *s).await?;
                enqueue(store, s, Some(audit), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(Some(org));
        Ok(())
    }

    async fn audit_checkpoint(&self, org: OrgId) -> Result<Option<String>, StoreError> {
        let id = super::siem::mark_id(org, "checkpoint");
        let found = self.collection(super::siem::MARKS).find_one(doc! { "_id": id }).await?;
        found.map(|d| Reader::new(&d, "audit checkpoint").str("doc").map(str::to_owned)).transpose()
    }

    async fn audit_head(&self, org: OrgId) -> Result<Option<AuditEvent>, StoreError> {
        let found =
            self.collection(EVENTS).find_one(doc! { "org_id": org.to_string() }).sort(doc! { "seq": -1 }).await?;
        found.map(|entry| decode(org, &entry)).transpose()
    }

    async fn list_audit_events(
        &self,
        scope: &OrgScope,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let org = scope.org_id();
        let filter = doc! { "org_id": org.to_string(), "seq": { "$gt": codec::n(after_seq) } };
        let entries = self.find_events(filter, limit).await?;
        entries.iter().map(|entry| decode_checked(org, entry)).collect()
    }

    async fn search_audit_events(
        &self,
        scope: &OrgScope,
        filter: &AuditFilter,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let org = scope.org_id();
        let entries = self.find_events(search_filter(org, filter, after_seq), limit).await?;
        entries.iter().map(|entry| decode(org, entry)).collect()
    }
}

impl MongoStore {
    async fn find_events(&self, filter: Document, limit: usize) -> Result<Vec<Document>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let cursor = self.collection(EVENTS).find(filter).sort(doc! { "seq": 1 }).limit(limit_of(limit)).await?;
        Ok(cursor.try_collect().await?)
    }
}

/// A limit as the driver takes it (a positive i64; 0 would mean "no limit" to the server).
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).max(1)
}

/// Writes `audit`'s draft to the outbox inside the caller's transaction: the change and its event
/// commit together, and the organization's AuditActor chains it later. Returns the outbox id; the
/// caller signals the organization once its transaction has committed.
pub(super) async fn enqueue(
    store: &MongoStore,
    session: &mut ClientSession,
    audit: Option<&AuditWrite>,
    now: Timestamp,
) -> Result<Option<u64>, Fail> {
    let Some(audit) = audit else { return Ok(None) };
    let (id, row) = outbox_row(store, audit, now).await?;
    store.collection(OUTBOX).insert_one(row).session(&mut *session).await?;
    Ok(Some(id))
}

async fn outbox_row(store: &MongoStore, audit: &AuditWrite, now: Timestamp) -> Result<(u64, Document), StoreError> {
    let draft = serde_json::to_string(&audit.draft).map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
    let id = store.outbox_ids.next(store, now).await?;
    let row = OutboxRow { id, org_id: audit.draft.org_id.to_string(), at: now, draft };
    Ok((id, outbox_document(&row)))
}

/// An outbox row as stored.
pub(super) fn outbox_document(row: &OutboxRow) -> Document {
    doc! { "_id": codec::n(row.id), "org_id": &row.org_id, "at": codec::ts(row.at), "draft": &row.draft }
}

/// An outbox row as stored, its draft undecoded (`pending_row` decodes it).
pub(super) fn outbox_from(row: &Document) -> Result<OutboxRow, StoreError> {
    let reader = Reader::new(row, "audit outbox row");
    Ok(OutboxRow {
        id: reader.u64("_id")?,
        org_id: reader.str("org_id")?.to_owned(),
        at: reader.ts("at")?,
        draft: reader.str("draft")?.to_owned(),
    })
}

/// Moves `org`'s head up to `seq` (never down) inside the caller's transaction: for a chain
/// written without `chain` (copied in by `store copy`).
pub(super) async fn raise_head(
    store: &MongoStore,
    session: &mut ClientSession,
    org: &str,
    seq: u64,
) -> Result<(), Fail> {
    store
        .collection(HEADS)
        .update_one(doc! { "_id": org }, doc! { "$max": { "seq": codec::n(seq) } })
        .upsert(true)
        .session(&mut *session)
        .await?;
    Ok(())
}

/// An outbox row as `pending_audit` returns it. A draft that no longer decodes (or was written for
/// another organization) comes back with the reason and the stored text, so the writer records it
/// rather than stall on it.
fn pending_row(row: &Document, org: OrgId) -> Result<PendingAudit, StoreError> {
    let reader = Reader::new(row, "audit outbox row");
    let id = reader.u64("_id")?;
    let at = reader.ts("at")?;
    let draft = match row.get("draft") {
        Some(Bson::String(stored)) => serde_json::from_str::<AuditDraft>(stored)
            .map_err(|e| e.to_string())
            .and_then(|d| if d.org_id == org { Ok(d) } else { Err(format!("written for organization {}", d.org_id)) })
            .map_err(|reason| UnreadableDraft { reason, stored: stored.clone() }),
        other => Err(UnreadableDraft {
            reason: "the draft is not text".into(),
            stored: other.map(|b| b.clone().into_relaxed_extjson().to_string()).unwrap_or_default(),
        }),
    };
    Ok(PendingAudit { id, at, draft })
}

/// One organization's head as a chain transaction found it and moves it.
struct Head {
    org: OrgId,
    /// The last `seq` read (0: an empty chain).
    read: u64,
    /// Whether `read` came from the head document (else from the chain itself, or nothing).
    document: bool,
    next: u64,
}

/// Appends `events` to their chains and deletes the outbox rows they came from, all or nothing.
/// Another writer that got there first shows as `AuditSequence` (the head moved: its transaction
/// committed before this one read) or as a write conflict on the head document, retried by
/// `transact` and then seen as `AuditSequence`; a drained row that is gone is `AuditOutboxTaken`.
async fn chain(
    store: &MongoStore,
    session: &mut ClientSession,
    events: &[AuditEvent],
    drained: &[u64],
) -> Result<(), Fail> {
    if let Some(repeated) = first_repeat(drained) {
        return Err(StoreError::AuditOutboxTaken { id: repeated }.into());
    }
    let mut heads: Vec<Head> = Vec::new();
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        let position = match heads.iter().position(|h| h.org == event.org_id) {
            Some(position) => position,
            None => {
                let (read, document) = read_head(store, session, event.org_id).await?;
                heads.push(Head { org: event.org_id, read, document, next: read });
                heads.len() - 1
            }
        };
        let head = &mut heads[position];
        let expected = head.next + 1;
        if event.seq != expected {
            return Err(StoreError::AuditSequence { expected, got: event.seq }.into());
        }
        head.next = event.seq;
        entries.push(entry_document(event)?);
    }
    // The head first: a racing chainer conflicts here, before either has written its entries.
    for head in &heads {
        move_head(store, session, head).await?;
    }
    if !entries.is_empty() {
        store.collection(EVENTS).insert_many(entries).session(&mut *session).await.map_err(|e| {
            if super::error::is_duplicate_key(&e) {
                // The head document is behind entries already chained: damage, not a race.
                Fail::Store(StoreError::Corrupt {
                    kind: "audit head",
                    id: heads.first().map(|h| h.org.to_string()).unwrap_or_default(),
                    reason: "entries exist past the recorded head".into(),
                })
            } else {
                Fail::Driver(e)
            }
        })?;
    }
    if !drained.is_empty() {
        let ids: Vec<i64> = drained.iter().map(|id| codec::n(*id)).collect();
        let deleted =
            store.collection(OUTBOX).delete_many(doc! { "_id": { "$in": ids } }).session(&mut *session).await?;
        if deleted.deleted_count != drained.len() as u64 {
            let gone = gone_row(store, drained).await?;
            return Err(StoreError::AuditOutboxTaken { id: gone }.into());
        }
    }
    Ok(())
}

/// The first id `drained` names twice: a row can leave the outbox once only.
fn first_repeat(drained: &[u64]) -> Option<u64> {
    let mut seen = HashSet::with_capacity(drained.len());
    drained.iter().copied().find(|id| !seen.insert(*id))
}

/// Which drained row is gone, read outside the transaction (inside it, this transaction's own
/// deletes hide them all). Rows only ever leave the outbox, so one missing now was missing then
/// or was taken since; if all are back somehow, the first is named.
async fn gone_row(store: &MongoStore, drained: &[u64]) -> Result<u64, StoreError> {
    let ids: Vec<i64> = drained.iter().map(|id| codec::n(*id)).collect();
    let present: Vec<Document> = store
        .collection(OUTBOX)
        .find(doc! { "_id": { "$in": ids } })
        .projection(doc! { "_id": 1 })
        .await?
        .try_collect()
        .await?;
    let present: HashSet<i64> = present.iter().filter_map(|d| d.get_i64("_id").ok()).collect();
    Ok(drained.iter().copied().find(|id| !present.contains(&codec::n(*id))).unwrap_or(drained[0]))
}

/// The organization's last chained `seq` inside the transaction, and whether a head document
/// holds it: the head document, or, for a chain written without one (copied in by `store copy`),
/// its last entry (0 for none).
async fn read_head(store: &MongoStore, session: &mut ClientSession, org: OrgId) -> Result<(u64, bool), Fail> {
    let head = store.collection(HEADS).find_one(doc! { "_id": org.to_string() }).session(&mut *session).await?;
    if let Some(head) = head {
        return Ok((Reader::new(&head, "audit head").u64("seq")?, true));
    }
    let last = store
        .collection(EVENTS)
        .find_one(doc! { "org_id": org.to_string() })
        .sort(doc! { "seq": -1 })
        .projection(doc! { "seq": 1 })
        .session(&mut *session)
        .await?;
    let seq = last.map(|last| Reader::new(&last, "audit event").u64("seq")).transpose()?;
    Ok((seq.unwrap_or(0), false))
}

/// Moves the head from what this transaction read to its last new entry. A concurrent chainer's
/// transaction writes the same document, so one of the two gets a write conflict.
async fn move_head(store: &MongoStore, session: &mut ClientSession, head: &Head) -> Result<(), Fail> {
    let heads = store.collection(HEADS);
    let org = head.org.to_string();
    let seq = codec::n(head.next);
    let expected = head.read + 1;
    if head.document {
        let moved = heads
            .update_one(doc! { "_id": &org, "seq": codec::n(head.read) }, doc! { "$set": { "seq": seq } })
            .session(&mut *session)
            .await?;
        if moved.matched_count != 1 {
            return Err(StoreError::AuditSequence { expected, got: expected }.into());
        }
        return Ok(());
    }
    match heads.insert_one(doc! { "_id": &org, "seq": seq }).session(&mut *session).await {
        Ok(_) => Ok(()),
        // A first chainer that committed after this transaction's snapshot: a race, as above.
        Err(e) if super::error::is_duplicate_key(&e) => {
            Err(StoreError::AuditSequence { expected, got: expected }.into())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn entry_document(event: &AuditEvent) -> Result<Document, StoreError> {
    let doc = serde_json::to_string(event).map_err(|e| StoreError::InvalidRequest(e.to_string()))?;
    let mut entry = doc! {
        "org_id": event.org_id.to_string(),
        "seq": codec::n(event.seq),
        "at": codec::ts(event.at),
        "action": &event.action,
        "project_id": event.project_id.map_or(Bson::Null, |p| Bson::String(p.to_string())),
        "doc": doc,
    };
    // Left out rather than null, so the partial index holds only entries about an object.
    if let Some(object) = &event.object {
        entry.insert("object_id", &object.id);
    }
    Ok(entry)
}

fn search_filter(org: OrgId, filter: &AuditFilter, after_seq: u64) -> Document {
    let mut query = doc! { "org_id": org.to_string(), "seq": { "$gt": codec::n(after_seq) } };
    if let Some(project) = filter.project_id {
        query.insert("project_id", project.to_string());
    }
    if let Some(object) = &filter.object_id {
        query.insert("object_id", object);
    }
    if let Some(action) = &filter.action {
        query.insert("action", action);
    }
    let mut at = Document::new();
    if let Some(from) = filter.from {
        at.insert("$gte", codec::ts(from));
    }
    if let Some(until) = filter.until {
        at.insert("$lt", codec::ts(until));
    }
    if !at.is_empty() {
        query.insert("at", at);
    }
    query
}

/// The hashed entry of a stored chain document.
pub(super) fn decode(org: OrgId, entry: &Document) -> Result<AuditEvent, StoreError> {
    let reader = Reader::new(entry, "audit event");
    let seq = reader.u64("seq")?;
    let doc = reader.str("doc")?;
    serde_json::from_str(doc).map_err(|e| StoreError::CorruptAuditEntry { org, seq, reason: e.to_string() })
}

/// The entry, checked against the fields stored beside it (what searches filter on, outside the
/// HMAC): an entry whose fields were edited, or that was moved to another `seq`, is damaged.
fn decode_checked(org: OrgId, entry: &Document) -> Result<AuditEvent, StoreError> {
    let event = decode(org, entry)?;
    let reader = Reader::new(entry, "audit event");
    let seq = reader.u64("seq")?;
    if event.seq != seq {
        let reason = format!("it was hashed as seq {} (entries moved)", event.seq);
        return Err(StoreError::CorruptAuditEntry { org, seq, reason });
    }
    let agrees = event.org_id == org
        && reader.i64("at")? == codec::ts(event.at)
        && reader.str("action")? == event.action
        && reader.opt_str("project_id")?.map(str::to_owned) == event.project_id.map(|p| p.to_string())
        && reader.opt_str("object_id")? == event.object.as_ref().map(|o| o.id.as_str());
    if !agrees {
        let reason = "its indexed fields disagree with the hashed entry".into();
        return Err(StoreError::CorruptAuditEntry { org, seq, reason });
    }
    Ok(event)
}
