//! The embedded backend: one SQLite file in WAL mode, safe for several processes on one host.
//! Writes go through this process's group-commit writer (`writer.rs`) and `BEGIN IMMEDIATE`, so they
//! serialize with other processes through SQLite's lock; reads use pooled connections on the blocking pool.
//! One file per concern implements that concern's trait (`organizations.rs`, `records/`, `jobs.rs`,
//! `fence.rs`, `audit.rs`, `sealed.rs`, `login.rs`, `siem.rs`, `health.rs`, and `transfer.rs` for `store copy`);
//! this file opens the store.

mod audit;
mod batch;
mod connection;
mod error;
mod fence;
mod health;
mod jobs;
mod login;
mod migrations;
mod organizations;
mod ownership;
mod read_pool;
mod records;
mod sealed;
mod siem;
mod stats;
mod transfer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;

use crate::clock::{Clock, SystemClock};
use crate::ids::OrgId;
use crate::store::{AuditWrite, RoundTrips, StoreError, WriteHealthTracker};
use crate::timestamp::Timestamp;

use self::audit as audit_log;
use self::connection::{ConnectionRole, open_connection};
use self::read_pool::ReadPool;
use self::writer::Writer;

pub use self::migrations::LATEST_VERSION as SCHEMA_VERSION;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// fsync on every commit: an acknowledged write survives power loss.
    Full,
    /// fsync at checkpoints only: the last commits may be lost on power loss, never corrupted.
    Normal,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub busy_timeout: Duration,
    pub synchronous: Synchronous,
    pub read_connections: usize,
    pub max_write_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Full,
            read_connections: 4,
            max_write_batch: 256,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<ReadPool>,
    clock: Arc<dyn Clock>,
    /// Organizations whose outbox just got rows, for this process's AuditActors.
    audit_signal: tokio::sync::broadcast::Sender<OrgId>,
    /// What this process's writes found about storage, for readiness and metrics.
    write_health: WriteHealthTracker,
    /// Statements run by this store's connections.
    round_trips: RoundTrips,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub async fn open(
        path: impl AsRef<Path>,
        options: SqliteOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, options, clock))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }

    pub fn open_blocking(path: &Path, options: SqliteOptions, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let round_trips = RoundTrips::default();
        let conn = open_connection(path, &options, ConnectionRole::Writer, &round_trips)?;
        migrations::migrate(&conn)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Writer::start(conn, options.max_write_batch),
            readers: Arc::new(ReadPool::new(path.to_path_buf(), options, round_trips.clone())),
            round_trips,
            clock,
            audit_signal: tokio::sync::broadcast::channel(256).0,
            write_health: WriteHealthTracker::default(),
        })
    }

    /// A store on a fresh file in `dir`, with the system clock: what tests and benches start from.
    pub async fn open_in(dir: &Path) -> Result<Self, StoreError> {
        Self::open(dir.join("certautopilot.db"), SqliteOptions::default(), Arc::new(SystemClock)).await
    }

    /// Statements this store has run, by verb.
    pub fn round_trips(&self) -> &RoundTrips {
        &self.round_trips
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(f).await
    }

    /// A read whose size the caller bounds (a record by key, one page, the small index range of the
    /// drifted): on the calling thread when a connection is idle (`ReadPool::read_bounded`).
    async fn read_bounded<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read_bounded(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let result = self.writer.write(f).await;
        self.write_health.observe(&result);
        result
    }

    /// Runs `f` and writes `audit`'s event to the outbox in the same transaction, then tells this
    /// process's AuditActors there is something to chain.
    async fn write_audited<T, F>(&self, audit: Option<AuditWrite>, now: Timestamp, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let org = audit.as_ref().map(|a| a.draft.org_id);
        let done = self
            .write(move |c| {
                let done = f(c)?;
                audit_log::enqueue(c, audit.as_ref(), now)?;
                Ok(done)
            })
            .await?;
        if let Some(org) = org {
            // Nobody listening (a CLI, a test) is fine: the rows wait in the outbox.
            let _ = self.audit_signal.send(org);
        }
        Ok(done)
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
