//! The configuration as written: serde structs that mirror the TOML file, with a default for every key.
//! Unknown keys are refused (`deny_unknown_fields`); ranges and relations are checked by `validate`.

use serde::{Deserialize, Serialize};

/// The version of the file format this build reads; `version` in the file must match.
pub const CONFIG_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    pub version: u32,
    pub node: RawNode,
    pub api: RawApi,
    pub metrics: RawMetrics,
    pub store: RawStore,
    pub jobs: RawJobs,
    pub issuance: RawIssuance,
    pub debug: RawDebug,
    pub auth: RawAuth,
    pub kek: RawKek,
    pub log: RawLog,
    /// SIEM destinations the audit chain is forwarded to (`[[siem]]` tables).
    pub siem: Vec<RawSiem>,
    /// Present on nodes that take part in the Raft group electing the scheduler (M1.7).
    pub cluster: Option<RawCluster>,
    /// What distribution targets may do on this host (`[targets.file] allowed_dirs`).
    pub targets: crate::targets::RawTargets,
    /// The networks connectors may reach (`[egress]`).
    pub egress: crate::egress::RawEgress,
    /// The notification router and deliveries (`[notifications]`).
    pub notifications: crate::notifications::RawNotifications,
    /// Where archived audit segments go (`[audit]`).
    pub audit: crate::audit::RawAudit,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            version: CONFIG_VERSION,
            node: RawNode::default(),
            api: RawApi::default(),
            metrics: RawMetrics::default(),
            store: RawStore::default(),
            jobs: RawJobs::default(),
            issuance: RawIssuance::default(),
            debug: RawDebug::default(),
            auth: RawAuth::default(),
            kek: RawKek::default(),
            log: RawLog::default(),
            siem: Vec::new(),
            cluster: None,
            targets: Default::default(),
            egress: Default::default(),
            notifications: Default::default(),
            audit: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNode {
    /// Names this process in job leases and logs; defaults to the host name.
    pub id: Option<String>,
    /// Where the embedded store and other local state live.
    pub data_dir: String,
}

