//! Membership and status requests: what `certautopilot cluster init|join|leave|status` and the admin
//! routes send to a node. A node that does not lead passes join and leave on to the leader.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ClusterError;
use crate::transport::{Connector, TransportCounters, WireRequest, WireResponse};
use crate::types::{Epoch, NodeId};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Makes the receiving node a one-voter cluster. Refused if it already belongs to one.
    Init,
    /// Adds `node_id` at `addr`: first as a learner that catches up, then (if `voter`) as a voter.
    Join {
        node_id: NodeId,
        addr: String,
        voter: bool,
    },
    /// Removes `node_id` from the membership.
    Leave {
        node_id: NodeId,
    },
    Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum AdminResponse {
    Done(String),
    Status(Box<ClusterStatus>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AdminError {
    #[error("this node does not lead and could not pass the request on (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId>, leader_addr: Option<String> },
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
}

/// One node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    pub addr: String,
    /// leader, follower, candidate, learner or shutdown.
    pub state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub leader_addr: Option<String>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub nodes: BTreeMap<NodeId, String>,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    /// The leader and term a quorum has confirmed (the fencing epoch).
    pub epoch: Option<Epoch>,
    /// True while this node's scheduler may run (it leads, confirmed, with a fresh quorum).
    pub scheduler_active: bool,
    pub millis_since_quorum_ack: Option<u64>,
    pub transport: TransportCounters,
}

/// Sends one membership or status request to the node at `addr`.
pub async fn call(
    connector: &Connector,
    addr: &str,
    request: AdminRequest,
    timeout: Duration,
) -> Result<AdminResponse, ClusterError> {
    match connector.call_once(addr, &WireRequest::Admin { request, forwarded: false }, timeout).await? {
        WireResponse::Admin(result) => result.map_err(ClusterError::Admin),
        _ => Err(ClusterError::Transport(crate::transport::TransportError::UnexpectedResponse("admin"))),
    }
}
