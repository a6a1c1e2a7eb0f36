//! The configuration as the program uses it: parsed addresses, paths and durations, checked ranges.
//! `RawConfig::validate` is pure (no files, no network); `Config::check_environment` asks the machine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::auth::AuthConfig;
use crate::check::{in_range, parse_addr};
pub use crate::cluster::ClusterConfig;
use crate::error::ConfigError;
pub use crate::kek::{KekConfig, PinSource};
use crate::raw::{CONFIG_VERSION, KekProviderKind, LogFormat, RawConfig, SqliteSynchronous, StoreBackend};
pub use crate::siem::{SiemConfig, SiemTlsConfig};

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
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub body_limit_bytes: usize,
    pub shutdown_grace: Duration,
    pub workers: usize,
    pub tls: Option<ApiTlsConfig>,
    pub secure_cookies: bool,
    pub request_head_timeout: Duration,
    pub request_body_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiTlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum StoreConfig {
    Sqlite(SqliteConfig),
}

#[derive(Debug, Clone, Serialize)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub busy_timeout: Duration,
    pub synchronous: SqliteSynchronous,
    pub read_connections: usize,
    pub max_write_batch: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct JobsConfig {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuanceConfig {
    pub acme_timeout: Duration,
    pub order_timeout: Duration,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub dns_propagation_timeout: Duration,
    pub dns_query_timeout: Duration,
    pub renewal_scan: Duration,
    pub passivate_after: Duration,
    pub rate_limit_pause: Duration,
    pub scan_every: Option<Duration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

/// Node ids go into job leases and log fields: keep them short and printable.
const NODE_ID_MAX_LEN: usize = 64;

impl RawConfig {
    pub fn validate(self) -> Result<Config, ConfigError> {
        if self.version != CONFIG_VERSION {
            return Err(ConfigError::invalid(
                "version",
                self.version,
                format!("this build reads configuration version {CONFIG_VERSION}"),
            ));
        }

        let node_id = match self.node.id {
            Some(id) => id,
            None => default_node_id(),
        };
        if node_id.is_empty()
            || node_id.len() > NODE_ID_MAX_LEN
            || !node_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::invalid(
                "node.id",
                &node_id,
                format!("must be 1 to {NODE_ID_MAX_LEN} characters of letters, digits, '-', '_' or '.'"),
            ));
        }
        if self.node.data_dir.trim().is_empty() {
            return Err(ConfigError::invalid("node.data_dir", "\"\"", "must not be empty"));
        }
        let data_dir = PathBuf::from(&self.node.data_dir);

        let api = ApiConfig {
            listen: parse_addr("api.listen", &self.api.listen)?,
            body_limit_bytes: in_range("api.body_limit_bytes", self.api.body_limit_bytes, 1024, 64 * 1024 * 1024)?
                as usize,
            shutdown_grace: Duration::from_secs(in_range(
                "api.shutdown_grace_secs",
                self.api.shutdown_grace_secs,
                0,
                3_600,
            )?),
            workers: in_range("api.workers", u64::from(self.api.workers), 0, 1_024)? as usize,
            tls: match (self.api.tls.cert_path, self.api.tls.key_path) {
                (None, None) => None,
                (Some(cert), Some(key)) if !cert.trim().is_empty() && !key.trim().is_empty() => {
                    Some(ApiTlsConfig { cert_path: cert.into(), key_path: key.into() })
                }
                (Some(_), _) => {
                    return Err(ConfigError::invalid("api.tls.key_path", "\"\"", "is required with api.tls.cert_path"));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::invalid("api.tls.cert_path", "\"\"", "is required with api.tls.key_path"));
                }
            },
            secure_cookies: self.api.secure_cookies,
            request_head_timeout: Duration::from_secs(in_range(
                "api.request_head_timeout_secs",
                self.api.request_head_timeout_secs,
                1,
                300,
            )?),
            request_body_timeout: Duration::from_secs(in_range(
                "api.request_body_timeout_secs",
                self.api.request_body_timeout_secs,
                1,
                3_600,
            )?),
            max_connections: in_range("api.max_connections", u64::from(self.api.max_connections), 16, 1_000_000)?
                as usize,
            max_connections_per_peer: in_range(
                "api.max_connections_per_peer",
                u64::from(self.api.max_connections_per_peer),
                1,
                1_000_000,
            )? as usize,
        };
        if api.max_connections_per_peer > api.max_connections {
            return Err(ConfigError::invalid(
                "api.max_connections_per_peer",
                api.max_connections_per_peer,
                format!("must not exceed api.max_connections ({})", api.max_connections),
            ));
        }

        let metrics = MetricsConfig {
            enabled: self.metrics.enabled,
            listen: parse_addr("metrics.listen", &self.metrics.listen)?,
        };
        if metrics.enabled && metrics.listen.port() != 0 && metrics.listen == api.listen {
            return Err(ConfigError::invalid(
                "metrics.listen",
                metrics.listen,
                "must differ from api.listen: metrics are served on their own listener",
            ));
        }

        let store = match self.store.backend {
            StoreBackend::Sqlite => {
                let raw = self.store.sqlite;
                let path = match raw.path {
                    Some(p) if p.trim().is_empty() => {
                        return Err(ConfigError::invalid("store.sqlite.path", "\"\"", "must not be empty"));
                    }
                    Some(p) => PathBuf::from(p),
                    None => data_dir.join("certautopilot.db"),
                };
                StoreConfig::Sqlite(SqliteConfig {
                    path,
                    busy_timeout: Duration::from_millis(in_range(
                        "store.sqlite.busy_timeout_ms",
                        raw.busy_timeout_ms,
                        1,
                        600_000,
                    )?),
                    synchronous: raw.synchronous,
                    read_connections: in_range("store.sqlite.read_connections", u64::from(raw.read_connections), 1, 64)?
                        as usize,
                    max_write_batch: in_range(
                        "store.sqlite.max_write_batch",
                        u64::from(raw.max_write_batch),
                        1,
                        10_000,
                    )? as usize,
                })
            }
        };

        let j = self.jobs;
        let lease_secs = in_range("jobs.lease_secs", j.lease_secs, 2, 86_400)?;
        let heartbeat_secs = in_range("jobs.heartbeat_secs", j.heartbeat_secs, 1, 86_400)?;
        // Two heartbeats must fit in one lease, so one lost heartbeat does not lose the job.
        if heartbeat_secs * 2 > lease_secs {
            return Err(ConfigError::invalid(
                "jobs.heartbeat_secs",
                heartbeat_secs,
                format!("must be at most half of jobs.lease_secs ({lease_secs})"),
            ));
        }
        let backoff_base_secs = in_range("jobs.backoff_base_secs", j.backoff_base_secs, 1, 86_400)?;
        let backoff_max_secs = in_range("jobs.backoff_max_secs", j.backoff_max_secs, 1, 7 * 86_400)?;
        if backoff_max_secs < backoff_base_secs {
            return Err(ConfigError::invalid(
                "jobs.backoff_max_secs",
                backoff_max_secs,
                format!("must be at least jobs.backoff_base_secs ({backoff_base_secs})"),
            ));
        }
        let jobs = JobsConfig {
            lease: Duration::from_secs(lease_secs),
            heartbeat: Duration::from_secs(heartbeat_secs),
            max_attempts: in_range("jobs.max_attempts", u64::from(j.max_attempts), 1, 100)? as u32,
            backoff_base: Duration::from_secs(backoff_base_secs),
            backoff_max: Duration::from_secs(backoff_max_secs),
            concurrency: in_range("jobs.concurrency", u64::from(j.concurrency), 1, 1_024)? as usize,
            poll_interval: Duration::from_millis(in_range("jobs.poll_interval_ms", j.poll_interval_ms, 10, 600_000)?),
        };

        let i = self.issuance;
        let poll_initial = in_range("issuance.poll_initial_ms", i.poll_initial_ms, 1, 60_000)?;
        let poll_max = in_range("issuance.poll_max_ms", i.poll_max_ms, 1, 600_000)?;
        if poll_max < poll_initial {
            return Err(ConfigError::invalid(
                "issuance.poll_max_ms",
                poll_max,
                format!("must be at least issuance.poll_initial_ms ({poll_initial})"),
            ));
        }
        let secs = |key: &'static str, v: u64, max: u64| in_range(key, v, 1, max).map(Duration::from_secs);
        let issuance = IssuanceConfig {
            acme_timeout: secs("issuance.acme_timeout_secs", i.acme_timeout_secs, 600)?,
            order_timeout: secs("issuance.order_timeout_secs", i.order_timeout_secs, 86_400)?,
            poll_initial: Duration::from_millis(poll_initial),
            poll_max: Duration::from_millis(poll_max),
            dns_propagation_timeout: secs(
                "issuance.dns_propagation_timeout_secs",
                i.dns_propagation_timeout_secs,
                3_600,
            )?,
            dns_query_timeout: Duration::from_millis(in_range(
                "issuance.dns_query_timeout_ms",
                i.dns_query_timeout_ms,
                10,
                60_000,
            )?),
            renewal_scan: secs("issuance.renewal_scan_secs", i.renewal_scan_secs, 86_400)?,
            passivate_after: secs("issuance.passivate_after_secs", i.passivate_after_secs, 86_400)?,
            rate_limit_pause: secs("issuance.rate_limit_pause_secs", i.rate_limit_pause_secs, 86_400)?,
            scan_every: match in_range("issuance.scan_every_secs", i.scan_every_secs, 0, 30 * 86_400)? {
                0 => None,
                n => Some(Duration::from_secs(n)),
            },
        };

        let auth = self.auth.validate()?;

        let kek_rotate_every = match in_range("kek.rotate_every_days", u64::from(self.kek.rotate_every_days), 0, 3_650)?
        {
            0 => None,
            days => Some(Duration::from_secs(days * 86_400)),
        };
        let kek_cache_entries =
            in_range("kek.cache_entries", u64::from(self.kek.cache_entries), 0, 10_000_000)? as usize;
        let previous = self.kek.previous;
        let p = self.kek.pkcs11;
        if self.kek.provider != KekProviderKind::Pkcs11
            && (p.module.is_some() || p.token_label.is_some() || p.pin_env.is_some() || p.pin_file.is_some())
        {
            return Err(ConfigError::invalid("kek.pkcs11", "…", "only applies with kek.provider = \"pkcs11\""));
        }
        let kek = match (self.kek.provider, self.kek.file_path) {
            (KekProviderKind::Pkcs11, Some(path)) => {
                return Err(ConfigError::invalid("kek.file_path", path, "only applies with kek.provider = \"file\""));
            }
            (KekProviderKind::Pkcs11, None) => {
                let module = p.module.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
                    ConfigError::invalid("kek.pkcs11.module", "\"\"", "is required with kek.provider = \"pkcs11\"")
                })?;
                let token_label = p.token_label.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
                    ConfigError::invalid("kek.pkcs11.token_label", "\"\"", "is required with kek.provider = \"pkcs11\"")
                })?;
                let pin = match (p.pin_env, p.pin_file) {
                    (Some(var), None) if !var.trim().is_empty() => PinSource::Env(var),
                    (None, Some(file)) if !file.trim().is_empty() => PinSource::File(PathBuf::from(file)),
                    _ => {
                        return Err(ConfigError::invalid(
                            "kek.pkcs11.pin_env",
                            "…",
                            "exactly one of kek.pkcs11.pin_env and kek.pkcs11.pin_file is required",
                        ));
                    }
                };
                KekConfig::Pkcs11 { module: PathBuf::from(module), token_label, pin }
            }
            (KekProviderKind::Dev, None) => KekConfig::Dev { path: data_dir.join("dev-kek.json") },
            (KekProviderKind::Dev, Some(p)) => {
                return Err(ConfigError::invalid("kek.file_path", p, "only applies with kek.provider = \"file\""));
            }
            (KekProviderKind::File, Some(p)) if !p.trim().is_empty() => KekConfig::File { path: PathBuf::from(p) },
            (KekProviderKind::File, _) => {
                return Err(ConfigError::invalid("kek.file_path", "\"\"", "is required with kek.provider = \"file\""));
            }
        };
        let kek_previous = crate::kek::validate_previous(previous, &data_dir, &kek)?;

        if self.log.filter.trim().is_empty() {
            return Err(ConfigError::invalid("log.filter", "\"\"", "must not be empty (try \"info\")"));
        }
        let log = LogConfig { format: self.log.format, filter: self.log.filter };

        let siem = crate::siem::validate_siem(self.siem)?;
        let cluster = self.cluster.map(|c| crate::cluster::validate_cluster(c, &data_dir)).transpose()?;

        Ok(Config {
            cluster,
            node: NodeConfig { id: node_id, data_dir },
            api,
            metrics,
            store,
            jobs,
            issuance,
            fault_injection: self.debug.fault_injection,
            auth,
            kek,
            kek_previous,
            kek_rotate_every,
            kek_cache_entries,
            log,
            siem,
            targets: self.targets.validate()?,
            egress: self.egress.validate()?,
            source_file: None,
        })
    }
}

impl Config {
    /// Checks that touch the machine: the directories the store needs exist or can be created.
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
