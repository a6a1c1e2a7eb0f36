//! The SQLite store's health: `PRAGMA integrity_check`, what its writes found about storage, and a
//! probe that tells whether storage takes writes again.
//! Invariant: the probe never writes to the database's data: it commits an empty transaction and
//! writes (then removes) a scratch file beside the database, so running it while the disk is full
//! cannot lose or change anything.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::store::sqlite::SqliteStore;
use crate::store::{StoreError, StoreHealth, WriteHealth};

/// How much room the probe asks for: SQLite grows the WAL by whole pages (4 KiB by default) and a
/// batch of ordinary writes commits a handful of them, so 64 KiB free means the next writes fit.
const PROBE_BYTES: usize = 64 * 1024;

#[async_trait]
impl StoreHealth for SqliteStore {
    async fn integrity_check(&self) -> Result<(), StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let lines: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
            if lines == ["ok"] { Ok(()) } else { Err(StoreError::Integrity(lines.join("; "))) }
        })
        .await
    }

    fn round_trips(&self) -> std::collections::BTreeMap<String, u64> {
        self.round_trips.snapshot()
    }

    fn write_health(&self) -> WriteHealth {
        self.write_health.snapshot()
    }

    async fn probe_writable(&self) -> Result<(), StoreError> {
        // An empty transaction through the writer: a read-only database refuses to take the lock.
        // Not through `write`, whose success would mark the store writable before the space check.
        let mut result = self.writer.write(|_| Ok(())).await;
        if result.is_ok() {
            let path = probe_path(&self.path);
            result = tokio::task::spawn_blocking(move || write_probe_file(&path))
                .await
                .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))
                .and_then(|r| r);
        }
        self.write_health.observe(&result);
        result
    }
}

fn probe_path(database: &Path) -> PathBuf {
    let mut name = database.file_name().unwrap_or_default().to_os_string();
    name.push("-write-probe");
    database.with_file_name(name)
}

fn write_probe_file(path: &Path) -> Result<(), StoreError> {
    let written = (|| {
        let mut file = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(path)?;
        file.write_all(&[0u8; PROBE_BYTES])?;
        file.sync_data()
    })();
    // Removed whether or not the write fit: a half-written probe must not keep the space it took.
    let _ = std::fs::remove_file(path);
    Ok(written?)
}

impl SqliteStore {
    /// Writes a consistent copy of the whole database to `dest` (a new file) with SQLite's
    /// `VACUUM INTO`: one read transaction, so writers go on meanwhile and the copy is a snapshot.
    /// It runs on a connection of its own: the read pool's are read-only, and the writer's work
    /// inside transactions, where VACUUM cannot.
    pub async fn backup_to(&self, dest: &std::path::Path) -> Result<(), StoreError> {
        let dest =
            dest.to_str().ok_or_else(|| StoreError::InvalidRequest("the backup path is not UTF-8".into()))?.to_owned();
        let source = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(&source)?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.execute("VACUUM INTO ?1", [dest])?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?
    }
}
