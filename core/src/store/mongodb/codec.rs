//! Field encodings shared by the concerns: instants as BSON 64-bit integers of Unix milliseconds
//! (ordered, exact), counters as 64-bit integers, and typed reads that fail as `Corrupt`.
//! Invariant: a value written by one of these reads back unchanged by its partner.

use mongodb::bson::{Bson, Document};

use crate::store::StoreError;
use crate::timestamp::Timestamp;

pub(super) fn ts(t: Timestamp) -> i64 {
    t.as_unix_millis()
}

pub(super) fn opt_ts(t: Option<Timestamp>) -> Bson {
    t.map_or(Bson::Null, |t| Bson::Int64(ts(t)))
}

/// A counter as BSON: MongoDB has no unsigned integers; values past `i64::MAX` never occur.
pub(super) fn n(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Reads stored documents of one kind, naming it in the error when a field is missing or mistyped.
pub(super) struct Reader<'a> {
    pub doc: &'a Document,
    pub kind: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(doc: &'a Document, kind: &'static str) -> Self {
        Reader { doc, kind }
    }

    fn corrupt(&self, field: &str, why: impl std::fmt::Display) -> StoreError {
        let id = match self.doc.get("_id") {
            Some(Bson::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => "?".into(),
        };
        StoreError::Corrupt { kind: self.kind, id, reason: format!("field {field}: {why}") }
    }

    pub fn str(&self, field: &str) -> Result<&'a str, StoreError> {
        self.doc.get_str(field).map_err(|e| self.corrupt(field, e))
    }

    pub fn opt_str(&self, field: &str) -> Result<Option<&'a str>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.corrupt(field, format!("expected a string, found {:?}", other.element_type()))),
        }
    }

    pub fn i64(&self, field: &str) -> Result<i64, StoreError> {
        match self.doc.get(field) {
            Some(Bson::Int64(v)) => Ok(*v),
            Some(Bson::Int32(v)) => Ok(i64::from(*v)),
            Some(other) => Err(self.corrupt(field, format!("expected an integer, found {:?}", other.element_type()))),
            None => Err(self.corrupt(field, "missing")),
        }
    }

    pub fn opt_i64(&self, field: &str) -> Result<Option<i64>, StoreError> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(_) => self.i64(field).map(Some),
        }
    }

    pub fn u64(&self, field: &str) -> Result<u64, StoreError> {
        let v = self.i64(field)?;
        u64::try_from(v).map_err(|_| self.corrupt(field, format!("negative counter {v}")))
    }

    pub fn ts(&self, field: &str) -> Result<Timestamp, StoreError> {
        self.i64(field).map(Timestamp::from_unix_millis)
    }

    pub fn opt_ts(&self, field: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.opt_i64(field)?.map(Timestamp::from_unix_millis))
    }
}
