//! Building the shared pieces from the configuration: the KEK provider behind its actor, the
//! envelope, the store (SQLite or MongoDB, as `dyn Store`). Used by `serve` and by the subcommands
//! that touch data.
//! Invariant: what is built here names the configuration key at fault when it fails, and the
//! MongoDB URI's password appears in no log line and no error (`MongoUri` prints it redacted, and
//! the driver's messages are scrubbed of it).

use std::sync::Arc;

use anyhow::Context;
use certautopilot_actors::ActorRegistry;
use certautopilot_actors::kek::{KekClient, KekService};
use certautopilot_config::{Config, KekConfig, MongoUri, MongoUriSource, MongodbConfig, PinSource, SqliteConfig};
use certautopilot_config::{SqliteSynchronous, StoreConfig};
use certautopilot_core::SystemClock;
use certautopilot_core::crypto::{Envelope, KekProvider, KekRing, LocalKek, LocalKekKind, Pkcs11Kek};
use certautopilot_core::store::Store;
use certautopilot_core::store::mongodb::{MongoOptions, MongoStore};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use tracing::{info, warn};

/// The KEK actor of this process and the envelope that reaches the KEK only through it.
pub struct Kek {
    pub service: KekService,
    pub envelope: Envelope,
}

impl Kek {
    pub fn client(&self) -> KekClient {
        self.service.client()
    }
}

/// Opens the configured KEK provider and starts the KEK actor over it. Must run inside an actix
/// `System` (see `main::block_on`).
pub fn open_envelope(config: &Config, registry: &ActorRegistry) -> anyhow::Result<Kek> {
    let provider = open_kek(config)?;
    let service = KekService::start(registry, &config.node.id, provider, config.kek_cache_entries);
    let envelope = Envelope::new(Arc::new(service.client()));
    Ok(Kek { service, envelope })
}

/// The configured KEK provider itself (with `[kek.previous]`, a ring of both), for the processes
/// above and for the benchmark that measures the envelope alone.
pub fn open_kek(config: &Config) -> anyhow::Result<Arc<dyn KekProvider>> {
    let current = open_current_kek(config)?;
    let Some(previous) = &config.kek_previous else { return Ok(current) };
    let previous = open_previous_kek(previous).context(
        "cannot open the previous KEK ([kek.previous]); if `certautopilot kek retire --previous` destroyed it, \
         remove [kek.previous] from the configuration",
    )?;
    info!(kek = %previous.describe(), versions = ?previous.versions(), "previous kek ready (kept until `kek retire --previous`)");
    if previous.versions().iter().any(|v| *v >= current.current_version()) {
        warn!(
            kek = %current.describe(),
            previous = %previous.describe(),
            "a move between KEK providers is pending: run `certautopilot kek migrate --to {}`",
            provider_name(&config.kek)
        );
    }
    Ok(Arc::new(KekRing::new(current, Some(previous))))
}

/// The provider's name as `kek.provider` spells it.
pub fn provider_name(kek: &KekConfig) -> &'static str {
    match kek {
        KekConfig::Dev { .. } => "dev",
        KekConfig::File { .. } => "file",
        KekConfig::Pkcs11 { .. } => "pkcs11",
    }
}

/// The provider `[kek.previous]` names. Opened as it is: a missing dev KEK file is an error here,
/// never made afresh (a new key would open nothing).
fn open_previous_kek(previous: &KekConfig) -> anyhow::Result<Arc<dyn KekProvider>> {
    Ok(match previous {
        KekConfig::Dev { path } => Arc::new(LocalKek::load(path, LocalKekKind::Dev)?),
        KekConfig::File { path } => Arc::new(LocalKek::load(path, LocalKekKind::File)?),
        KekConfig::Pkcs11 { module, token_label, pin } => {
            Arc::new(Pkcs11Kek::open(module, token_label, &read_pin(pin)?)?)
        }
    })
}

