//! The cluster through HTTP: its status for anyone signed in, membership changes for owners. The
//! same requests as `certautopilot cluster …`; a node that does not lead passes them to the leader.

use std::time::Duration;

use actix_web::web;
use certautopilot_cluster::{AdminError, AdminRequest, AdminResponse, ClusterNode};

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::json::ApiJson;
use crate::api::views::{ClusterChanged, ClusterStatusView, JoinCluster, LeaveCluster};

pub async fn status(auth: Authorized, state: web::Data<AppState>) -> Result<web::Json<ClusterStatusView>, ApiError> {
    auth.caller()?;
    Ok(web::Json(ClusterStatusView { enabled: state.cluster().is_some(), status: state.cluster().map(|n| n.status()) }))
}

fn node(state: &AppState) -> Result<&ClusterNode, ApiError> {
    state.cluster().map(|n| n.as_ref()).ok_or_else(|| {
        ApiError::conflict("this node is not part of a cluster (no [cluster] section in its configuration)")
    })
}

pub async fn init(auth: Authorized, state: web::Data<AppState>) -> Result<web::Json<ClusterChanged>, ApiError> {
    let caller = auth.caller()?;
    let node = node(&state)?;
    let message = change(node, AdminRequest::Init).await?;
    audit(&state, caller.principal().clone(), "cluster.initialized", node.id(), serde_json::json!({})).await;
    Ok(web::Json(ClusterChanged { message, status: node.status() }))
}

pub async fn join(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<JoinCluster>,
) -> Result<web::Json<ClusterChanged>, ApiError> {
    let caller = auth.caller()?;
    if body.node_id == 0 {
        return Err(ApiError::invalid("node_id", "must be 1 or more"));
    }
    let node = node(&state)?;
    let addr = body.addr.trim().to_owned();
    let request = AdminRequest::Join { node_id: body.node_id, addr: addr.clone(), voter: body.voter };
    let message = change(node, request).await?;
    let details = serde_json::json!({ "addr": addr, "voter": body.voter });
    audit(&state, caller.principal().clone(), "cluster.member_joined", body.node_id, details).await;
    Ok(web::Json(ClusterChanged { message, status: node.status() }))
}

pub async fn leave(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<LeaveCluster>,
) -> Result<web::Json<ClusterChanged>, ApiError> {
    let caller = auth.caller()?;
    if body.node_id == 0 {
        return Err(ApiError::invalid("node_id", "must be 1 or more"));
    }
    let node = node(&state)?;
    let node_id = body.node_id;
    let message = change(node, AdminRequest::Leave { node_id }).await?;
    audit(&state, caller.principal().clone(), "cluster.member_left", node_id, serde_json::json!({})).await;
    Ok(web::Json(ClusterChanged { message, status: node.status() }))
}

async fn change(node: &ClusterNode, request: AdminRequest) -> Result<String, ApiError> {
    // Joining waits for the learner to catch up; the node bounds it, this bounds the HTTP request.
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
async fn audit(
    state: &AppState,
    actor: certautopilot_core::Principal,
    action: &str,
    node_id: u64,
    details: serde_json::Value,
) {
    let written = async {
        let org = state.org().await?;
        state
            .store()?
            .append_audit(org.audit(actor, action, Some(("cluster_node", node_id.to_string())), None, details))
            .await?;
        Ok::<_, ApiError>(())
    };
    if let Err(e) = written.await {
        tracing::error!(action, node_id, error = ?e, "membership changed but its audit entry was not written");
    }
}
