//! The effective configuration written back in file form (every key, every default filled in), for
//! `config check`. Invariant: it reads back as the same configuration (tested in `validated`), except
//! for secrets, which print redacted (a MongoDB URI's password as `***`).

use crate::raw::{CONFIG_VERSION, KekProviderKind, RawConfig, StoreBackend};
use crate::validated::{Config, KekConfig, PinSource, StoreConfig};

/// The effective configuration in file form (every key, every default filled in), for `config check`.
/// Secrets print as `<redacted>` through `Secret`'s `Serialize`.
impl From<&Config> for RawConfig {
    fn from(c: &Config) -> Self {
        RawConfig {
            version: CONFIG_VERSION,
            node: crate::raw::RawNode { id: Some(c.node.id.clone()), data_dir: c.node.data_dir.display().to_string() },
            api: crate::raw::RawApi {
                listen: c.api.listen.to_string(),
                body_limit_bytes: c.api.body_limit_bytes as u64,
                shutdown_grace_secs: c.api.shutdown_grace.as_secs(),
                workers: c.api.workers as u32,
                tls: crate::raw::RawTls {
                    cert_path: c.api.tls.as_ref().map(|t| t.cert_path.display().to_string()),
                    key_path: c.api.tls.as_ref().map(|t| t.key_path.display().to_string()),
                },
                secure_cookies: c.api.secure_cookies,
                request_head_timeout_secs: c.api.request_head_timeout.as_secs(),
                request_body_timeout_secs: c.api.request_body_timeout.as_secs(),
                max_connections: c.api.max_connections as u32,
                max_connections_per_peer: c.api.max_connections_per_peer as u32,
                graphql: crate::graphql::RawGraphql::from(&c.api.graphql),
            },
            metrics: crate::raw::RawMetrics { enabled: c.metrics.enabled, listen: c.metrics.listen.to_string() },
            store: raw_store(&c.store),
            debug: crate::raw::RawDebug { fault_injection: c.fault_injection },
            issuance: crate::raw::RawIssuance {
                acme_timeout_secs: c.issuance.acme_timeout.as_secs(),
                order_timeout_secs: c.issuance.order_timeout.as_secs(),
                poll_initial_ms: c.issuance.poll_initial.as_millis() as u64,
                poll_max_ms: c.issuance.poll_max.as_millis() as u64,
                dns_propagation_timeout_secs: c.issuance.dns_propagation_timeout.as_secs(),
                dns_query_timeout_ms: c.issuance.dns_query_timeout.as_millis() as u64,
                renewal_scan_secs: c.issuance.renewal_scan.as_secs(),
                scheduler_absent_after_secs: c.issuance.scheduler_absent_after.as_secs(),
                passivate_after_secs: c.issuance.passivate_after.as_secs(),
                rate_limit_pause_secs: c.issuance.rate_limit_pause.as_secs(),
                acme_retries: c.issuance.acme_retries,
                acme_retry_budget_ms: c.issuance.acme_retry_budget.as_millis() as u64,
                orders_per_account_per_hour: c.issuance.orders_per_account_per_hour,
                scan_every_secs: c.issuance.scan_every.map(|d| d.as_secs()).unwrap_or(0),
            },
            jobs: crate::raw::RawJobs {
                lease_secs: c.jobs.lease.as_secs(),
                heartbeat_secs: c.jobs.heartbeat.as_secs(),
                max_attempts: c.jobs.max_attempts,
                backoff_base_secs: c.jobs.backoff_base.as_secs(),
                backoff_max_secs: c.jobs.backoff_max.as_secs(),
                concurrency: c.jobs.concurrency as u32,
                poll_interval_ms: c.jobs.poll_interval.as_millis() as u64,
            },
            auth: crate::raw::RawAuth::from(&c.auth),
            kek: crate::raw::RawKek {
                rotate_every_days: c.kek_rotate_every.map(|d| (d.as_secs() / 86_400) as u32).unwrap_or(0),
                cache_entries: c.kek_cache_entries as u32,
                previous: c.kek_previous.as_ref().map(Into::into),
                ..match &c.kek {
                    KekConfig::Dev { .. } => crate::raw::RawKek {
                        provider: KekProviderKind::Dev,
                        file_path: None,
                        pkcs11: Default::default(),
                        rotate_every_days: 0,
                        cache_entries: 0,
                        previous: None,
                    },
                    KekConfig::File { path } => crate::raw::RawKek {
                        provider: KekProviderKind::File,
                        file_path: Some(path.display().to_string()),
                        pkcs11: Default::default(),
                        rotate_every_days: 0,
                        cache_entries: 0,
                        previous: None,
                    },
                    KekConfig::Pkcs11 { module, token_label, pin } => crate::raw::RawKek {
                        provider: KekProviderKind::Pkcs11,
                        file_path: None,
                        pkcs11: crate::raw::RawPkcs11 {
                            module: Some(module.display().to_string()),
                            token_label: Some(token_label.clone()),
                            pin_env: match pin {
                                PinSource::Env(v) => Some(v.clone()),
                                PinSource::File(_) => None,
                            },
                            pin_file: match pin {
                                PinSource::File(f) => Some(f.display().to_string()),
                                PinSource::Env(_) => None,
                            },
                        },
                        rotate_every_days: 0,
                        cache_entries: 0,
                        previous: None,
                    },
                }
            },
            log: crate::raw::RawLog { format: c.log.format, filter: c.log.filter.clone() },
            siem: c.siem.iter().map(raw_siem).collect(),
            cluster: c.cluster.as_ref().map(raw_cluster),
            targets: (&c.targets).into(),
            notifications: (&c.notifications).into(),
            audit: (&c.audit).into(),
            egress: (&c.egress).into(),
        }
    }
}

