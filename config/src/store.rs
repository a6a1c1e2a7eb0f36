//! `[store]`: which backend keeps the records, and its settings (`[store.sqlite]`, or
//! `[store.mongodb]` in `mongodb.rs`).
//! Invariant: only the chosen backend's section may differ from its defaults (a setting the chosen
//! backend would ignore is refused), and the SQLite path is never empty; without one the database
//! lives in `node.data_dir`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::{Section, in_range};
use crate::error::ConfigError;
use crate::mongodb::{MongodbConfig, RawMongodb};
use crate::raw::{RawSqlite, RawStore, SqliteSynchronous, StoreBackend};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StoreConfig {
    Sqlite(SqliteConfig),
    Mongodb(MongodbConfig),
}

#[derive(Debug, Clone, Serialize)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub busy_timeout: Duration,
    pub synchronous: SqliteSynchronous,
    pub read_connections: usize,
    pub max_write_batch: usize,
}

impl RawStore {
    pub(crate) fn validate(self, prefix: Section<'_>, data_dir: &Path) -> Result<StoreConfig, ConfigError> {
        let only_with = |section: &str, backend: &str| {
            ConfigError::invalid(prefix.key(section), "…", format!("only applies with store.backend = \"{backend}\""))
        };
        match self.backend {
            StoreBackend::Mongodb => {
                if self.sqlite != RawSqlite::default() {
                    return Err(only_with("sqlite", "sqlite"));
                }
                let mongodb = prefix.key("mongodb");
                Ok(StoreConfig::Mongodb(self.mongodb.validate(Section(&mongodb))?))
            }
            StoreBackend::Sqlite => {
                if self.mongodb != RawMongodb::default() {
                    return Err(only_with("mongodb", "mongodb"));
                }
                let sqlite = prefix.key("sqlite");
                let prefix = Section(&sqlite);
                let raw = self.sqlite;
                let path = match raw.path {
                    Some(p) if p.trim().is_empty() => {
                        return Err(ConfigError::invalid(prefix.key("path"), "\"\"", "must not be empty"));
                    }
                    Some(p) => PathBuf::from(p),
                    None => data_dir.join("certautopilot.db"),
                };
                Ok(StoreConfig::Sqlite(SqliteConfig {
                    path,
                    busy_timeout: Duration::from_millis(in_range(
                        prefix.key("busy_timeout_ms"),
                        raw.busy_timeout_ms,
                        1,
                        600_000,
                    )?),
                    synchronous: raw.synchronous,
                    read_connections: in_range(prefix.key("read_connections"), u64::from(raw.read_connections), 1, 64)?
                        as usize,
                    max_write_batch: in_range(prefix.key("max_write_batch"), u64::from(raw.max_write_batch), 1, 10_000)?
                        as usize,
                }))
            }
        }
    }
}
