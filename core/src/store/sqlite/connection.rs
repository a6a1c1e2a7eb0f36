//! Opening a connection with the settings every connection of this store shares.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::store::round_trips::sql_verb;
use crate::store::sqlite::{SqliteOptions, Synchronous};
use crate::store::{RoundTrips, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionRole {
    Writer,
    Reader,
}

pub(crate) fn open_connection(
    path: &Path,
    options: &SqliteOptions,
    role: ConnectionRole,
    round_trips: &RoundTrips,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(options.busy_timeout)?;
    let synchronous = match options.synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    };
    // WAL lets readers and one writer (from any process on this host) proceed together.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Integrity(format!("cannot switch {} to WAL mode (got {mode})", path.display())));
    }
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    if role == ConnectionRole::Reader {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    // Every statement this connection starts counts as one trip to the database (after the
    // pragmas above, which are the connection's own set-up).
    let trips = round_trips.clone();
    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(move |event: rusqlite::trace::TraceEvent<'_>| {
            if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
                trips.record(&sql_verb(sql));
            }
        }),
    )?;
    Ok(conn)
}