/// The chosen backend's section as configured; the other backend's at its defaults. An inline
/// MongoDB URI prints with its password redacted.
fn raw_store(store: &StoreConfig) -> crate::raw::RawStore {
    match store {
        StoreConfig::Sqlite(sqlite) => crate::raw::RawStore {
            backend: StoreBackend::Sqlite,
            sqlite: crate::raw::RawSqlite {
                path: Some(sqlite.path.display().to_string()),
                busy_timeout_ms: sqlite.busy_timeout.as_millis() as u64,
                synchronous: sqlite.synchronous,
                read_connections: sqlite.read_connections as u32,
                max_write_batch: sqlite.max_write_batch as u32,
            },
            mongodb: Default::default(),
        },
        StoreConfig::Mongodb(mongodb) => {
            crate::raw::RawStore { backend: StoreBackend::Mongodb, sqlite: Default::default(), mongodb: mongodb.into() }
        }
    }
}

fn raw_siem(s: &crate::SiemConfig) -> crate::raw::RawSiem {
    crate::raw::RawSiem {
        name: s.name.clone(),
        format: s.format,
        transport: s.transport,
        address: s.address.to_string(),
        batch: s.batch as u32,
        backlog_warn: s.backlog_warn,
        tls_ca_path: s.tls.as_ref().map(|t| t.ca_path.display().to_string()),
        tls_server_name: s.tls.as_ref().map(|t| t.server_name.clone()),
        tls_client_cert_path: s.tls.as_ref().and_then(|t| t.client_cert.as_ref().map(|c| c.0.display().to_string())),
        tls_client_key_path: s.tls.as_ref().and_then(|t| t.client_cert.as_ref().map(|c| c.1.display().to_string())),
    }
}

fn raw_cluster(k: &crate::ClusterConfig) -> crate::raw::RawCluster {
    crate::raw::RawCluster {
        node_id: k.node_id,
        node_index: None,
        listen: k.listen.to_string(),
        advertise: Some(k.advertise.clone()),
        source_address: k.source_address.map(|a| a.to_string()),
        raft_db: Some(k.raft_db.display().to_string()),
        ca_path: k.ca_path.display().to_string(),
        cert_path: k.cert_path.display().to_string(),
        key_path: k.key_path.display().to_string(),
        heartbeat_ms: k.heartbeat.as_millis() as u64,
        election_timeout_min_ms: k.election_timeout_min.as_millis() as u64,
        election_timeout_max_ms: k.election_timeout_max.as_millis() as u64,
    }
}
