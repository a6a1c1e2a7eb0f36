//! `certautopilot store copy`: moves an installation between backends (SQLite and MongoDB, either
//! way) by copying every stored row into an empty store, with progress per part on stderr; then
//! compares the counts and verifies the target's audit chains (fully when the target is given as a
//! configuration, whose KEK opens the audit secrets; their linkage only otherwise).
//! Invariant: nothing is written into a store that is not empty; sealed values travel as ciphertext
//! (copying needs no KEK); a MongoDB URI's password appears in no output and no error.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use certautopilot_config::{Config, StoreConfig};
use certautopilot_core::OrgScope;
use certautopilot_core::SystemClock;
use certautopilot_core::SystemScope;
use certautopilot_core::audit::{VerifyError, verify_chain_links};
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore, redact_uri, scrub_password};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::store::{CopyError, CopyProgress, CopyReport, Store, StoreTransfer, copy_store};

/// Where one side of the copy is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A configuration file (`*.toml`): its `[store]` section, and its KEK for the verification.
    Config(PathBuf),
    /// A SQLite database file (`sqlite:///path` or any path not ending in `.toml`).
    Sqlite(PathBuf),
    /// A MongoDB deployment; the database is the URI's path (`mongodb://host/DATABASE`).
    Mongodb { uri: String, database: String },
}

impl Endpoint {
    pub fn parse(text: &str) -> anyhow::Result<Endpoint> {
        if text.starts_with("mongodb://") || text.starts_with("mongodb+srv://") {
            let database = uri_database(text).with_context(|| {
                format!("{}: name the database in the URI's path (mongodb://HOST/DATABASE)", redact_uri(text))
            })?;
            return Ok(Endpoint::Mongodb { uri: text.to_owned(), database });
        }
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("sqlite:// needs a path: sqlite:///var/lib/certautopilot/certautopilot.db");
            }
            return Ok(Endpoint::Sqlite(PathBuf::from(path)));
        }
        if text.contains("://") {
            bail!("{}: not a store this command knows (mongodb://…, sqlite://…, or a path)", redact_uri(text));
        }
        let path = PathBuf::from(text);
        Ok(if path.extension().is_some_and(|e| e == "toml") { Endpoint::Config(path) } else { Endpoint::Sqlite(path) })
    }

    /// For messages: the URI with its password replaced.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Config(path) => format!("the store of {}", path.display()),
            Endpoint::Sqlite(path) => format!("sqlite://{}", path.display()),
            Endpoint::Mongodb { uri, database } => format!("{} (database {database})", redact_uri(uri)),
        }
    }
}