fn open_current_kek(config: &Config) -> anyhow::Result<Arc<dyn KekProvider>> {
    let kek = match &config.kek {
        KekConfig::Dev { .. } => {
            create_data_dir(config)?;
            let kek = LocalKek::dev(&config.node.data_dir).context("cannot open the dev KEK")?;
            warn!(
                kek = %kek.describe(),
                "DEVELOPMENT KEK IN USE: secrets are encrypted with a key stored next to the data; \
                 for production move them to a real KEK: `certautopilot kek init`, set kek.provider = \"file\" \
                 with [kek.previous] provider = \"dev\", then run `certautopilot kek migrate --to file` \
                 (docs/envelope.md, \"Moving between providers\")"
            );
            kek
        }
        KekConfig::File { path } => LocalKek::load(path, LocalKekKind::File).context("cannot open the KEK file")?,
        KekConfig::Pkcs11 { module, token_label, pin } => {
            let pin = read_pin(pin)?;
            let kek = Pkcs11Kek::open(module, token_label, &pin).context("cannot open the PKCS#11 KEK")?;
            info!(kek = %kek.describe(), version = kek.current_version(), "kek ready");
            return Ok(Arc::new(kek));
        }
    };
    info!(kek = %kek.describe(), version = kek.current_version(), "kek ready");
    Ok(Arc::new(kek))
}

fn read_pin(source: &PinSource) -> anyhow::Result<zeroize::Zeroizing<String>> {
    let pin = match source {
        PinSource::Env(var) => {
            std::env::var(var).with_context(|| format!("kek.pkcs11.pin_env: environment variable {var} is not set"))?
        }
        PinSource::File(path) => std::fs::read_to_string(path)
            .with_context(|| format!("kek.pkcs11.pin_file: cannot read {}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    };
    if pin.is_empty() {
        anyhow::bail!("the PKCS#11 PIN is empty");
    }
    Ok(zeroize::Zeroizing::new(pin))
}

/// Opens (and migrates) the configured store: the SQLite file, or the MongoDB deployment.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match &config.store {
        StoreConfig::Sqlite(sqlite) => Ok(open_sqlite(sqlite).await?),
        StoreConfig::Mongodb(mongodb) => open_mongodb(mongodb).await,
    }
}

async fn open_sqlite(sqlite: &SqliteConfig) -> anyhow::Result<Arc<SqliteStore>> {
    let options = SqliteOptions {
        busy_timeout: sqlite.busy_timeout,
        synchronous: match sqlite.synchronous {
            SqliteSynchronous::Full => Synchronous::Full,
            SqliteSynchronous::Normal => Synchronous::Normal,
        },
        read_connections: sqlite.read_connections,
        max_write_batch: sqlite.max_write_batch,
    };
    let store = SqliteStore::open(&sqlite.path, options, Arc::new(SystemClock))
        .await
        .with_context(|| format!("cannot open the store at {}", sqlite.path.display()))?;
    info!(path = %sqlite.path.display(), "store open and migrated");
    // Files made before this rule (or by another tool) are narrowed too; SQLite gives the WAL and
    // shared-memory files the database file's mode when it creates them.
    for suffix in ["", "-wal", "-shm"] {
        let mut path = sqlite.path.clone().into_os_string();
        path.push(suffix);
        restrict(std::path::Path::new(&path), 0o600)?;
    }
    Ok(Arc::new(store))
}

/// Connects to the deployment (refusing one that cannot run transactions) and brings its schema
/// up to date. Errors name `store.mongodb` and show the URI redacted.
async fn open_mongodb(mongodb: &MongodbConfig) -> anyhow::Result<Arc<dyn Store>> {
    let uri = mongodb.uri.read().context("cannot open the store")?;
    let options = MongoOptions {
        uri: uri.expose().to_owned(),
        database: mongodb.database.clone(),
        tls_ca_file: mongodb.tls_ca_file.clone(),
        tls_client_cert_key_file: mongodb.tls_client_cert_key_file.clone(),
        connect_timeout: mongodb.connect_timeout,
        server_selection_timeout: mongodb.server_selection_timeout,
        max_pool_size: mongodb.max_pool_size,
        transaction_timeout: mongodb.transaction_timeout,
    };
    let store = MongoStore::connect(options, Arc::new(SystemClock)).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot open the store: store.mongodb ({}, database {:?}): {}",
            describe_uri(&mongodb.uri, &uri),
            mongodb.database,
            scrub_password(&e.to_string(), &uri)
        )
    })?;
    info!(uri = %uri, database = %mongodb.database, "store open and migrated");
    Ok(Arc::new(store))
}

/// Where the URI came from, redacted: `uri mongodb://cap:***@db1/` or `uri_file /etc/cap/uri
/// (mongodb://cap:***@db1/)`.
fn describe_uri(source: &MongoUriSource, uri: &MongoUri) -> String {
    match source {
        MongoUriSource::Inline(_) => format!("uri {uri}"),
        MongoUriSource::File(path) => format!("uri_file {} ({uri})", path.display()),
    }
}

