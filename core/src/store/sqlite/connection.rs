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
    // The query planner stability guarantee: without it, a statement whose plan weighed a partial
    // index (`… WHERE unique_key IS NOT NULL`) against a bound parameter is marked to be planned
    // again whenever that parameter is bound, so every cached list statement was parsed and planned
    // anew on each call (a tenth of the CPU of the 50-certificate list, issue 16). Our partial
    // indexes are chosen by literals in the SQL and by `IS NOT NULL`, which the guarantee keeps.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.set_prepared_statement_cache_capacity(64);
    // Every statement this connection starts counts as one trip to the database (after the
    // pragmas above, which are the connection's own set-up), except a reader's `BEGIN` and
    // `COMMIT`: they only bracket each read's statements in one snapshot (`read_pool.rs`) and read
    // nothing themselves. The writer's are counted: `BEGIN IMMEDIATE` takes the write lock.
    let trips = round_trips.clone();
    let reader = role == ConnectionRole::Reader;
    conn.trace_v2(
        rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT,
        Some(move |event: rusqlite::trace::TraceEvent<'_>| {
            if let rusqlite::trace::TraceEvent::Stmt(_, sql) = event {
                let verb = sql_verb(sql);
                if !(reader && matches!(verb.as_str(), "begin" | "commit" | "rollback")) {
                    trips.record(&verb);
                }
            }
        }),
    )?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A cached statement over a table with partial indexes, bound to new values on every call as a
    /// project's list is, runs without being prepared again; and the partial indexes stay in use.
    #[tokio::test]
    async fn cached_statements_are_not_planned_again_when_rebound() {
        let dir = tempfile::tempdir().unwrap();
        drop(SqliteStore::open_in(dir.path()).await.unwrap());
        let path = dir.path().join("certautopilot.db");
        let conn =
            open_connection(&path, &SqliteOptions::default(), ConnectionRole::Reader, &RoundTrips::default()).unwrap();
        let sql = "SELECT id FROM certificates WHERE org_id = ? AND project_id = ? ORDER BY id LIMIT 51";
        for project in ["p1", "p2", "p3"] {
            let mut stmt = conn.prepare_cached(sql).unwrap();
            let rows: Vec<String> =
                stmt.query_map(["org", project], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
            assert!(rows.is_empty());
        }
        assert_eq!(conn.prepare_cached(sql).unwrap().get_status(StatementStatus::RePrepare), 0);

        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<String> = stmt.query_map([1], |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
            rows.join("; ")
        };
        let due = plan("SELECT id FROM certificates WHERE due_at <= ?1 ORDER BY due_at, id");
        assert!(due.contains("certificates_due"), "{due}");
        let waiting = plan("SELECT id FROM jobs WHERE status IN ('queued', 'failed') AND subject = ?1");
        assert!(waiting.contains("jobs_waiting_subject") || waiting.contains("jobs_subject"), "{waiting}");
    }
}
