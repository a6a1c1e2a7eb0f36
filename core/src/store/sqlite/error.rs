//! How SQLite's errors become the backend-neutral `StoreError`.
//! Invariant: storage refusals (`SQLITE_FULL`, which SQLite also answers for a write that met
//! `ENOSPC`, and `SQLITE_READONLY` with its extended codes) become `NotWritable`; every other SQLite
//! error becomes `Backend` with the SQLite error boxed as its source, so no caller sees rusqlite.

use rusqlite::ErrorCode;

use crate::store::{NotWritableReason, StoreError};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match not_writable_reason(&e) {
            Some(reason) => StoreError::NotWritable { reason, detail: e.to_string() },
            None => StoreError::backend(e),
        }
    }
}

/// Why storage refused the statement, if it did.
pub(crate) fn not_writable_reason(e: &rusqlite::Error) -> Option<NotWritableReason> {
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(NotWritableReason::Full),
        ErrorCode::ReadOnly => Some(NotWritableReason::ReadOnly),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_error(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    /// A full disk and a read-only database are storage refusals; a constraint violation or a
    /// busy lock is not, and keeps SQLite's error as the source without naming rusqlite in the type.
    #[test]
    fn storage_refusals_are_not_writable_and_the_rest_is_backend() {
        let full = StoreError::from(sqlite_error(rusqlite::ffi::SQLITE_FULL));
        assert!(matches!(full, StoreError::NotWritable { reason: NotWritableReason::Full, .. }), "{full:?}");
        assert!(!full.to_string().contains("integrity"), "{full}");
        let read_only = StoreError::from(sqlite_error(rusqlite::ffi::SQLITE_READONLY_DBMOVED));
        assert!(matches!(read_only, StoreError::NotWritable { reason: NotWritableReason::ReadOnly, .. }));
        let other = StoreError::from(sqlite_error(rusqlite::ffi::SQLITE_CONSTRAINT_CHECK));
        match other {
            StoreError::Backend { source } => assert!(source.downcast_ref::<rusqlite::Error>().is_some()),
            e => panic!("expected Backend, got {e:?}"),
        }
    }

    /// The file system's own refusals (`ENOSPC`, `EROFS`) are the same refusals when they reach the
    /// store as I/O errors (the writability probe, file copies).
    #[test]
    fn io_storage_errors_are_not_writable() {
        let enospc = StoreError::from(std::io::Error::from_raw_os_error(libc_enospc()));
        assert!(matches!(enospc, StoreError::NotWritable { reason: NotWritableReason::Full, .. }), "{enospc:?}");
        let other = StoreError::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(matches!(other, StoreError::Io(_)));
    }

    /// `ENOSPC` is 28 on every platform the service runs on (Linux, the BSDs, macOS).
    fn libc_enospc() -> i32 {
        28
    }
}
