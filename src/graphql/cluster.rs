//! The cluster as this node sees it (anyone signed in) and this process's live actors (owners):
//! REST's `getClusterStatus`, `listActors` and `getActor`, answered by `service::cluster` and
//! `service::admin`. Membership changes and the forced panic are mutations (`mutations::admin`).
//! Invariant: secret-free, as the REST views they copy (no TLS key material, no actor secrets).

use async_graphql::{Context, Object, SimpleObject};
use certautopilot_cluster::ClusterStatus;

use crate::api::views::{ActorView, ClusterStatusView};
use crate::graphql::authorize;
use crate::graphql::errors::GqlResult;
use crate::graphql::scalars::{DateTime, Json, at_opt};
use crate::service;

/// Whether this node takes part in a cluster, and its view of it.
#[derive(SimpleObject)]
#[graphql(name = "ClusterStatus")]
pub struct ClusterStatusNode {
    enabled: bool,
    /// Absent when the node runs alone (no `[cluster]` section).
    node: Option<ClusterNodeStatus>,
}

impl From<ClusterStatusView> for ClusterStatusNode {
    fn from(v: ClusterStatusView) -> Self {
        ClusterStatusNode { enabled: v.enabled, node: v.status.map(ClusterNodeStatus::from) }
    }
}

/// One node of the cluster: its id and cluster address.
#[derive(SimpleObject)]
pub struct ClusterMember {
    node_id: u64,
    addr: String,
}

/// The leader and term a quorum has confirmed (the fencing epoch).
#[derive(SimpleObject)]
pub struct ClusterEpoch {
    term: u64,
    node_id: u64,
}

/// This node's cluster transport since it started.
#[derive(SimpleObject)]
pub struct ClusterTransport {
    connections: u64,
    requests: u64,
    rejected_frames: u64,
    tls_failures: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// The cluster as one node sees it (REST's `ClusterStatus`).
#[derive(SimpleObject)]
pub struct ClusterNodeStatus {
    node_id: u64,
    addr: String,
    /// leader, follower, candidate, learner or shutdown.
    state: String,
    term: u64,
    leader: Option<u64>,
    leader_addr: Option<String>,
    voters: Vec<u64>,
    learners: Vec<u64>,
    nodes: Vec<ClusterMember>,
    last_log_index: Option<u64>,
    last_applied_index: Option<u64>,
    epoch: Option<ClusterEpoch>,
    /// True while this node's scheduler may run (it leads, confirmed, with a fresh quorum).
    scheduler_active: bool,
    millis_since_quorum_ack: Option<u64>,
    transport: ClusterTransport,
}

impl From<ClusterStatus> for ClusterNodeStatus {
    fn from(s: ClusterStatus) -> Self {
        let t = s.transport;
        ClusterNodeStatus {
            node_id: s.node_id,
            addr: s.addr,
            state: s.state,
            term: s.term,
            leader: s.leader,
            leader_addr: s.leader_addr,
            voters: s.voters,
            learners: s.learners,
            nodes: s.nodes.into_iter().map(|(node_id, addr)| ClusterMember { node_id, addr }).collect(),
            last_log_index: s.last_log_index,
            last_applied_index: s.last_applied_index,
            epoch: s.epoch.map(|e| ClusterEpoch { term: e.term, node_id: e.node }),
            scheduler_active: s.scheduler_active,
            millis_since_quorum_ack: s.millis_since_quorum_ack,
            transport: ClusterTransport {
                connections: t.connections,
                requests: t.requests,
                rejected_frames: t.rejected_frames,
                tls_failures: t.tls_failures,
                bytes_in: t.bytes_in,
                bytes_out: t.bytes_out,
            },
        }
    }
}

/// One live actor as the registry last saw it (REST's `ActorView`).
#[derive(SimpleObject)]
#[graphql(name = "Actor")]
pub struct ActorNode {
    /// `audit`, `kek`, `job_pump`, `siem_forwarder`, `certificate`, `acme_account`, `scheduler`, …
    kind: String,
    key: String,
    state: String,
    /// False between a crash and the restart.
    alive: bool,
    /// Messages sent and not yet answered, the one in hand included.
    mailbox_depth: u64,
    messages_handled: u64,
    restarts: u32,
    last_error: Option<String>,
    last_activity: Option<DateTime>,
    /// Kind-specific figures (never secrets).
    detail: Json,
}

impl From<ActorView> for ActorNode {
    fn from(v: ActorView) -> Self {
        ActorNode {
            kind: v.kind,
            key: v.key,
            state: v.state,
            alive: v.alive,
            mailbox_depth: v.mailbox_depth,
            messages_handled: v.messages_handled,
            restarts: v.restarts,
            last_error: v.last_error,
            last_activity: at_opt(v.last_activity),
            detail: async_graphql::Json(v.detail),
        }
    }
}

#[derive(Default)]
pub struct ClusterQuery;

#[Object]
impl ClusterQuery {
    /// This node's view of the cluster: leader, term, voters, whether its scheduler is active.
    async fn cluster_status(&self, ctx: &Context<'_>) -> GqlResult<ClusterStatusNode> {
        let auth = authorize(ctx, "Query.clusterStatus")?;
        Ok(service::cluster::status(&auth).await?.into())
    }

    /// Every live actor of this process, or those of one `kind` (owners only).
    async fn actors(&self, ctx: &Context<'_>, kind: Option<String>) -> GqlResult<Vec<ActorNode>> {
        let auth = authorize(ctx, "Query.actors")?;
        let list = service::admin::list(&auth, kind.as_deref()).await?;
        Ok(list.items.into_iter().map(ActorNode::from).collect())
    }

    /// One live actor by kind and key (owners only); an unknown one is `not_found`.
    async fn actor(&self, ctx: &Context<'_>, kind: String, key: String) -> GqlResult<ActorNode> {
        let auth = authorize(ctx, "Query.actor")?;
        Ok(service::admin::get(&auth, &kind, &key).await?.into())
    }
}