/// `message` with the URI's password (as written, and percent-decoded) replaced by `***`: the
/// driver's errors are its own text, and nothing promises they never quote the connection string.
fn scrub_password(message: &str, uri: &MongoUri) -> String {
    let Some(password) = uri.password() else { return message.to_owned() };
    let mut scrubbed = message.replace(password, "***");
    let decoded = percent_decode(password);
    if !decoded.is_empty() {
        scrubbed = scrubbed.replace(&decoded, "***");
    }
    scrubbed
}

/// RFC 3986 percent-decoding, leaving malformed escapes as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where file targets may write: the operator's allow-list, never over this service's own files.
pub fn file_path_policy(config: &Config) -> certautopilot_connectors::targets::FilePathPolicy {
    let mut protected = vec![config.node.data_dir.clone()];
    match &config.store {
        StoreConfig::Sqlite(sqlite) => {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut path = sqlite.path.clone().into_os_string();
                path.push(suffix);
                protected.push(path.into());
            }
        }
        StoreConfig::Mongodb(mongodb) => {
            if let MongoUriSource::File(path) = &mongodb.uri {
                protected.push(path.clone());
            }
            protected.extend(mongodb.tls_ca_file.iter().chain(&mongodb.tls_client_cert_key_file).cloned());
        }
    }
    for kek in std::iter::once(&config.kek).chain(&config.kek_previous) {
        match kek {
            KekConfig::Dev { path } | KekConfig::File { path } => protected.push(path.clone()),
            KekConfig::Pkcs11 { module, pin, .. } => {
                protected.push(module.clone());
                if let PinSource::File(path) = pin {
                    protected.push(path.clone());
                }
            }
        }
    }
    if let Some(tls) = &config.api.tls {
        protected.extend([tls.cert_path.clone(), tls.key_path.clone()]);
    }
    if let Some(cluster) = &config.cluster {
        protected.extend([
            cluster.raft_db.clone(),
            cluster.ca_path.clone(),
            cluster.cert_path.clone(),
            cluster.key_path.clone(),
        ]);
    }
    for siem in &config.siem {
        if let Some(tls) = &siem.tls {
            protected.push(tls.ca_path.clone());
            if let Some((cert, key)) = &tls.client_cert {
                protected.extend([cert.clone(), key.clone()]);
            }
        }
    }
    protected.extend(config.source_file.clone());
    certautopilot_connectors::targets::FilePathPolicy::new(config.targets.file_allowed_dirs.clone(), protected)
}

/// Raises this process's soft limit on open files to its hard limit, so the connection caps, not
/// EMFILE, decide when connections are shed; warns when the caps cannot fit under the limit.
pub fn raise_open_file_limit(max_connections: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    // Room for the store, the listeners, outbound connections and the shed connections in flight.
    let needed = max_connections as u64 + 256;
    if limit.rlim_cur < needed {
        warn!(
            open_file_limit = limit.rlim_cur,
            api_max_connections = max_connections,
            "the open-file limit is below api.max_connections plus headroom: lower the cap or raise LimitNOFILE"
        );
    }
}

/// Creates the data directory (and its parents) readable by this service's user only, and narrows
/// an existing one to 0700: it holds the store, the dev KEK and the Raft log.
pub fn create_data_dir(config: &Config) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = &config.node.data_dir;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create node.data_dir {}", dir.display()))?;
    restrict(dir, 0o700)
}

/// Sets `path`'s mode to `mode` when it exists and is wider.
fn restrict(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.permissions().mode() & 0o777 & !mode != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot restrict {} to {mode:04o}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password the driver might quote is replaced, as written and percent-decoded; a URI without
    /// one leaves the message alone.
    #[test]
    fn driver_messages_are_scrubbed_of_the_password() {
        let uri = MongoUri::parse("mongodb://cap:p%40ss-w0rd@db1/").unwrap();
        assert_eq!(
            scrub_password("auth failed for mongodb://cap:p%40ss-w0rd@db1/ with p@ss-w0rd", &uri),
            "auth failed for mongodb://cap:***@db1/ with ***"
        );
        let plain = MongoUri::parse("mongodb://db1/").unwrap();
        assert_eq!(scrub_password("server selection timeout", &plain), "server selection timeout");
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
    }
}
