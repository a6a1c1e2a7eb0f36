//! How the driver's errors become the backend-neutral `StoreError`, and the refusals at connect.
//! Invariant: no message built here holds the URI's password or a server's reply body beyond the
//! driver's own error text; an unreachable deployment is `Unavailable` (retryable), a full disk
//! `NotWritable`, everything else `Backend` with the driver's error boxed as its source.

use mongodb::Database;
use mongodb::bson::doc;
use mongodb::error::{Error, ErrorKind, WriteFailure};

use crate::store::{NotWritableReason, StoreError};

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("store.mongodb.uri {uri} is not a MongoDB connection string: {reason}")]
    Uri { uri: String, reason: String },
    #[error("cannot reach MongoDB: {0}")]
    Unreachable(String),
    /// Multi-document transactions need a replica set (or a sharded cluster).
    #[error(
        "MongoDB at this URI is a standalone server, and CertAutoPilot needs a replica set for multi-document \
         transactions; a one-node replica set is enough: start mongod with `--replSet rs0`, run \
         `rs.initiate()` once in mongosh, and add `?replicaSet=rs0` to store.mongodb.uri (docs/store.md)"
    )]
    NeedsReplicaSet,
    #[error("MongoDB {version} is too old: transactions need 4.0 or later (wire version 7)")]
    TooOld { version: String },
    #[error(transparent)]
    Store(StoreError),
}

impl ConnectError {
    pub(super) fn driver(e: Error) -> Self {
        ConnectError::Unreachable(describe(&e))
    }
}

/// The driver's message for `e`, one line.
pub(super) fn describe(e: &Error) -> String {
    e.kind.to_string().replace('\n', " ")
}

/// Asks the deployment what it is: a replica-set member or a mongos can run transactions; a
/// standalone server cannot.
pub(super) async fn require_replica_set(db: &Database) -> Result<(), ConnectError> {
    let hello = db.run_command(doc! { "hello": 1 }).await.map_err(ConnectError::driver)?;
    let wire = hello.get_i32("maxWireVersion").unwrap_or(0);
    if wire < 7 {
        return Err(ConnectError::TooOld { version: format!("with wire version {wire}") });
    }
    let replica_set = hello.get_str("setName").is_ok();
    let mongos = hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
    if replica_set || mongos { Ok(()) } else { Err(ConnectError::NeedsReplicaSet) }
}

/// MongoDB's code for a unique index refusing a document.
const DUPLICATE_KEY: i32 = 11000;
/// Two writers changed one document at once.
const WRITE_CONFLICT: i32 = 112;
/// The disk is full (`OutOfDiskSpace`).
const OUT_OF_DISK_SPACE: i32 = 14031;

/// The server error code of `e`, wherever the driver put it.
pub(super) fn code(e: &Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|errors| errors.first().map(|w| w.code))
            .or_else(|| m.write_concern_error.as_ref().map(|w| w.code)),
        ErrorKind::BulkWrite(b) => b.write_errors.values().next().map(|w| w.code),
        _ => None,
    }
}

/// Whether `e` is a unique index's refusal.
pub(super) fn is_duplicate_key(e: &Error) -> bool {
    code(e) == Some(DUPLICATE_KEY)
}

/// Whether `e` is a write conflict: another transaction holds a document this one writes.
pub(super) fn is_write_conflict(e: &Error) -> bool {
    code(e) == Some(WRITE_CONFLICT)
}

/// Whether `e` says the deployment could not be reached or chosen (it may be back soon).
pub(super) fn is_unavailable(e: &Error) -> bool {
    matches!(
        e.kind.as_ref(),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. }
    ) || e.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR)
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        if code(&e) == Some(OUT_OF_DISK_SPACE) {
            return StoreError::NotWritable { reason: NotWritableReason::Full, detail: describe(&e) };
        }
        if is_unavailable(&e) {
            return StoreError::Unavailable(describe(&e));
        }
        // A write conflict that escaped its transaction's retries (or a write outside one): the
        // same call can succeed once the other writer is done.
        if code(&e) == Some(WRITE_CONFLICT) {
            return StoreError::Busy;
        }
        StoreError::backend(e)
    }
}
