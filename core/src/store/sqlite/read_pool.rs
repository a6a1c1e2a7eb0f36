//! Read connections, reused across calls. WAL mode lets them read while the writer (of this or another
//! process) writes; each read runs on the blocking pool so no async worker waits on the disk.
//! Invariant: at most `read_connections` reads run at once, one per pooled connection; a further read
//! waits (asynchronously, holding no thread) for a connection to come back. Opening a connection costs
//! far more than a short read (file handles, pragmas, parsing the whole schema, an empty page cache and
//! statement cache), so a pool that opened a throw-away connection whenever its idle ones were busy
//! spent most of a busy list request opening and closing connections (issue 16, item 6).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::store::sqlite::SqliteOptions;
use crate::store::sqlite::connection::{ConnectionRole, open_connection};
use crate::store::{RoundTrips, StoreError};

pub(crate) struct ReadPool {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection the pool may hold.
    permits: Arc<Semaphore>,
    round_trips: RoundTrips,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, options: SqliteOptions, round_trips: RoundTrips) -> Self {
        let permits = Arc::new(Semaphore::new(options.read_connections.max(1)));
        ReadPool { path, options, idle: Mutex::new(Vec::new()), permits, round_trips }
    }

    /// Runs `f` on a pooled connection on the blocking pool, once a connection is free.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        let pool = Arc::clone(self);
        // The permit travels with the work, so a caller that stops waiting does not free the
        // connection's slot while the connection is still in use.
        tokio::task::spawn_blocking(move || {
            let result = pool.with(f);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            // Only until the pool holds its `read_connections`: the permits keep every later read
            // on a connection opened before.
            None => open_connection(&self.path, &self.options, ConnectionRole::Reader, &self.round_trips)?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.options.read_connections {
            idle.push(conn);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Many more concurrent reads than pooled connections: never more than `read_connections` run at
    /// once, each gets a connection, and the pool ends holding exactly that many (none thrown away).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_wait_for_a_pooled_connection_instead_of_opening_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.db");
        let options = SqliteOptions { read_connections: 2, ..SqliteOptions::default() };
        drop(open_connection(&path, &options, ConnectionRole::Writer, &RoundTrips::default()).unwrap());
        let pool = Arc::new(ReadPool::new(path, options, RoundTrips::default()));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = (0..32).map(|_| {
            let (pool, running, most) = (Arc::clone(&pool), Arc::clone(&running), Arc::clone(&most));
            tokio::spawn(async move {
                pool.read(move |conn| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    let one: i64 = conn.query_row("SELECT 1", [], |r| r.get(0))?;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(one)
                })
                .await
            })
        });
        for read in reads.collect::<Vec<_>>() {
            assert_eq!(read.await.unwrap().unwrap(), 1);
        }
        assert!(most.load(Ordering::SeqCst) <= 2, "{} reads ran at once", most.load(Ordering::SeqCst));
        assert_eq!(pool.idle.lock().unwrap().len(), 2);
    }
}
