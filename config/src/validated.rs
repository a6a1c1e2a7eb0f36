//! The configuration as the program uses it: parsed addresses, paths and durations, checked ranges.
//! `RawConfig::validate` is pure (no files, no network) and hands each section to its own
//! `validate(prefix)`, which names its keys under that prefix; `Config::check_environment` asks the machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use crate::api::{ApiConfig, ApiTlsConfig, MetricsConfig};
use crate::auth::AuthConfig;
use crate::check::Section;
pub use crate::cluster::ClusterConfig;
use crate::error::ConfigError;
pub use crate::issuance::IssuanceConfig;
pub use crate::jobs::JobsConfig;
pub use crate::kek::{KekConfig, PinSource};
use crate::raw::{CONFIG_VERSION, LogFormat, RawConfig, RawLog, RawNode};
pub use crate::siem::{SiemConfig, SiemTlsConfig};
pub use crate::store::{SqliteConfig, StoreConfig};

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub node: NodeConfig,
    pub api: ApiConfig,
    pub metrics: MetricsConfig,
    pub store: StoreConfig,
    pub jobs: JobsConfig,
    pub issuance: IssuanceConfig,
    /// Owners may make actors panic (testing supervision).
    pub fault_injection: bool,
    pub auth: AuthConfig,
    pub kek: KekConfig,
    /// `[kek.previous]`: the provider `kek migrate` moves values away from; kept until retired.
    pub kek_previous: Option<KekConfig>,
    /// How often the scheduler rotates the KEK; `None`: only by hand (`kek rotate`).
    pub kek_rotate_every: Option<Duration>,
    /// Unwrapped data keys the KEK actor keeps (bounded, zeroized on eviction); 0 = no cache.
    pub kek_cache_entries: usize,
    pub log: LogConfig,
    pub siem: Vec<SiemConfig>,
    pub cluster: Option<ClusterConfig>,
    pub targets: crate::targets::TargetsConfig,
    pub egress: crate::egress::EgressConfig,
    pub notifications: crate::notifications::NotificationsConfig,
    pub audit: crate::audit::AuditConfig,
    /// The file this configuration was read from, if any: file targets never write over it.
    #[serde(skip)]
    pub source_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeConfig {
    pub id: String,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// Node ids go into job leases and log fields: keep them short and printable.
const NODE_ID_MAX_LEN: usize = 64;

impl RawConfig {
    /// Validates every section under its own prefix; sections that depend on another get its
    /// validated value (the data directory, the API's address).
    pub fn validate(self) -> Result<Config, ConfigError> {
        if self.version != CONFIG_VERSION {
            return Err(ConfigError::invalid(
                "version",
                self.version,
                format!("this build reads configuration version {CONFIG_VERSION}"),
            ));
        }
        let node = self.node.validate(Section("node"))?;
        let development = matches!(self.kek.provider, crate::raw::KekProviderKind::Dev);
        let api = self.api.validate(Section("api"), development)?;
        let metrics = self.metrics.validate(Section("metrics"), api.listen)?;
        let store = self.store.validate(Section("store"), &node.data_dir)?;
        let jobs = self.jobs.validate(Section("jobs"))?;
        let issuance = self.issuance.validate(Section("issuance"))?;
        let auth = self.auth.validate()?;
        let kek = self.kek.validate(Section("kek"), &node.data_dir)?;
        let log = self.log.validate(Section("log"))?;
        let siem = crate::siem::validate_siem(self.siem)?;
        let cluster = self.cluster.map(|c| crate::cluster::validate_cluster(c, &node.data_dir)).transpose()?;
        let audit = self.audit.validate(Section("audit"), &node.data_dir)?;

        Ok(Config {
            cluster,
            node,
            api,
            metrics,
            store,
            jobs,
            issuance,
            fault_injection: self.debug.fault_injection,
            auth,
            kek: kek.kek,
            kek_previous: kek.previous,
            kek_rotate_every: kek.rotate_every,
            kek_cache_entries: kek.cache_entries,
            log,
            siem,
            targets: self.targets.validate()?,
            egress: self.egress.validate()?,
            notifications: self.notifications.validate(Section("notifications"))?,
            audit,
            source_file: None,
        })
    }
}

impl RawNode {
    fn validate(self, prefix: Section<'_>) -> Result<NodeConfig, ConfigError> {
        let id = match self.id {
            Some(id) => id,
            None => default_node_id(),
        };
        if id.is_empty()
            || id.len() > NODE_ID_MAX_LEN
            || !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::invalid(
                prefix.key("id"),
                &id,
                format!("must be 1 to {NODE_ID_MAX_LEN} characters of letters, digits, '-', '_' or '.'"),
            ));
        }
        if self.data_dir.trim().is_empty() {
            return Err(ConfigError::invalid(prefix.key("data_dir"), "\"\"", "must not be empty"));
        }
        Ok(NodeConfig { id, data_dir: PathBuf::from(&self.data_dir) })
    }
}

