//! Each node's Raft log, vote and state machine, in one SQLite file on the node's own disk (not the
//! shared store: a node's vote must survive the node, and must not depend on anything the others
//! can reach). WAL with `synchronous=FULL`, so a vote or an entry openraft was told is durable is.

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, RaftSnapshotBuilder, Vote,
};
use rusqlite::{Connection, OptionalExtension, params};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::types::{Command, CommandResponse, Entry, Epoch, LogId, NodeId, StorageError, StoredMembership, TypeConfig};

/// The state machine's whole state: small enough that a snapshot is its JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMachineData {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
    pub epoch: Option<Epoch>,
}

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, crate::types::Node>,
    data: Vec<u8>,
}

type Db = Arc<Mutex<Connection>>;

/// Opens (creating if needed) the node's Raft database and returns its log store and state machine.
pub fn open(path: &Path) -> Result<(LogStore, StateMachine), crate::ClusterError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         CREATE TABLE IF NOT EXISTS raft_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
         CREATE TABLE IF NOT EXISTS raft_log (idx INTEGER PRIMARY KEY, entry TEXT NOT NULL);",
    )?;
    let data: StateMachineData =
        get_meta(&conn, "state_machine").map_err(|e| crate::ClusterError::Storage(Box::new(e)))?.unwrap_or_default();
    let db = Arc::new(Mutex::new(conn));
    Ok((LogStore { db: db.clone() }, StateMachine { db, data: Arc::new(RwLock::new(data)), snapshots_built: 0 }))
}

fn lock(db: &Db) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite consistent (each statement is atomic).
    db.lock().unwrap_or_else(|p| p.into_inner())
}

fn storage_error(subject: ErrorSubject<NodeId>, verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    io_error(subject, verb, AnyError::new(&e))
}

fn io_error(subject: ErrorSubject<NodeId>, verb: ErrorVerb, source: AnyError) -> StorageError {
    StorageError::IO { source: openraft::StorageIOError::new(subject, verb, source) }
}

fn get_meta<T: DeserializeOwned>(conn: &Connection, key: &str) -> Result<Option<T>, StorageError> {
    let read = |e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e);
    let value: Option<String> =
        conn.query_row("SELECT value FROM raft_meta WHERE key = ?1", [key], |r| r.get(0)).optional().map_err(read)?;
    value
        .map(|v| serde_json::from_str(&v))
        .transpose()
        .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))
}

fn put_meta<T: Serialize>(conn: &Connection, key: &str, value: &T) -> Result<(), rusqlite::Error> {
    let json = serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO raft_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, json],
    )?;
    Ok(())
}

fn sql_index(i: u64) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

/// The log and the vote.
#[derive(Clone)]
pub struct LogStore {
    db: Db,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        let conn = lock(&self.db);
        let read = |e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e);
        let mut stmt = conn
            .prepare_cached("SELECT entry FROM raft_log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")
            .map_err(read)?;
        let rows =
            stmt.query_map(params![sql_index(start), sql_index(end)], |r| r.get::<_, String>(0)).map_err(read)?;
        let mut entries = Vec::new();
        for row in rows {
            let json = row.map_err(read)?;
            entries
                .push(serde_json::from_str(&json).map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let conn = lock(&self.db);
        let last_purged_log_id: Option<LogId> = get_meta(&conn, "last_purged")?;
        let last: Option<String> = conn
            .query_row("SELECT entry FROM raft_log ORDER BY idx DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        let last_log_id = match last {
            Some(json) => {
                let entry: Entry =
                    serde_json::from_str(&json).map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Read, e))?;
                Some(entry.log_id)
            }
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        put_meta(&lock(&self.db), "vote", vote).map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        get_meta(&lock(&self.db), "vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        put_meta(&lock(&self.db), "committed", &committed)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(get_meta::<Option<LogId>>(&lock(&self.db), "committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let result = {
            let mut conn = lock(&self.db);
            append_all(&mut conn, entries)
        };
        match result {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        lock(&self.db)
            .execute("DELETE FROM raft_log WHERE idx >= ?1", [sql_index(log_id.index)])
            .map(|_| ())
            .map_err(|e| storage_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut conn = lock(&self.db);
        let purge = |conn: &mut Connection| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            put_meta(&tx, "last_purged", &log_id)?;
            tx.execute("DELETE FROM raft_log WHERE idx <= ?1", [sql_index(log_id.index)])?;
            tx.commit()
        };
        purge(&mut conn).map_err(|e| storage_error(ErrorSubject::Log(log_id), ErrorVerb::Delete, e))
    }
}

fn append_all(conn: &mut Connection, entries: impl IntoIterator<Item = Entry>) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached("INSERT OR REPLACE INTO raft_log (idx, entry) VALUES (?1, ?2)")?;
        for entry in entries {
            let json =
                serde_json::to_string(&entry).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            stmt.execute(params![sql_index(entry.log_id.index), json])?;
        }
    }
    tx.commit()
}

