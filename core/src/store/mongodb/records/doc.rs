//! A record as a MongoDB document, and the scope filter every query on a record collection carries.
//! The record's own document stays the JSON text every backend stores (`doc`), so its bytes read
//! back unchanged; certificates also carry their expiry fields in the clear for the expiry query.
//! Invariant: `scope_filter` is the only place a query's organization and project come from.

use mongodb::bson::{Bson, Document, doc};

use crate::store::mongodb::codec::{self, Reader};
use crate::store::{RawRecord, RecordKind, RecordScope, StoreError};
use crate::timestamp::Timestamp;

/// The filter for `scope` on a collection of `kind`: the organization, and the project for
/// project records; a scope of the wrong level for the kind is refused.
pub(crate) fn scope_filter(scope: &RecordScope, kind: RecordKind) -> Result<Document, StoreError> {
    match (kind.is_project_scoped(), scope.project_id()) {
        (true, Some(project)) => Ok(doc! { "org_id": scope.org_id().to_string(), "project_id": project.to_string() }),
        (false, None) => Ok(doc! { "org_id": scope.org_id().to_string() }),
        _ => Err(StoreError::ScopeMismatch { kind: kind.name() }),
    }
}

fn opt_str(v: &Option<String>) -> Bson {
    v.as_ref().map_or(Bson::Null, |s| Bson::String(s.clone()))
}

/// The fields an update sets (everything but the id, owner, version and creation time).
pub(crate) fn mutable_fields(raw: &RawRecord, updated_at: Timestamp) -> Result<Document, StoreError> {
    let mut fields = doc! {
        "unique_key": opt_str(&raw.unique_key),
        "lookup_key": opt_str(&raw.lookup_key),
        "due_at": codec::opt_ts(raw.due_at),
        "updated_at": codec::ts(updated_at),
        "doc": &raw.doc,
    };
    if raw.kind == RecordKind::Certificate {
        fields.extend(certificate_expiry_fields(raw)?);
    }
    // The facts the overview counts by (`stats.rs`), status included.
    fields.extend(crate::store::mongodb::stats::fact_fields(raw.kind, &raw.id, &raw.doc)?);
    Ok(fields)
}

/// The whole document of a new record (version 1).
pub(crate) fn to_document(raw: &RawRecord) -> Result<Document, StoreError> {
    let mut document = doc! {
        "_id": &raw.id,
        "org_id": raw.org_id.to_string(),
        "project_id": raw.project_id.map_or(Bson::Null, |p| Bson::String(p.to_string())),
        "version": 1_i64,
        "created_at": codec::ts(raw.created_at),
    };
    document.extend(mutable_fields(raw, raw.created_at)?);
    Ok(document)
}

pub(crate) fn from_document(kind: RecordKind, document: &Document) -> Result<RawRecord, StoreError> {
    let r = Reader::new(document, kind.name());
    let id = r.str("_id")?.to_owned();
    let corrupt = |reason: &str| StoreError::Corrupt { kind: kind.name(), id: id.clone(), reason: reason.into() };
    Ok(RawRecord {
        kind,
        org_id: r.str("org_id")?.parse().map_err(|_| corrupt("bad org_id"))?,
        project_id: r.opt_str("project_id")?.map(str::parse).transpose().map_err(|_| corrupt("bad project_id"))?,
        version: r.u64("version")?,
        unique_key: r.opt_str("unique_key")?.map(str::to_owned),
        lookup_key: r.opt_str("lookup_key")?.map(str::to_owned),
        due_at: r.opt_ts("due_at")?,
        created_at: r.ts("created_at")?,
        updated_at: r.ts("updated_at")?,
        doc: r.str("doc")?.to_owned(),
        sealed: Vec::new(),
        id,
    })
}

/// A certificate's expiry and name in the clear (`cert_*`), read from its document: the expiry
/// listing filters and sorts on them (and on `cert_status`, a fact of `stats::fact_fields`), which
/// it cannot do inside the JSON text.
fn certificate_expiry_fields(raw: &RawRecord) -> Result<Document, StoreError> {
    #[derive(serde::Deserialize)]
    struct Expiry {
        common_name: String,
        not_after: Option<Timestamp>,
    }
    let expiry: Expiry = serde_json::from_str(&raw.doc).map_err(|e| StoreError::Corrupt {
        kind: raw.kind.name(),
        id: raw.id.clone(),
        reason: e.to_string(),
    })?;
    Ok(doc! {
        "cert_common_name": expiry.common_name,
        "cert_not_after": codec::opt_ts(expiry.not_after),
    })
}
