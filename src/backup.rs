//! `certautopilot backup --to FILE` and `restore --from FILE`: a consistent copy of the embedded
//! SQLite store taken while the service runs (SQLite's `VACUUM INTO`, one read transaction), and
//! its restore into an empty data directory, checked before it is kept: every sealed value opens
//! with this node's KEK (a missing or different KEK version is named), every organization's audit
//! chain verifies, and SQLite's integrity check passes. A MongoDB store is backed up with
//! `mongodump` (docs/operations.md, "Backups").
//! Invariant: a restore that fails any check leaves nothing behind; a backup file is written once,
//! never over an existing file, readable by its owner only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use certautopilot_config::{Config, StoreConfig};
use certautopilot_core::OrgScope;
use certautopilot_core::audit::verify_chain;
use certautopilot_core::crypto::{CryptoError, Envelope};
use certautopilot_core::store::Store;
use certautopilot_core::store::prelude::*;
use certautopilot_core::store::sqlite::SqliteStore;

use crate::service::state::AUDIT_SECRET_FIELD;
use crate::wiring::{open_envelope, open_sqlite};

/// Sealed values read per page while every one of them is opened.
const PAGE: usize = 1_000;

fn sqlite_path(config: &Config) -> anyhow::Result<PathBuf> {
    match &config.store {
        StoreConfig::Sqlite(sqlite) => Ok(sqlite.path.clone()),
        StoreConfig::Mongodb(m) => bail!(
            "the store is MongoDB database {:?}: back it up with `mongodump --uri <the store's URI> --db {} \
             --archive=FILE --gzip` (restore with `mongorestore --archive=FILE --gzip` into an empty \
             database), as docs/operations.md (\"Backups\") describes",
            m.database,
            m.database
        ),
    }
}

/// Writes a consistent copy of the store to `to` while the service may be running.
pub async fn backup(config: &Config, to: &Path) -> anyhow::Result<ExitCode> {
    let path = sqlite_path(config)?;
    if to.exists() {
        bail!("{} exists: a backup is never written over a file; name a new one", to.display());
    }
    let store = open_sqlite(sqlite_config(config)?).await?;
    let started = std::time::Instant::now();
    store.backup_to(to).await.with_context(|| format!("cannot back {} up into {}", path.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))?;
    let size = std::fs::metadata(to)?.len();
    let copy = open_sqlite_file(config, to).await?;
    let usage = copy.kek_usage().await?;
    println!(
        "backup {}: {} bytes in {:.1} s; sealed values by KEK version: {}",
        to.display(),
        size,
        started.elapsed().as_secs_f64(),
        usage.iter().map(|(v, n)| format!("v{v}: {n}")).collect::<Vec<_>>().join(", ")
    );
    if let certautopilot_config::KekConfig::Dev { .. } = &config.kek {
        eprintln!(
            "note: this installation uses the development KEK: keep {} with the backup, nothing sealed opens without it",
            config.node.data_dir.join("dev-kek.json").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn sqlite_config(config: &Config) -> anyhow::Result<&certautopilot_config::SqliteConfig> {
    match &config.store {
        StoreConfig::Sqlite(sqlite) => Ok(sqlite),
        StoreConfig::Mongodb(_) => bail!("not an SQLite store"),
    }
}

async fn open_sqlite_file(config: &Config, file: &Path) -> anyhow::Result<Arc<SqliteStore>> {
    let mut sqlite = sqlite_config(config)?.clone();
    sqlite.path = file.to_path_buf();
    open_sqlite(&sqlite).await
}

/// Restores `from` as this configuration's store, which must not exist yet; keeps it only if every
/// check passes.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<ExitCode> {
    let path = sqlite_path(config)?;
    if !from.is_file() {
        bail!("no backup at {}", from.display());
    }
    if path.exists() {
        bail!("a store exists at {}: restore goes into an empty data directory only", path.display());
    }
    // A development key is never made up here: it would open nothing the backup holds.
    let dev_key = config.node.data_dir.join("dev-kek.json");
    if matches!(config.kek, certautopilot_config::KekConfig::Dev { .. }) && !dev_key.is_file() {
        bail!(
            "this configuration uses the development KEK, and {} is missing: put the backed-up installation's dev-kek.json there first",
            dev_key.display()
        );
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    std::fs::copy(from, &path).with_context(|| format!("cannot copy {} to {}", from.display(), path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    match checked(config).await {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.clone().into_os_string();
                file.push(suffix);
                let _ = std::fs::remove_file(file);
            }
            Err(e.context(format!("the restore of {} is refused; nothing was kept", from.display())))
        }
    }
}

/// Opens the restored store and runs every check; the report of what was checked.
async fn checked(config: &Config) -> anyhow::Result<String> {
    let kek = open_envelope(config, &certautopilot_actors::ActorRegistry::new())?;
    let store = open_sqlite(sqlite_config(config)?).await?;
    store.integrity_check().await.context("SQLite's integrity check")?;
    let opened = open_every_value(store.as_ref(), &kek.envelope).await?;
    let mut entries = 0;
    for org in store.list_organizations().await? {
        let sealed = org.audit_secret.as_ref().context("an organization has no audit secret")?;
        let secret = kek.envelope.open(&org.id.to_string(), AUDIT_SECRET_FIELD, sealed)?;
        let scope = OrgScope::for_system("restore", &org);
        let summary = verify_chain(store.as_ref(), &scope, &secret, |_| {})
            .await
            .with_context(|| format!("the audit chain of organization {}", org.name))?;
        entries += summary.entries;
    }
    Ok(format!(
        "restored: integrity ok, {opened} sealed values open with this KEK, audit chains intact ({entries} entries)"
    ))
}

/// Opens every sealed value the store holds; the first that does not open names its KEK version.
async fn open_every_value(store: &dyn Store, envelope: &Envelope) -> anyhow::Result<u64> {
    let provider = envelope.kek().describe();
    let mut after = None;
    let mut opened = 0;
    loop {
        let rows = store.sealed_after(after.clone(), PAGE).await?;
        let Some(last) = rows.last() else { return Ok(opened) };
        after = Some(last.key.clone());
        for (row, result) in certautopilot_core::kek_check::open_rows(envelope, rows).await? {
            let version = row.secret.kek_version;
            let where_ = format!("{}/{} field {}", row.key.table, row.key.record_id, row.key.field);
            match result {
                Ok(()) => opened += 1,
                Err(CryptoError::MissingKekVersion { .. }) => bail!(
                    "the backup holds values sealed under KEK version {version} (first: {where_}), which this node's KEK ({provider}) does not have: configure the KEK the backup was made with"
                ),
                Err(CryptoError::Integrity | CryptoError::Malformed(_)) => bail!(
                    "the backup's values sealed under KEK version {version} do not open with this node's KEK ({provider}): its version {version} is a different key (first: {where_})"
                ),
                Err(e) => bail!("cannot open {where_} (KEK version {version}): {e}"),
            }
        }
    }
}