/// The applied state: membership and the fencing epoch, persisted with every applied batch.
pub struct StateMachine {
    db: Db,
    data: Arc<RwLock<StateMachineData>>,
    snapshots_built: u64,
}

impl StateMachine {
    /// A live view of the applied state, for the leadership watch and `cluster status`.
    pub fn shared(&self) -> Arc<RwLock<StateMachineData>> {
        self.data.clone()
    }

    fn persist(&self, data: &StateMachineData) -> Result<(), StorageError> {
        put_meta(&lock(&self.db), "state_machine", data)
            .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Write, e))
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let data = self.data.read().unwrap_or_else(|p| p.into_inner());
        Ok((data.last_applied, data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut next = self.data.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut responses = Vec::new();
        for entry in entries {
            next.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(Command::Lead { node, term }) => {
                    // A late entry of an older term never moves the epoch back.
                    if next.epoch.is_none_or(|e| e.term <= term) {
                        next.epoch = Some(Epoch { term, node });
                    }
                }
                EntryPayload::Membership(m) => next.membership = StoredMembership::new(Some(entry.log_id), m),
            }
            responses.push(CommandResponse { epoch: next.epoch });
        }
        self.persist(&next)?;
        *self.data.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        SnapshotBuilder { db: self.db.clone(), data: self.data.clone(), seq: self.snapshots_built }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, crate::types::Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let signature = Some(meta.signature());
        let mut data: StateMachineData = serde_json::from_slice(&bytes)
            .map_err(|e| io_error(ErrorSubject::Snapshot(signature.clone()), ErrorVerb::Read, AnyError::new(&e)))?;
        data.last_applied = meta.last_log_id;
        data.membership = meta.last_membership.clone();
        {
            let conn = lock(&self.db);
            put_meta(&conn, "snapshot", &StoredSnapshot { meta: meta.clone(), data: bytes })
                .and_then(|()| put_meta(&conn, "state_machine", &data))
                .map_err(|e| io_error(ErrorSubject::Snapshot(signature), ErrorVerb::Write, AnyError::new(&e)))?;
        }
        *self.data.write().unwrap_or_else(|p| p.into_inner()) = data;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored: Option<StoredSnapshot> = get_meta(&lock(&self.db), "snapshot")?;
        Ok(stored.map(|s| Snapshot { meta: s.meta, snapshot: Box::new(Cursor::new(s.data)) }))
    }
}

pub struct SnapshotBuilder {
    db: Db,
    data: Arc<RwLock<StateMachineData>>,
    seq: u64,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let data = self.data.read().unwrap_or_else(|p| p.into_inner()).clone();
        let bytes =
            serde_json::to_vec(&data).map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        let snapshot_id = match data.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, self.seq),
            None => format!("none-{}", self.seq),
        };
        let meta =
            SnapshotMeta { last_log_id: data.last_applied, last_membership: data.membership.clone(), snapshot_id };
        put_meta(&lock(&self.db), "snapshot", &StoredSnapshot { meta: meta.clone(), data: bytes.clone() }).map_err(
            |e| io_error(ErrorSubject::Snapshot(Some(meta.signature())), ErrorVerb::Write, AnyError::new(&e)),
        )?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
        async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
            let dir = tempfile::tempdir().expect("temporary directory");
            let (log, sm) = open(&dir.path().join("raft.db")).expect("open raft db");
            Ok((dir, log, sm))
        }
    }

    /// openraft's own conformance suite for log stores and state machines.
    #[test]
    fn passes_the_openraft_storage_suite() {
        Suite::test_all(Builder).unwrap();
    }

    /// What was written survives a reopen: the vote, the log and the applied state.
    #[tokio::test]
    async fn vote_log_and_state_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.db");
        let vote = Vote::new(7, 2);
        {
            let (mut log, mut sm) = open(&path).unwrap();
            log.save_vote(&vote).await.unwrap();
            let entry = Entry {
                log_id: LogId::new(openraft::CommittedLeaderId::new(7, 2), 1),
                payload: EntryPayload::Normal(Command::Lead { node: 2, term: 7 }),
            };
            append_all(&mut lock(&log.db), [entry.clone()]).unwrap();
            sm.apply([entry]).await.unwrap();
        }
        let (mut log, sm) = open(&path).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(vote));
        assert_eq!(log.get_log_state().await.unwrap().last_log_id.map(|l| l.index), Some(1));
        assert_eq!(sm.shared().read().unwrap().epoch, Some(Epoch { term: 7, node: 2 }));
    }
}
