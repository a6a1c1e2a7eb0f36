//! `[cluster]`: this node's place in the Raft group that elects the scheduler (docs/cluster.md).
//! Invariant: election timeouts leave room for at least three heartbeats, and min < max.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::in_range;
use crate::error::ConfigError;

/// A validated `[cluster]` section.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterConfig {
    pub node_id: u64,
    pub listen: SocketAddr,
    pub advertise: String,
    pub source_address: Option<std::net::IpAddr>,
    pub raft_db: PathBuf,
    pub ca_path: PathBuf,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
}

pub(crate) fn validate_cluster(c: crate::raw::RawCluster, data_dir: &Path) -> Result<ClusterConfig, ConfigError> {
    let node_id = match (c.node_id, c.node_index) {
        (0, Some(index)) => in_range("cluster.node_index", index, 0, u64::MAX - 1)? + 1,
        (_, Some(index)) => {
            return Err(ConfigError::invalid("cluster.node_index", index, "give node_id or node_index, not both"));
        }
        (id, None) => in_range("cluster.node_id", id, 1, u64::MAX)?,
    };
    let listen: SocketAddr = c
        .listen
        .parse()
        .map_err(|_| ConfigError::invalid("cluster.listen", &c.listen, "must be an ip:port address"))?;
    let advertise = match c.advertise {
        Some(a) => {
            let port =
                a.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then_some(p)).and_then(|p| p.parse::<u16>().ok());
            if !matches!(port, Some(p) if p > 0) || a.contains(char::is_whitespace) {
                return Err(ConfigError::invalid("cluster.advertise", &a, "must be a host:port address"));
            }
            a
        }
        None if listen.ip().is_unspecified() => {
            return Err(ConfigError::invalid(
                "cluster.advertise",
                "\"\"",
                format!("is required when cluster.listen ({listen}) is a wildcard address"),
            ));
        }
        None => listen.to_string(),
    };
    let source_address = c
        .source_address
        .map(|a| a.parse().map_err(|_| ConfigError::invalid("cluster.source_address", &a, "must be an IP address")))
        .transpose()?;
    let path = |key: &'static str, v: &str| {
        if v.trim().is_empty() {
            Err(ConfigError::invalid(key, "\"\"", "is required in [cluster] (see `certautopilot cluster certs`)"))
        } else {
            Ok(PathBuf::from(v))
        }
    };
    let heartbeat = in_range("cluster.heartbeat_ms", c.heartbeat_ms, 10, 10_000)?;
    let min = in_range("cluster.election_timeout_min_ms", c.election_timeout_min_ms, 50, 60_000)?;
    // A follower must hear several heartbeats per timeout, or one late packet starts an election.
    if min < heartbeat * 3 {
        return Err(ConfigError::invalid(
            "cluster.election_timeout_min_ms",
            min,
            format!("must be at least three heartbeats (3 × cluster.heartbeat_ms = {})", heartbeat * 3),
        ));
    }
    let max = in_range("cluster.election_timeout_max_ms", c.election_timeout_max_ms, 51, 120_000)?;
    if max <= min {
        return Err(ConfigError::invalid(
            "cluster.election_timeout_max_ms",
            max,
            format!("must be above cluster.election_timeout_min_ms ({min}), or elections split"),
        ));
    }
    Ok(ClusterConfig {
        node_id,
        listen,
        advertise,
        source_address,
        raft_db: match c.raft_db {
            Some(p) if !p.trim().is_empty() => PathBuf::from(p),
            Some(_) => return Err(ConfigError::invalid("cluster.raft_db", "\"\"", "must not be empty")),
            None => data_dir.join("raft.db"),
        },
        ca_path: path("cluster.ca_path", &c.ca_path)?,
        cert_path: path("cluster.cert_path", &c.cert_path)?,
        key_path: path("cluster.key_path", &c.key_path)?,
        heartbeat: Duration::from_millis(heartbeat),
        election_timeout_min: Duration::from_millis(min),
        election_timeout_max: Duration::from_millis(max),
    })
}
