//! An organization as every backend stores it: the document without its sealed keys, which live
//! apart in the sealed values like any record's (so a KEK rotation re-wraps them too).
//! Invariant: `split` and `attach` are inverses; no backend stores a key inside the document.

use crate::model::{Organization, SealedSecret};
use crate::store::StoreError;

/// Where the organization's sealed values live, and their fields.
pub(crate) const TABLE: &str = "organizations";
const SIGNING_KEY_FIELD: &str = "jwt_signing_key";
const AUDIT_SECRET_FIELD: &str = "audit_secret";

/// The organization's document (JSON) without its sealed keys, and the keys apart.
pub(crate) fn split(org: &Organization) -> Result<(String, Vec<(String, SealedSecret)>), StoreError> {
    let mut bare = org.clone();
    let mut sealed = Vec::new();
    if let Some(k) = bare.jwt_signing_key.take() {
        sealed.push((SIGNING_KEY_FIELD.to_owned(), k));
    }
    if let Some(k) = bare.audit_secret.take() {
        sealed.push((AUDIT_SECRET_FIELD.to_owned(), k));
    }
    Ok((serde_json::to_string(&bare).map_err(|e| StoreError::InvalidRequest(e.to_string()))?, sealed))
}

/// The organization stored as `doc` at `version`, with its sealed keys put back.
pub(crate) fn join(
    id: &str,
    doc: &str,
    version: u64,
    updated_at: crate::timestamp::Timestamp,
    sealed: Vec<(String, SealedSecret)>,
) -> Result<Organization, StoreError> {
    let mut org: Organization = serde_json::from_str(doc).map_err(|e| StoreError::Corrupt {
        kind: "organization",
        id: id.to_owned(),
        reason: e.to_string(),
    })?;
    org.version = version;
    org.updated_at = updated_at;
    for (field, value) in sealed {
        match field.as_str() {
            SIGNING_KEY_FIELD => org.jwt_signing_key = Some(value),
            AUDIT_SECRET_FIELD => org.audit_secret = Some(value),
            _ => {}
        }
    }
    Ok(org)
}