impl RawLog {
    fn validate(self, prefix: Section<'_>) -> Result<LogConfig, ConfigError> {
        if self.filter.trim().is_empty() {
            return Err(ConfigError::invalid(prefix.key("filter"), "\"\"", "must not be empty (try \"info\")"));
        }
        Ok(LogConfig { format: self.format, filter: self.filter })
    }
}

impl Config {
    /// Checks that touch the machine: the directories the store needs exist or can be created; the
    /// MongoDB URI file reads as a connection string and the TLS files exist.
    /// Kept apart from `validate` so validation stays pure and testable anywhere.
    pub fn check_environment(&self) -> Result<(), ConfigError> {
        match &self.store {
            StoreConfig::Sqlite(sqlite) => {
                let parent = sqlite.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                // The default data directory is created on first start; anything else must exist.
                if !parent.is_dir() && parent != self.node.data_dir {
                    return Err(ConfigError::Environment {
                        key: "store.sqlite.path",
                        message: format!("parent directory {} does not exist", parent.display()),
                    });
                }
                if sqlite.path.is_dir() {
                    return Err(ConfigError::Environment {
                        key: "store.sqlite.path",
                        message: format!("{} is a directory, not a database file", sqlite.path.display()),
                    });
                }
            }
            StoreConfig::Mongodb(mongodb) => mongodb.check_environment()?,
        }
        if self.node.data_dir.exists() && !self.node.data_dir.is_dir() {
            return Err(ConfigError::Environment {
                key: "node.data_dir",
                message: format!("{} exists and is not a directory", self.node.data_dir.display()),
            });
        }
        Ok(())
    }
}

