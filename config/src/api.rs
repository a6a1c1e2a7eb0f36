//! `[api]` and `[metrics]`: the listeners, their limits and timeouts, and TLS when the API serves it.
//! Invariant: the metrics listener never shares the API's address, and one peer's connections
//! never exceed the whole listener's.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::check::{Section, in_range, parse_addr};
use crate::error::ConfigError;
use crate::raw::{RawApi, RawMetrics};

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
    pub graphql: crate::graphql::GraphqlConfig,
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

impl RawApi {
    /// `development`: a development installation (the `dev` KEK), where GraphQL introspection is on
    /// unless the file says otherwise.
    pub(crate) fn validate(self, prefix: Section<'_>, development: bool) -> Result<ApiConfig, ConfigError> {
        let key = |name: &str| prefix.key(name);
        let secs = |name: &str, v: u64, min: u64, max: u64| in_range(key(name), v, min, max).map(Duration::from_secs);
        let api = ApiConfig {
            listen: parse_addr(key("listen"), &self.listen)?,
            body_limit_bytes: in_range(key("body_limit_bytes"), self.body_limit_bytes, 1024, 64 * 1024 * 1024)?
                as usize,
            shutdown_grace: secs("shutdown_grace_secs", self.shutdown_grace_secs, 0, 3_600)?,
            workers: in_range(key("workers"), u64::from(self.workers), 0, 1_024)? as usize,
            tls: match (self.tls.cert_path, self.tls.key_path) {
                (None, None) => None,
                (Some(cert_path), Some(key_path)) if !cert_path.trim().is_empty() && !key_path.trim().is_empty() => {
                    Some(ApiTlsConfig { cert_path: cert_path.into(), key_path: key_path.into() })
                }
                (Some(_), _) => {
                    return Err(ConfigError::invalid(
                        key("tls.key_path"),
                        "\"\"",
                        format!("is required with {}", key("tls.cert_path")),
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::invalid(
                        key("tls.cert_path"),
                        "\"\"",
                        format!("is required with {}", key("tls.key_path")),
                    ));
                }
            },
            secure_cookies: self.secure_cookies,
            request_head_timeout: secs("request_head_timeout_secs", self.request_head_timeout_secs, 1, 300)?,
            request_body_timeout: secs("request_body_timeout_secs", self.request_body_timeout_secs, 1, 3_600)?,
            max_connections: in_range(key("max_connections"), u64::from(self.max_connections), 16, 1_000_000)? as usize,
            max_connections_per_peer: in_range(
                key("max_connections_per_peer"),
                u64::from(self.max_connections_per_peer),
                1,
                1_000_000,
            )? as usize,
            graphql: self.graphql.validate(Section(&key("graphql")), development)?,
        };
        if api.max_connections_per_peer > api.max_connections {
            return Err(ConfigError::invalid(
                key("max_connections_per_peer"),
                api.max_connections_per_peer,
                format!("must not exceed {} ({})", key("max_connections"), api.max_connections),
            ));
        }
        Ok(api)
    }
}

impl RawMetrics {
    /// `api_listen` is the API's validated address: metrics are served on a listener of their own.
    pub(crate) fn validate(self, prefix: Section<'_>, api_listen: SocketAddr) -> Result<MetricsConfig, ConfigError> {
        let metrics = MetricsConfig { enabled: self.enabled, listen: parse_addr(prefix.key("listen"), &self.listen)? };
        if metrics.enabled && metrics.listen.port() != 0 && metrics.listen == api_listen {
            return Err(ConfigError::invalid(
                prefix.key("listen"),
                metrics.listen,
                "must differ from api.listen: metrics are served on their own listener",
            ));
        }
        Ok(metrics)
    }
}
