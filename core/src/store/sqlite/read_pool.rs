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

use crate::store::StoreError;
use crate::store::sqlite::SqliteOptions;
use crate::store::sqlite::connection::{ConnectionRole, open_connection};

pub(crate) struct ReadPool {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection the pool may hold.
    permits: Arc<Semaphore>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, options: SqliteOptions) -> Self {
        let permits = Arc::new(Semaphore::new(options.read_connections.max(1)));
        ReadPool { path, options, idle: Mutex::new(Vec::new()), permits }
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
            None => open_connection(&self.path, &self.options, ConnectionRole::Reader)?,
        };
        let result = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.options.read_connections {
            idle.push(conn);
        }
        result
    }
}
