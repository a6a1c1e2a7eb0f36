//! Where a command looks for the installation it works on. Only `serve` and `setup` create a store;
//! every other command opens an existing one or stops, saying where it looked and how to point it
//! elsewhere. Invariant: a read command run from the wrong directory creates nothing (no `./data`,
//! no store, no development KEK). A MongoDB store is never found by directory: only a configuration
//! that names it (`store.backend = "mongodb"`) reaches it, so there is no file to look for.

use std::path::{Path, PathBuf};

use anyhow::bail;
use certautopilot_config::{Config, KekConfig, StoreConfig};

/// Fails unless the configured store exists (and, with the development KEK, the key next to it).
pub fn require_existing(config: &Config) -> anyhow::Result<()> {
    let store = match &config.store {
        StoreConfig::Sqlite(sqlite) => {
            let store = absolute(&sqlite.path);
            if !store.is_file() {
                bail!(
                    "no store at {}: this command works on an existing installation and creates nothing. \
                     It looked there because {}. Point it at the service's configuration with \
                     `certautopilot --config FILE …`, or set CERTAUTOPILOT_NODE__DATA_DIR (or \
                     CERTAUTOPILOT_STORE__SQLITE__PATH) to where the service keeps its data",
                    store.display(),
                    origin(config)
                );
            }
            store.display().to_string()
        }
        StoreConfig::Mongodb(mongodb) => format!("MongoDB database {:?}", mongodb.database),
    };
    if let KekConfig::Dev { .. } = &config.kek {
        let key = absolute(&config.node.data_dir.join("dev-kek.json"));
        if !key.is_file() {
            bail!(
                "the store at {} is configured with the development KEK, but its key {} is missing: \
                 without it nothing sealed in the store can be opened. If the service uses another KEK, \
                 pass its configuration with --config FILE",
                store,
                key.display()
            );
        }
    }
    Ok(())
}

fn origin(config: &Config) -> String {
    match &config.source_file {
        Some(file) => format!("the configuration {} says so", absolute(file).display()),
        None => format!(
            "no --config was given, so the default data directory ./data was taken relative to {}",
            std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_else(|_| "here".into())
        ),
    }
}

/// `path` from the current directory, without `.` components, as a person would write it.
fn absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_owned())
    };
    joined.components().filter(|c| !matches!(c, std::path::Component::CurDir)).collect()
}
