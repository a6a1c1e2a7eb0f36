//! The cluster: its status for anyone signed in, membership changes for owners. The same requests
//! as `certautopilot cluster …`; a node that does not lead passes them to the leader.
//! Invariant: membership lives in Raft, not in the store, so each change's audit entry follows it
//! (written on its own, logged loudly when it cannot be).

use std::time::Duration;

use certautopilot_cluster::{AdminError, AdminRequest, AdminResponse, ClusterNode};

use crate::api::views::{ClusterChanged, ClusterStatusView, JoinCluster, LeaveCluster};
use crate::service::authorized::Authorized;
use crate::service::error::{ApiError, ErrorCode};

/// This node's view of the cluster, if it is part of one.
pub async fn status(auth: &Authorized) -> Result<ClusterStatusView, ApiError> {
    auth.caller()?;
    let cluster = auth.state().cluster();
    Ok(ClusterStatusView { enabled: cluster.is_some(), status: cluster.map(|n| n.status()) })
}

fn node(auth: &Authorized) -> Result<&ClusterNode, ApiError> {
    auth.state().cluster().map(|n| n.as_ref()).ok_or_else(|| {
        ApiError::conflict("this node is not part of a cluster (no [cluster] section in its configuration)")
    })
}

/// Makes this node a one-voter cluster.
pub async fn init(auth: &Authorized) -> Result<ClusterChanged, ApiError> {
    auth.caller()?;
    let node = node(auth)?;
    let message = change(node, AdminRequest::Init).await?;
    audit(auth, "cluster.initialized", node.id(), serde_json::json!({})).await;
    Ok(ClusterChanged { message, status: node.status() })
}

/// Adds a node: as a learner that catches up, then (unless `voter` is false) as a voter.
pub async fn join(auth: &Authorized, input: JoinCluster) -> Result<ClusterChanged, ApiError> {
    auth.caller()?;
    if input.node_id == 0 {
        return Err(ApiError::invalid("node_id", "must be 1 or more"));
    }
    let node = node(auth)?;
    let addr = input.addr.trim().to_owned();
    let request = AdminRequest::Join { node_id: input.node_id, addr: addr.clone(), voter: input.voter };
    let message = change(node, request).await?;
    let details = serde_json::json!({ "addr": addr, "voter": input.voter });
    audit(auth, "cluster.member_joined", input.node_id, details).await;
    Ok(ClusterChanged { message, status: node.status() })
}

/// Removes a node from the cluster.
pub async fn leave(auth: &Authorized, input: LeaveCluster) -> Result<ClusterChanged, ApiError> {
    auth.caller()?;
    if input.node_id == 0 {
        return Err(ApiError::invalid("node_id", "must be 1 or more"));
    }
    let node = node(auth)?;
    let message = change(node, AdminRequest::Leave { node_id: input.node_id }).await?;
    audit(auth, "cluster.member_left", input.node_id, serde_json::json!({})).await;
    Ok(ClusterChanged { message, status: node.status() })
}

async fn change(node: &ClusterNode, request: AdminRequest) -> Result<String, ApiError> {
    // Joining waits for the learner to catch up; the node bounds it, this bounds the request.
    match tokio::time::timeout(Duration::from_secs(90), node.admin(request)).await {
        Err(_) => Err(ApiError::new(ErrorCode::ServiceUnavailable, "the membership change did not finish in time")),
        Ok(Ok(AdminResponse::Done(message))) => Ok(message),
        Ok(Ok(AdminResponse::Status(_))) => Err(ApiError::internal("cluster", &"status answered to a change")),
        Ok(Err(AdminError::Refused(why))) => Err(ApiError::conflict(why)),
        Ok(Err(e @ AdminError::NotLeader { .. })) => Err(ApiError::new(ErrorCode::ServiceUnavailable, e.to_string())),
        Ok(Err(AdminError::Failed(why))) => Err(ApiError::new(ErrorCode::ServiceUnavailable, why)),
    }
}

/// Membership lives in Raft, not in the store, so its entry follows the change rather than sharing
/// its transaction; a failure to append is logged loudly.
async fn audit(auth: &Authorized, action: &str, node_id: u64, details: serde_json::Value) {
    let written = async {
        let entry = auth.audit(action, Some(("cluster_node", node_id.to_string())), None, details).await?;
        auth.state().store()?.append_audit(entry).await?;
        Ok::<_, ApiError>(())
    };
    if let Err(e) = written.await {
        tracing::error!(action, node_id, error = ?e, "membership changed but its audit entry was not written");
    }
}
