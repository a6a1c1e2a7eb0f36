//! Building the shared pieces from the configuration: the KEK provider behind its actor, the
//! envelope, the store. Used by `serve` and by the subcommands that touch data.

use std::sync::Arc;

use anyhow::Context;
use certautopilot_actors::ActorRegistry;
use certautopilot_actors::kek::{KekClient, KekService};
use certautopilot_config::{Config, KekConfig, PinSource, SqliteSynchronous, StoreConfig};
use certautopilot_core::SystemClock;
use certautopilot_core::crypto::{Envelope, KekProvider, LocalKek, LocalKekKind, Pkcs11Kek};
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

/// The configured KEK provider itself, for the benchmark that measures the envelope alone.
pub fn open_kek(config: &Config) -> anyhow::Result<Arc<dyn KekProvider>> {
    let kek = match &config.kek {
        KekConfig::Dev { .. } => {
            std::fs::create_dir_all(&config.node.data_dir)
                .with_context(|| format!("cannot create node.data_dir {}", config.node.data_dir.display()))?;
            let kek = LocalKek::dev(&config.node.data_dir).context("cannot open the dev KEK")?;
            warn!(
                kek = %kek.describe(),
                "DEVELOPMENT KEK IN USE: secrets are encrypted with a key stored next to the data; \
                 for production run `certautopilot kek init` and set kek.provider = \"file\""
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

pub async fn open_store(config: &Config) -> anyhow::Result<Arc<SqliteStore>> {
    let StoreConfig::Sqlite(sqlite) = &config.store;
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
    Ok(Arc::new(store))
}