/// `host:port` as peers dial it: a non-empty host of at most 253 characters without whitespace,
/// and a port from 1 to 65535. Shared by `[cluster]` validation and the nodes' join requests.
pub fn is_host_port(addr: &str) -> bool {
    let Some((host, port)) = addr.rsplit_once(':') else { return false };
    !host.is_empty()
        && host.len() <= 253
        && !addr.contains(char::is_whitespace)
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let cleaned: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(NODE_ID_MAX_LEN)
        .collect();
    if cleaned.is_empty() { "node-1".to_owned() } else { cleaned }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The printed effective configuration reads back as the same configuration.
    #[test]
    fn effective_configuration_round_trips() {
        let config = crate::load_from_str("[jobs]\nlease_secs = 90\n", Path::new("t.toml"), Vec::new()).unwrap();
        let text = toml::to_string_pretty(&RawConfig::from(&config)).unwrap();
        let again = crate::load_from_str(&text, Path::new("printed.toml"), Vec::new()).unwrap();
        assert_eq!(format!("{config:?}"), format!("{again:?}"));
        assert!(text.contains("lease_secs = 90"), "{text}");
    }

    /// Each section validates itself under its prefix (`validate(prefix)`); the errors keep the key
    /// paths and messages they had when one function validated every section (texts copied from it).
    #[test]
    fn sections_name_their_keys_and_messages_as_before() {
        for (text, expected) in [
            (
                "[node]\nid = \"bad id\"\n",
                "node.id: must be 1 to 64 characters of letters, digits, '-', '_' or '.' (got bad id)",
            ),
            (
                "[api]\nmax_connections = 16\nmax_connections_per_peer = 17\n",
                "api.max_connections_per_peer: must not exceed api.max_connections (16) (got 17)",
            ),
            ("[api.tls]\ncert_path = \"c.pem\"\n", "api.tls.key_path: is required with api.tls.cert_path (got \"\")"),
            (
                "[api]\nlisten = \"127.0.0.1:8080\"\n[metrics]\nenabled = true\nlisten = \"127.0.0.1:8080\"\n",
                "metrics.listen: must differ from api.listen: metrics are served on their own listener (got 127.0.0.1:8080)",
            ),
            ("[store.sqlite]\npath = \"\"\n", "store.sqlite.path: must not be empty (got \"\")"),
            (
                "[store.sqlite]\nread_connections = 0\n",
                "store.sqlite.read_connections: must be between 1 and 64 (got 0)",
            ),
            (
                "[jobs]\nlease_secs = 10\nheartbeat_secs = 6\n",
                "jobs.heartbeat_secs: must be at most half of jobs.lease_secs (10) (got 6)",
            ),
            (
                "[jobs]\nbackoff_base_secs = 10\nbackoff_max_secs = 5\n",
                "jobs.backoff_max_secs: must be at least jobs.backoff_base_secs (10) (got 5)",
            ),
            (
                "[issuance]\npoll_initial_ms = 500\npoll_max_ms = 100\n",
                "issuance.poll_max_ms: must be at least issuance.poll_initial_ms (500) (got 100)",
            ),
            (
                "[issuance]\nscan_every_secs = 99999999\n",
                "issuance.scan_every_secs: must be between 0 and 2592000 (got 99999999)",
            ),
            ("[kek]\nrotate_every_days = 5000\n", "kek.rotate_every_days: must be between 0 and 3650 (got 5000)"),
            (
                "[kek]\nprovider = \"dev\"\n[kek.pkcs11]\nmodule = \"/m.so\"\n",
                "kek.pkcs11: only applies with kek.provider = \"pkcs11\" (got …)",
            ),
            ("[kek]\nprovider = \"file\"\n", "kek.file_path: is required with kek.provider = \"file\" (got \"\")"),
            (
                "[kek]\nprovider = \"pkcs11\"\nfile_path = \"/k\"\n",
                "kek.file_path: only applies with kek.provider = \"file\" (got /k)",
            ),
            (
                "[kek]\nprovider = \"pkcs11\"\n",
                "kek.pkcs11.module: is required with kek.provider = \"pkcs11\" (got \"\")",
            ),
            (
                "[kek]\nprovider = \"pkcs11\"\n[kek.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\n",
                "kek.pkcs11.pin_env: exactly one of kek.pkcs11.pin_env and kek.pkcs11.pin_file is required (got …)",
            ),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"pkcs11\"\n[kek.previous.pkcs11]\nmodule = \"/m.so\"\n",
                "kek.previous.pkcs11.token_label: is required with kek.previous.provider = \"pkcs11\" (got \"\")",
            ),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"pkcs11\"\n[kek.previous.pkcs11]\nmodule = \"/m.so\"\ntoken_label = \"t\"\n",
                "kek.previous.pkcs11.pin_env: exactly one of kek.previous.pkcs11.pin_env and kek.previous.pkcs11.pin_file is required (got …)",
            ),
            ("[log]\nfilter = \" \"\n", "log.filter: must not be empty (try \"info\") (got \"\")"),
        ] {
            let err = crate::load_from_str(text, Path::new("t.toml"), Vec::new()).unwrap_err().to_string();
            assert_eq!(err, expected, "{text}");
        }
    }

    const CLUSTER: &str = "[cluster]\nnode_id = 2\nlisten = \"127.0.0.1:7402\"\nca_path = \"ca.pem\"\n\
        cert_path = \"node-2.pem\"\nkey_path = \"node-2.key\"\n";

    /// A `[cluster]` section validates with its defaults and prints back the same.
    #[test]
    fn cluster_section_defaults_and_round_trip() {
        let config = crate::load_from_str(CLUSTER, Path::new("t.toml"), Vec::new()).unwrap();
        let cluster = config.cluster.as_ref().unwrap();
        assert_eq!((cluster.node_id, cluster.advertise.as_str()), (2, "127.0.0.1:7402"));
        assert_eq!(cluster.heartbeat, Duration::from_millis(50));
        assert_eq!(cluster.raft_db, config.node.data_dir.join("raft.db"));
        let text = toml::to_string_pretty(&RawConfig::from(&config)).unwrap();
        let again = crate::load_from_str(&text, Path::new("printed.toml"), Vec::new()).unwrap();
        assert_eq!(format!("{config:?}"), format!("{again:?}"));
    }

    /// Every bad cluster value is refused with its key named.
    #[test]
    fn cluster_section_refuses_bad_values() {
        for (extra, key) in [
            ("node_id = 0", "cluster.node_id"),
            ("listen = \"nowhere\"", "cluster.listen"),
            ("listen = \"0.0.0.0:7400\"", "cluster.advertise"),
            ("advertise = \"host-without-port\"", "cluster.advertise"),
            ("source_address = \"not-an-ip\"", "cluster.source_address"),
            ("ca_path = \"\"", "cluster.ca_path"),
            ("heartbeat_ms = 5", "cluster.heartbeat_ms"),
            ("election_timeout_min_ms = 100", "cluster.election_timeout_min_ms"),
            ("election_timeout_max_ms = 200", "cluster.election_timeout_max_ms"),
            ("surprise = 1", "surprise"),
        ] {
            let text = CLUSTER
                .lines()
                .filter(|l| !l.starts_with(extra.split(' ').next().unwrap()))
                .collect::<Vec<_>>()
                .join("\n");
            let text = format!("{text}\n{extra}\n");
            let err = crate::load_from_str(&text, Path::new("t.toml"), Vec::new()).unwrap_err().to_string();
            assert!(err.contains(key), "{extra}: {err}");
        }
    }
}
