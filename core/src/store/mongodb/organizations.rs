//! Organizations on MongoDB: their own collection, with their signing and audit keys sealed apart
//! like any record's (`store::org_doc`).
//! Invariant: the first organization is created only by the transaction that inserts the `setup`
//! marker (`{_id: "first_organization"}`), whose unique id lets exactly one of several nodes running
//! setup at once succeed; and only while no organization exists.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::ClientSession;
use mongodb::bson::{Document, doc};
use mongodb::options::ReturnDocument;

use crate::ids::OrgId;
use crate::model::{Organization, User};
use crate::scope::OrgScope;
use crate::store::mongodb::schema::CollectionIndexes;
use crate::store::mongodb::txn::Fail;
use crate::store::mongodb::{MongoStore, audit, codec, error, records, sealed};
use crate::store::{AuditWrite, OrganizationRow, Organizations, Record, RecordScope, StoreError, org_doc};

pub(super) const COLLECTION: &str = "organizations";
/// One document per deployment, inserted by first-run setup.
pub(super) const SETUP: &str = "setup";

/// Organizations are few and read by id: the primary key is all they need.
pub(super) fn indexes() -> Vec<CollectionIndexes> {
    Vec::new()
}

fn decode(document: &Document) -> Result<(String, u64, crate::timestamp::Timestamp, String), StoreError> {
    let r = codec::Reader::new(document, "organization");
    Ok((r.str("_id")?.to_owned(), r.u64("version")?, r.ts("updated_at")?, r.str("doc")?.to_owned()))
}

/// An organization's document as stored (`store copy` writes it back as it was).
pub(super) fn row_document(row: &OrganizationRow) -> Document {
    doc! {
        "_id": row.id.to_string(),
        "version": codec::n(row.version),
        "created_at": codec::ts(row.created_at),
        "updated_at": codec::ts(row.updated_at),
        "doc": &row.doc,
    }
}

pub(super) fn row_from(document: &Document) -> Result<OrganizationRow, StoreError> {
    let r = codec::Reader::new(document, "organization");
    let (id, version, updated_at, doc) = decode(document)?;
    let corrupt = || StoreError::Corrupt { kind: "organization", id: id.clone(), reason: "bad id".into() };
    Ok(OrganizationRow {
        id: id.parse().map_err(|_| corrupt())?,
        version,
        created_at: r.ts("created_at")?,
        updated_at,
        doc,
    })
}

/// The first-setup marker: once it exists, setup has been done on this deployment.
pub(super) fn setup_marker(org: OrgId, at: crate::timestamp::Timestamp) -> Document {
    doc! { "_id": "first_organization", "org_id": org.to_string(), "at": codec::ts(at) }
}

async fn insert(store: &MongoStore, session: &mut ClientSession, org: &Organization) -> Result<(), Fail> {
    let (doc, sealed_keys) = org_doc::split(org)?;
    let at = codec::ts(org.created_at);
    let document = doc! { "_id": org.id.to_string(), "version": 1_i64, "created_at": at, "updated_at": at, "doc": doc };
    store.collection(COLLECTION).insert_one(document).session(&mut *session).await.map_err(|e| {
        if error::is_duplicate_key(&e) {
            Fail::Store(StoreError::AlreadyExists { kind: "organization", key: format!("id {}", org.id) })
        } else {
            e.into()
        }
    })?;
    sealed::replace(store, session, org_doc::TABLE, &org.id.to_string(), &sealed_keys).await
}

impl MongoStore {
    async fn organization(&self, document: &Document) -> Result<Organization, StoreError> {
        let (id, version, updated_at, doc) = decode(document)?;
        let mut sealed = sealed::load_many(self, None, org_doc::TABLE, &[id.as_str()]).await?;
        org_doc::join(&id, &doc, version, updated_at, sealed.remove(&id).unwrap_or_default())
    }
}

#[async_trait]
impl Organizations for MongoStore {
    async fn create_first_organization(
        &self,
        org: &Organization,
        owner: &User,
        audit: Option<AuditWrite>,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let scope = RecordScope::from(&OrgScope::for_system("setup", org));
        let owner_raw = owner.to_raw(&scope)?;
        let signal = audit.as_ref().map(|a| a.draft.org_id);
        self.transact((self, org, scope, owner_raw, audit), |s, (store, org, scope, owner_raw, audit)| {
            Box::pin(async move {
                let already = || {
                    Fail::Store(StoreError::AlreadyExists { kind: "organization", key: "setup already done".into() })
                };
                if store.collection(COLLECTION).find_one(doc! {}).session(&mut *s).await?.is_some() {
                    return Err(already());
                }
                let marker = setup_marker(org.id, now);
                store
                    .collection(SETUP)
                    .insert_one(marker)
                    .session(&mut *s)
                    .await
                    .map_err(|e| if error::is_duplicate_key(&e) { already() } else { e.into() })?;
                insert(store, s, org).await?;
                records::insert(store, s, scope, std::slice::from_ref(owner_raw)).await?;
                audit::enqueue(store, s, audit.as_ref(), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(signal);
        Ok(())
    }

    async fn create_organization(&self, org: &Organization) -> Result<(), StoreError> {
        self.transact((self, org), |s, (store, org)| Box::pin(async move { insert(store, s, org).await })).await
    }

    async fn get_organization(&self, id: OrgId) -> Result<Organization, StoreError> {
        let found = self.collection(COLLECTION).find_one(doc! { "_id": id.to_string() }).await?;
        match found {
            Some(document) => self.organization(&document).await,
            None => Err(StoreError::NotFound { kind: "organization", id: id.to_string() }),
        }
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let documents: Vec<Document> =
            self.collection(COLLECTION).find(doc! {}).sort(doc! { "_id": 1 }).await?.try_collect().await?;
        let mut organizations = Vec::with_capacity(documents.len());
        for document in &documents {
            organizations.push(self.organization(document).await?);
        }
        Ok(organizations)
    }

    async fn update_organization(
        &self,
        org: &Organization,
        audit: Option<AuditWrite>,
    ) -> Result<Organization, StoreError> {
        let now = self.now();
        let signal = audit.as_ref().map(|a| a.draft.org_id);
        self.transact((self, org, audit), |s, (store, org, audit)| {
            Box::pin(async move {
                let (doc, sealed_keys) = org_doc::split(org)?;
                let updated = store
                    .collection(COLLECTION)
                    .find_one_and_update(
                        doc! { "_id": org.id.to_string(), "version": codec::n(org.version) },
                        doc! { "$set": { "doc": doc, "updated_at": codec::ts(now) }, "$inc": { "version": 1_i64 } },
                    )
                    .return_document(ReturnDocument::After)
                    .session(&mut *s)
                    .await?;
                if updated.is_none() {
                    let current = store
                        .collection(COLLECTION)
                        .find_one(doc! { "_id": org.id.to_string() })
                        .session(&mut *s)
                        .await?;
                    return Err(Fail::Store(match current {
                        None => StoreError::NotFound { kind: "organization", id: org.id.to_string() },
                        Some(current) => StoreError::Conflict {
                            kind: "organization",
                            id: org.id.to_string(),
                            expected: org.version,
                            actual: decode(&current)?.1,
                        },
                    }));
                }
                sealed::replace(store, s, org_doc::TABLE, &org.id.to_string(), &sealed_keys).await?;
                audit::enqueue(store, s, audit.as_ref(), now).await?;
                Ok(())
            })
        })
        .await?;
        self.signal_audit(signal);
        self.get_organization(org.id).await
    }
}
