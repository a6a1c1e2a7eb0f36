//! Views of the cluster as this node sees it, and the bodies of membership changes.
//! Invariant: secret-free (no key material of the cluster's TLS).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /api/v1/cluster/status`: whether this node takes part in a cluster, and its view of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStatusView {
    pub enabled: bool,
    pub status: Option<certautopilot_cluster::ClusterStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinCluster {
    #[schema(minimum = 1)]
    pub node_id: u64,
    /// The `host:port` of the joining node's cluster port.
    pub addr: String,
    /// `false` adds a learner (a worker or API node that follows the log but never votes).
    #[serde(default = "default_true")]
    pub voter: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveCluster {
    #[schema(minimum = 1)]
    pub node_id: u64,
}

/// The outcome of a membership change, and the cluster as this node sees it afterwards.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterChanged {
    pub message: String,
    pub status: certautopilot_cluster::ClusterStatus,
}