impl Default for RawNode {
    fn default() -> Self {
        RawNode { id: None, data_dir: "./data".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawApi {
    /// Plain HTTP on loopback by default: nginx terminates TLS in front (ARCHITECTURE.md §10).
    pub listen: String,
    pub body_limit_bytes: u64,
    /// How long in-flight requests and jobs get to finish after SIGTERM before they are cut off.
    pub shutdown_grace_secs: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: u32,
    /// Serve HTTPS here instead of plain HTTP (both paths, or neither).
    pub tls: RawTls,
    /// Mark session cookies `Secure`. On by default because the service is meant to be reached over
    /// HTTPS (nginx in front); turn off only for plain-HTTP development with a browser.
    pub secure_cookies: bool,
    /// A client must send a request's head (line and headers) within this long, or it gets 408.
    pub request_head_timeout_secs: u64,
    /// A client must send a request's whole body within this long, or it gets 408 and is cut off:
    /// a slow body must not hold a connection (and its file descriptor) open indefinitely.
    pub request_body_timeout_secs: u64,
    /// Open connections at most, from everyone together; more are closed at once (shed).
    pub max_connections: u32,
    /// Open connections at most from one client address (the TCP peer; a proxy in front counts as
    /// one peer, so raise this behind nginx); more are shed.
    pub max_connections_per_peer: u32,
    /// `[api.graphql]`: the bounds of GraphQL requests at `/api/graphql`.
    pub graphql: crate::graphql::RawGraphql,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// PEM certificate chain, leaf first; re-read on SIGHUP.
    pub cert_path: Option<String>,
    /// PEM private key; re-read on SIGHUP.
    pub key_path: Option<String>,
}

impl Default for RawApi {
    fn default() -> Self {
        RawApi {
            listen: "127.0.0.1:8080".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            workers: 0,
            tls: RawTls::default(),
            secure_cookies: true,
            request_head_timeout_secs: 5,
            request_body_timeout_secs: 10,
            max_connections: 4_096,
            max_connections_per_peer: 256,
            graphql: crate::graphql::RawGraphql::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawMetrics {
    pub enabled: bool,
    pub listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        RawMetrics { enabled: true, listen: "127.0.0.1:9090".into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// The embedded default: one file under `node.data_dir`, for one host.
    Sqlite,
    /// A MongoDB replica set, for nodes on several hosts (docs/store.md).
    Mongodb,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub backend: StoreBackend,
    /// Only with `backend = "sqlite"`.
    pub sqlite: RawSqlite,
    /// Only with `backend = "mongodb"` (`config/src/mongodb.rs`).
    pub mongodb: crate::mongodb::RawMongodb,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore { backend: StoreBackend::Sqlite, sqlite: RawSqlite::default(), mongodb: Default::default() }
    }
}

/// SQLite's `synchronous` pragma in WAL mode: `full` fsyncs every commit (durable), `normal` may lose
/// the last commits on power loss but never corrupts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    Full,
    Normal,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSqlite {
    /// Defaults to `<node.data_dir>/certautopilot.db`.
    pub path: Option<String>,
    /// How long a writer waits for another process's write lock before giving up.
    pub busy_timeout_ms: u64,
    pub synchronous: SqliteSynchronous,
    pub read_connections: u32,
    /// Upper bound of writes committed together by the group-commit writer.
    pub max_write_batch: u32,
}

impl Default for RawSqlite {
    fn default() -> Self {
        RawSqlite {
            path: None,
            busy_timeout_ms: 5_000,
            synchronous: SqliteSynchronous::Full,
            read_connections: 4,
            max_write_batch: 256,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawJobs {
    /// A claimed job belongs to its worker for this long unless heartbeated.
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
    pub max_attempts: u32,
    pub backoff_base_secs: u64,
    pub backoff_max_secs: u64,
    /// Jobs one worker node runs at once.
    pub concurrency: u32,
    /// How often an idle worker looks for due jobs (enqueues in this process wake it at once).
    pub poll_interval_ms: u64,
}

impl Default for RawJobs {
    fn default() -> Self {
        RawJobs {
            lease_secs: 60,
            heartbeat_secs: 15,
            max_attempts: 8,
            backoff_base_secs: 5,
            backoff_max_secs: 3_600,
            concurrency: 4,
            poll_interval_ms: 1_000,
        }
    }
}

/// The node's place in the cluster: its Raft id, the cluster port, its mutual-TLS files, and Raft's
/// timers (ARCHITECTURE.md §7). Without this section a process schedules alone.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCluster {
    /// Unique and stable for the node's life, 1 or more.
    pub node_id: u64,
    /// Instead of `node_id`: this node's 0-based index (a StatefulSet pod's
    /// `apps.kubernetes.io/pod-index` label), the node id being the index + 1.
    pub node_index: Option<u64>,
    pub listen: String,
    /// The `host:port` the other nodes use to reach this one; defaults to `listen` unless that is a
    /// wildcard address.
    pub advertise: Option<String>,
    /// Outgoing connections to peers leave from this address (useful with several loopback nodes).
    pub source_address: Option<String>,
    /// The Raft log, vote and state machine; defaults to `<node.data_dir>/raft.db`.
    pub raft_db: Option<String>,
    pub ca_path: String,
    pub cert_path: String,
    pub key_path: String,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        RawCluster {
            node_id: 0,
            node_index: None,
            listen: "0.0.0.0:7400".into(),
            advertise: None,
            source_address: None,
            raft_db: None,
            ca_path: String::new(),
            cert_path: String::new(),
            key_path: String::new(),
            // openraft 0.9 lets a follower that saw a committed leader wait the leader lease
            // (election_timeout_max) plus a random election timeout before it stands: 600–800 ms.
            heartbeat_ms: 50,
            election_timeout_min_ms: 200,
            election_timeout_max_ms: 400,
        }
    }
}

/// Switches for testing a deployment; all off by default.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDebug {
    /// Lets owners make an actor panic (`POST /api/v1/admin/actors/{kind}/{key}/panic`) to watch
    /// supervision work. Never in production.
    pub fault_injection: bool,
}

/// Talking to ACME CAs and DNS servers, and the timers of issuance and renewal.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIssuance {
    /// Each call to an ACME CA gives up after this long.
    pub acme_timeout_secs: u64,
    /// One attempt waits at most this long for the CA to validate or finalize an order.
    pub order_timeout_secs: u64,
    /// Polling the CA starts at this interval and grows to `poll_max_ms`.
    pub poll_initial_ms: u64,
    pub poll_max_ms: u64,
    /// A TXT record must show at every authoritative server within this long.
    pub dns_propagation_timeout_secs: u64,
    pub dns_query_timeout_ms: u64,
    /// How often the scheduler looks for certificates whose renewal window has opened.
    pub renewal_scan_secs: u64,
    /// With no scheduler heartbeat for this long, every node reports the scheduler absent.
    pub scheduler_absent_after_secs: u64,
    /// A certificate actor idle this long is stopped; the next job brings it back.
    pub passivate_after_secs: u64,
    /// After a CA answers "rate limited", calls on that account pause this long.
    pub rate_limit_pause_secs: u64,
    /// A CA call that fails transiently (a rejected nonce, a reset connection, a 5xx) is tried
    /// again inside the job's attempt up to this many times …
    pub acme_retries: u32,
    /// … within this long; past either, the job's backoff takes over.
    pub acme_retry_budget_ms: u64,
    /// New orders one ACME account may place per hour (per worker process); past it, new orders
    /// wait with a clear reason: a runaway renewal loop stops here before the CA's limits do.
    /// 0 = no budget.
    pub orders_per_account_per_hour: u32,
    /// How often every distribution target is scanned for drift; 0 = only on request.
    pub scan_every_secs: u64,
}

impl Default for RawIssuance {
    fn default() -> Self {
        RawIssuance {
            acme_timeout_secs: 30,
            order_timeout_secs: 300,
            poll_initial_ms: 25,
            poll_max_ms: 1_000,
            dns_propagation_timeout_secs: 120,
            dns_query_timeout_ms: 2_000,
            renewal_scan_secs: 60,
            scheduler_absent_after_secs: 300,
            passivate_after_secs: 300,
            rate_limit_pause_secs: 60,
            acme_retries: 8,
            acme_retry_budget_ms: 15_000,
            orders_per_account_per_hour: 300,
            scan_every_secs: 3_600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: LogFormat,
    /// A `tracing` filter; `RUST_LOG` wins when set.
    pub filter: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog { format: LogFormat::Pretty, filter: "info".into() }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// Lifetime of a login (its JWT and session cookie).
    pub session_ttl_secs: u64,
    /// Longest lifetime an API token may be given.
    pub api_token_max_days: u32,
    /// Failed logins of one account (from anywhere) after which its answers are slowed down.
    pub login_slowdown_after: u32,
    /// The longest such delay: an attack on an account costs its rightful user at most this.
    pub login_slowdown_max_ms: u64,
    /// Failed logins for one account from one address after which that address is refused (429)
    /// for that account for `login_lockout_secs`. Once `login_lockout_after`, which locked the
    /// account everywhere (issue 14, item 4); old files keep loading with the new meaning.
    #[serde(alias = "login_lockout_after")]
    pub login_lockout_after_per_account_address: u32,
    pub login_lockout_secs: u64,
    /// Failures from one address, whatever the accounts, are counted against this larger limit
    /// (many users behind one NAT).
    pub login_lockout_after_per_address: u32,
    /// Password hashes (argon2, 19 MiB each) computed at once; 0 = one per core, at most 8.
    pub password_hash_concurrency: u32,
    /// How long a login, setup or user creation waits for a hashing slot before 503.
    pub password_hash_wait_ms: u64,
    /// How recent a sign-in must be to count as proof of identity where an operation asks for one
    /// (transferring the organization); older sessions, and API tokens, re-enter the password.
    pub reauth_window_secs: u64,
}

impl Default for RawAuth {
    fn default() -> Self {
        RawAuth {
            session_ttl_secs: 3_600,
            api_token_max_days: 365,
            login_slowdown_after: 3,
            login_slowdown_max_ms: 4_000,
            login_lockout_after_per_account_address: 10,
            login_lockout_secs: 900,
            login_lockout_after_per_address: 50,
            password_hash_concurrency: 0,
            password_hash_wait_ms: 2_000,
            reauth_window_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KekProviderKind {
    /// A key generated under `node.data_dir` on first start: for trying things out, never production.
    Dev,
    /// A key file made by `certautopilot kek init`, mode 0600.
    File,
    /// A non-extractable key inside a PKCS#11 token (an HSM; SoftHSM2 in tests).
    Pkcs11,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKek {
    pub provider: KekProviderKind,
    /// With `provider = "file"`: the key file.
    pub file_path: Option<String>,
    /// With `provider = "pkcs11"`.
    pub pkcs11: RawPkcs11,
    /// Rotate the KEK every this many days (a `rotate_kek` job, once per period); 0 = never.
    pub rotate_every_days: u32,
    /// How many unwrapped data keys the KEK actor keeps in memory; 0 = none.
    pub cache_entries: u32,
    /// The provider the store's values are sealed under while `kek migrate` moves them to this one.
    pub previous: Option<RawKekPrevious>,
}

impl Default for RawKek {
    fn default() -> Self {
        RawKek {
            provider: KekProviderKind::Dev,
            file_path: None,
            pkcs11: RawPkcs11::default(),
            rotate_every_days: 0,
            cache_entries: 10_000,
            previous: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPkcs11 {
    /// The vendor's PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`).
    pub module: Option<String>,
    pub token_label: Option<String>,
    /// Name of the environment variable holding the user PIN …
    pub pin_env: Option<String>,
    /// … or a file holding it (first line). The PIN itself never goes in this file.
    pub pin_file: Option<String>,
}

/// How an audit event is written for a SIEM. The one definition: the connectors format with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiemFormat {
    Rfc5424,
    Cef,
}

/// The wire to a SIEM, by name. The one list of transports: the connectors' `SiemTransport` is
/// built from it (`SiemTransport::new`) and names itself with it (`kind`), both exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SiemTransportName {
    Udp,
    Tcp,
    /// Syslog over TLS (RFC 5425).
    Tls,
    /// rsyslog's Reliable Event Logging Protocol: every message acknowledged.
    Relp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawSiem {
    /// Names the destination in metrics and keeps its delivery position; do not reuse for another.
    pub name: String,
    pub format: SiemFormat,
    pub transport: SiemTransportName,
    /// `ip:port` of the receiver.
    pub address: String,
    #[serde(default = "default_siem_batch")]
    pub batch: u32,
    /// Undelivered events beyond which the forwarder logs loudly.
    #[serde(default = "default_siem_backlog_warn")]
    pub backlog_warn: u64,
    /// With `transport = "tls"`: PEM roots that may sign the receiver's certificate (required) …
    pub tls_ca_path: Option<String>,
    /// … the name its certificate must carry (default: the address's IP) …
    pub tls_server_name: Option<String>,
    /// … and an optional client certificate and key for mutual TLS.
    pub tls_client_cert_path: Option<String>,
    pub tls_client_key_path: Option<String>,
}

fn default_siem_batch() -> u32 {
    500
}

fn default_siem_backlog_warn() -> u64 {
    100_000
}

/// `[kek.previous]` as written (validated in `kek.rs`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawKekPrevious {
    /// `dev` (the key under `node.data_dir`), `file` or `pkcs11`.
    pub provider: KekProviderKind,
    /// With `provider = "file"`: the old key file.
    #[serde(default)]
    pub file_path: Option<String>,
    /// With `provider = "pkcs11"`: the old token.
    #[serde(default)]
    pub pkcs11: RawPkcs11,
}
