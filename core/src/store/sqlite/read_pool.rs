//! Read connections, reused across calls. WAL mode lets them read while the writer (of this or another
//! process) writes.
//! Invariant: at most `read_connections` reads run at once, one per pooled connection; a further read
//! waits (asynchronously, holding no thread) for a connection to come back. Each read runs in one
//! read transaction: all of its statements see one snapshot. Opening a connection costs
//! far more than a short read (file handles, pragmas, parsing the whole schema, an empty page cache and
//! statement cache), so a pool that opened a throw-away connection whenever its idle ones were busy
//! spent most of a busy list request opening and closing connections (issue 16, item 6).
//!
//! Two kinds of read, told apart by the caller: a *bounded* read (a record by key, one page of at
//! most `MAX_PAGE_SIZE` records, an index range known to be small) runs on the calling thread when a
//! pooled connection is idle, because handing it to the blocking pool cost more than running it (two
//! thread wake-ups each way; with five such reads per authenticated list request the hand-offs were a
//! quarter of its CPU, issue 16). Every other read (exports, walks, statistics, anything whose size
//! the data decides) runs on the blocking pool, so no async worker waits on it; so does a bounded read
//! that finds no idle connection, since opening one is itself slow.

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

    /// Runs a bounded read `f` on the calling thread if a pooled connection is idle now; otherwise as
    /// `read` does. A panic in `f` is an error here as it is on the blocking pool.
    pub(crate) async fn read_bounded<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else { return self.read(f).await };
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let Some(conn) = pooled else {
            drop(permit);
            return self.read(f).await;
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| in_snapshot(&conn, f)));
        // A connection whose read panicked may hold an open statement: it is not pooled again.
        let result = match result {
            Ok(result) => {
                self.give_back(conn);
                result
            }
            Err(_) => Err(StoreError::Io(std::io::Error::other("a read panicked"))),
        };
        drop(permit);
        result
    }

    /// Pools `conn` again unless it is full or `conn` is still inside a transaction (its end
    /// failed), which the next read's `BEGIN` would refuse.
    fn give_back(&self, conn: Connection) {
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.options.read_connections {
            idle.push(conn);
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
            // Only until the pool holds its `read_connections`: the permits keep every later read
            // on a connection opened before.
            None => open_connection(&self.path, &self.options, ConnectionRole::Reader, &self.round_trips)?,
        };
        let result = in_snapshot(&conn, f);
        self.give_back(conn);
        result
    }
}

/// Runs `f` in one read transaction, so every statement it runs sees the same snapshot: in WAL
/// mode each statement outside a transaction takes its own, and a record and its sealed values read
/// by two statements could come from two different commits (a version of a certificate beside
/// another version's key). Ending a read transaction keeps nothing either way.
fn in_snapshot<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let result = f(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn.prepare_cached(end).and_then(|mut statement| statement.execute([]));
    match (result, ended) {
        (Ok(_), Err(e)) => Err(e.into()),
        (result, _) => result,
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

    fn pool_with(connections: usize) -> (tempfile::TempDir, Arc<ReadPool>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pool.db");
        let options = SqliteOptions { read_connections: connections, ..SqliteOptions::default() };
        drop(open_connection(&path, &options, ConnectionRole::Writer, &RoundTrips::default()).unwrap());
        (dir, Arc::new(ReadPool::new(path, options, RoundTrips::default())))
    }

    fn thread_of(conn: &Connection) -> Result<std::thread::ThreadId, StoreError> {
        conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?;
        Ok(std::thread::current().id())
    }

    /// A bounded read runs where it is asked once a connection is pooled; the very first opens its
    /// connection on the blocking pool (opening is slow), and the connection is pooled after both.
    #[tokio::test(flavor = "current_thread")]
    async fn a_bounded_read_runs_on_the_calling_thread_when_a_connection_is_idle() {
        let (_dir, pool) = pool_with(2);
        let here = std::thread::current().id();
        assert_ne!(pool.read_bounded(thread_of).await.unwrap(), here, "the first read opens on the pool");
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
        assert_eq!(pool.read_bounded(thread_of).await.unwrap(), here);
        assert_eq!(pool.read_bounded(thread_of).await.unwrap(), here);
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "the same connection, given back each time");
        assert_ne!(pool.read(thread_of).await.unwrap(), here, "an unbounded read stays on the blocking pool");
    }

    /// With every connection busy, a bounded read waits for one like any read (never a second
    /// connection beyond the pool's), and does not hold the caller's thread while it waits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bounded_read_waits_for_a_busy_pool_without_holding_its_thread() {
        let (_dir, pool) = pool_with(1);
        pool.read(thread_of).await.unwrap();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = tokio::spawn({
            let pool = Arc::clone(&pool);
            async move {
                pool.read(move |conn| {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    thread_of(conn)
                })
                .await
            }
        });
        started_rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the busy read started");
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiting = tokio::spawn({
            let (pool, released) = (Arc::clone(&pool), Arc::clone(&released));
            async move { pool.read_bounded(move |conn| Ok((released.load(Ordering::SeqCst), thread_of(conn)?))).await }
        });
        // The waiting read holds no thread: this task still runs and can let the busy one finish.
        released.store(true, Ordering::SeqCst);
        release_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        let (ran_after_release, _) = waiting.await.unwrap().unwrap();
        assert!(ran_after_release, "the bounded read ran while the only connection was busy");
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "never more connections than the pool's");
    }

    /// A bounded read that panics is an error, as on the blocking pool; its connection is not
    /// pooled again and the next read opens a fresh one.
    #[tokio::test(flavor = "current_thread")]
    async fn a_bounded_read_that_panics_is_an_error_and_the_pool_goes_on() {
        let (_dir, pool) = pool_with(1);
        pool.read(thread_of).await.unwrap();
        let failed =
            pool.read_bounded(|_conn| -> Result<(), StoreError> { panic!("a read that panics") }).await.unwrap_err();
        assert!(failed.to_string().contains("panicked"), "{failed}");
        assert!(pool.idle.lock().unwrap().is_empty());
        pool.read_bounded(thread_of).await.unwrap();
        assert_eq!(pool.idle.lock().unwrap().len(), 1);
    }
}
