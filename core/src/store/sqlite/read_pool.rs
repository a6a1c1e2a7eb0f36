//! Read connections, reused across calls. WAL mode lets them read while the writer (of this or another
//! process) writes; each read runs on the blocking pool so no async worker waits on the disk.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use crate::store::StoreError;
use crate::store::sqlite::SqliteOptions;
use crate::store::sqlite::connection::{ConnectionRole, open_connection};

pub(crate) struct ReadPool {
    path: PathBuf,
    options: SqliteOptions,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(crate) fn new(path: PathBuf, options: SqliteOptions) -> Self {
        ReadPool { path, options, idle: Mutex::new(Vec::new()) }
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(conn) => conn,
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