/// The database named by a MongoDB URI's path, if any.
fn uri_database(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once("://")?;
    let (_, path) = rest.split_once('/')?;
    let database = path.split('?').next().unwrap_or_default();
    (!database.is_empty()).then(|| database.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Must exist: a typo must not create an empty store and copy nothing from it.
    Source,
    /// Created when missing (a SQLite file, a MongoDB database).
    Target,
}

/// An opened store, as both faces the command needs.
enum Opened {
    Sqlite(Arc<SqliteStore>),
    Mongodb(Arc<MongoStore>),
}

impl Opened {
    fn transfer(&self) -> &dyn StoreTransfer {
        match self {
            Opened::Sqlite(store) => store.as_ref(),
            Opened::Mongodb(store) => store.as_ref(),
        }
    }

    fn store(&self) -> &dyn Store {
        match self {
            Opened::Sqlite(store) => store.as_ref(),
            Opened::Mongodb(store) => store.as_ref(),
        }
    }
}

/// One side: its store, and its configuration when it was given as one.
struct Side {
    endpoint: Endpoint,
    opened: Opened,
    config: Option<Config>,
}

async fn open(endpoint: Endpoint, role: Role) -> anyhow::Result<Side> {
    let (opened, config) = match &endpoint {
        Endpoint::Config(path) => {
            let config = crate::config_check::load(Some(path))?;
            match role {
                Role::Source => crate::store_location::require_existing(&config)?,
                Role::Target => crate::wiring::create_data_dir(&config)?,
            }
            (open_configured(&config).await?, Some(config))
        }
        Endpoint::Sqlite(path) => (open_sqlite(path, role).await?, None),
        Endpoint::Mongodb { uri, database } => (open_mongodb(uri, database).await?, None),
    };
    Ok(Side { endpoint, opened, config })
}

/// The store a configuration names, opened as the service opens it.
async fn open_configured(config: &Config) -> anyhow::Result<Opened> {
    Ok(match &config.store {
        StoreConfig::Sqlite(sqlite) => Opened::Sqlite(crate::wiring::open_sqlite(sqlite).await?),
        StoreConfig::Mongodb(mongodb) => Opened::Mongodb(crate::wiring::open_mongodb(mongodb).await?),
    })
}

async fn open_sqlite(path: &Path, role: Role) -> anyhow::Result<Opened> {
    if role == Role::Source && !path.is_file() {
        bail!("no SQLite store at {}: the source must exist", path.display());
    }
    let store = SqliteStore::open(path, SqliteOptions::default(), Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the SQLite store at {}", path.display()))?;
    Ok(Opened::Sqlite(Arc::new(store)))
}

/// Connects with the `[store.mongodb]` defaults. The driver's messages are its own text: the
/// password is scrubbed from them before they go anywhere.
async fn open_mongodb(uri: &str, database: &str) -> anyhow::Result<Opened> {
    let options = MongoOptions::new(uri, database);
    let store = MongoStore::connect(options, Arc::new(SystemClock))
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {}", redact_uri(uri), scrub_password(&e.to_string(), uri)))?;
    Ok(Opened::Mongodb(Arc::new(store)))
}

/// Runs the copy and the verification; exit 1 when the target's chains do not verify.
pub async fn run(from: &str, to: &str, batch: usize) -> anyhow::Result<ExitCode> {
    let (from, to) = (Endpoint::parse(from)?, Endpoint::parse(to)?);
    if from == to {
        bail!("--from and --to name the same store ({})", from.describe());
    }
    let source = open(from, Role::Source).await.context("cannot open the source (--from)")?;
    if source.opened.transfer().is_empty(&SystemScope::new("store-copy")).await? {
        bail!("{} holds nothing to copy: check --from", source.endpoint.describe());
    }
    let target = open(to, Role::Target).await.context("cannot open the target (--to)")?;
    eprintln!("copying {} into {}", source.endpoint.describe(), target.endpoint.describe());
    let mut progress = ProgressLine::new();
    let copied = copy_store(source.opened.transfer(), target.opened.transfer(), batch, |p| progress.update(p)).await;
    progress.finish();
    let report = copied.map_err(|e| explain(e, &target.endpoint))?;
    print_report(&report);
    verify_target(&source, target).await
}

/// The copy's error with what the operator does next.
fn explain(e: CopyError, target: &Endpoint) -> anyhow::Error {
    match e {
        CopyError::TargetNotEmpty { .. } => anyhow::anyhow!("{e}"),
        CopyError::Target { .. } | CopyError::CountMismatch { .. } => anyhow::anyhow!(
            "{e}; {} now holds part of the copy: empty it (a new SQLite file, or drop the MongoDB database) \
             before trying again, with no service running on the source",
            target.describe()
        ),
        CopyError::Source(_) => anyhow::anyhow!("{e}"),
    }
}

fn print_report(report: &CopyReport) {
    println!("copied {} rows; counts equal in source and target:", report.total());
    for (part, rows) in &report.parts {
        println!("  {:<32} {rows}", part.name());
    }
}

/// With the target's configuration: the same check as `certautopilot audit verify` on it (the KEK
/// opens each organization's audit secret, every HMAC is checked). Without: each chain's order and
/// links, and its head against the source's.
async fn verify_target(source: &Side, target: Side) -> anyhow::Result<ExitCode> {
    if let Some(config) = &target.config {
        println!("verifying the target's audit chains with its KEK (audit verify):");
        // `audit verify` opens the store itself, as it does from the command line.
        drop(target.opened);
        return crate::audit::verify(config, None, crate::audit::VerifyMode { full: true, archives: None }).await;
    }
    println!(
        "verifying the target's audit chains without the KEK: order and links only, not the HMACs \
         (give the target as a configuration file, or run `certautopilot audit verify` where its KEK is)"
    );
    let (store, source_store) = (target.opened.store(), source.opened.store());
    let mut intact = true;
    for org in store.list_organizations().await? {
        let scope = OrgScope::for_system("store-copy", &org);
        let source_head = source_store.audit_head(org.id).await?.map(|e| e.hmac);
        match verify_chain_links(store, &scope, drop).await {
            Ok(summary) if summary.head == source_head => println!(
                "{}: chain linked: {} entries, head {} (the source's)",
                org.name,
                summary.entries,
                summary.head.as_deref().unwrap_or("-")
            ),
            Ok(summary) => {
                intact = false;
                eprintln!(
                    "{}: chain head {} differs from the source's {}",
                    org.name,
                    summary.head.as_deref().unwrap_or("-"),
                    source_head.as_deref().unwrap_or("-")
                );
            }
            Err(VerifyError::Broken(link)) => {
                intact = false;
                eprintln!("{}: chain broken at seq {}: {}", org.name, link.seq, link.fault);
            }
            Err(VerifyError::Store(e)) => {
                intact = false;
                eprintln!("{}: chain unreadable: {e}", org.name);
            }
        }
    }
    Ok(if intact { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Progress on stderr: one line per part, rewritten in place on a terminal, printed once finished
/// otherwise (logs and CI output stay short).
struct ProgressLine {
    terminal: bool,
    current: Option<CopyProgress>,
}

impl ProgressLine {
    fn new() -> Self {
        ProgressLine { terminal: std::io::stderr().is_terminal(), current: None }
    }

    fn update(&mut self, p: CopyProgress) {
        if self.current.is_some_and(|c| c.part != p.part) {
            self.finish();
        }
        if self.terminal {
            eprint!("\r{:<32} {}/{}", p.part.name(), p.copied, p.total);
        }
        self.current = Some(p);
    }

    fn finish(&mut self) {
        if let Some(p) = self.current.take() {
            if self.terminal {
                eprintln!();
            } else {
                eprintln!("{:<32} {}/{}", p.part.name(), p.copied, p.total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `.toml` paths are configurations, other paths and `sqlite://` SQLite files, `mongodb://` a
    /// deployment whose database is the path; a password never reaches a description or an error.
    #[test]
    fn endpoints_are_told_apart_and_passwords_stay_hidden() {
        assert_eq!(Endpoint::parse("/etc/cap/config.toml").unwrap(), Endpoint::Config("/etc/cap/config.toml".into()));
        assert_eq!(Endpoint::parse("data/cap.db").unwrap(), Endpoint::Sqlite("data/cap.db".into()));
        assert_eq!(Endpoint::parse("sqlite:///var/cap.db").unwrap(), Endpoint::Sqlite("/var/cap.db".into()));
        let mongo = Endpoint::parse("mongodb://cap:hunter2@db1:27017,db2/capdb?replicaSet=rs0").unwrap();
        assert!(matches!(&mongo, Endpoint::Mongodb { database, .. } if database == "capdb"));
        assert!(!mongo.describe().contains("hunter2"), "{}", mongo.describe());
        let no_database = Endpoint::parse("mongodb://cap:hunter2@db1:27017/?replicaSet=rs0").unwrap_err();
        assert!(!format!("{no_database:#}").contains("hunter2"), "{no_database:#}");
        let scrubbed = scrub_password("auth failed for h%40nter2 / h@nter2", "mongodb://cap:h%40nter2@db1/cap");
        assert_eq!(scrubbed, "auth failed for *** / ***");
        let unknown = Endpoint::parse("postgres://cap:hunter2@db1/cap").unwrap_err();
        assert!(!format!("{unknown:#}").contains("hunter2"), "{unknown:#}");
    }
}
