//! CertAutoPilot's typed configuration: one schema with a default for every port, path, timeout and limit.
//! Invariant: a `Config` only exists after `RawConfig::validate`, so unvalidated settings never run.
//!
//! Loading order: built-in defaults, then the TOML file, then `CERTAUTOPILOT_…` environment variables
//! (`__` separates levels: `CERTAUTOPILOT_STORE__SQLITE__PATH`). Unknown keys are errors everywhere.

mod api;
mod audit;
mod auth;
mod check;
mod cluster;
mod effective;
mod egress;
mod error;
mod graphql;
mod issuance;
mod jobs;
mod kek;
mod load;
mod mongodb;
mod notifications;
mod raw;
mod secret;
mod siem;
mod store;
mod targets;
mod validated;

pub use audit::{AuditConfig, RawAudit};
pub use auth::AuthConfig;
pub use egress::{EgressConfig, RawEgress};
pub use error::ConfigError;
pub use graphql::{GraphqlConfig, MAX_LIST_SIZE, RawGraphql};
pub use load::{CLIENT_ENV_VARIABLES, ENV_PREFIX, load, load_from_str};
pub use mongodb::{MongoUri, MongoUriSource, MongodbConfig, RawMongodb, redact_uri};
pub use notifications::{NotificationsConfig, RawNotifications};
pub use raw::RawKekPrevious;
pub use raw::{
    LogFormat, RawApi, RawCluster, RawConfig, RawIssuance, RawJobs, RawLog, RawMetrics, RawNode, RawSiem, RawSqlite,
    RawStore, SiemFormat, SiemTransportName, SqliteSynchronous, StoreBackend,
};
pub use secret::Secret;
pub use targets::{RawFileTargets, RawTargets, TargetsConfig};
pub use validated::{
    ApiConfig, ApiTlsConfig, ClusterConfig, Config, IssuanceConfig, JobsConfig, KekConfig, LogConfig, MetricsConfig,
    NodeConfig, PinSource, SiemConfig, SiemTlsConfig, SqliteConfig, StoreConfig, is_host_port,
};
