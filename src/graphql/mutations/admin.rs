//! Mutations of the cluster's membership and the forced actor panic (owners only): REST's
//! `initCluster`, `joinCluster`, `leaveCluster` and `panicActor`, answered by `service::cluster` and
//! `service::admin`.
//! Invariant: each resolver admits the caller under its REST operation's policy (`authorize` with
//! `Mutation.<name>`, listed in `FIELD_OPERATIONS`) and calls that operation's service function.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use serde::Serialize;

use crate::api::views::{ClusterChanged, JoinCluster, LeaveCluster};
use crate::graphql::authorize;
use crate::graphql::cluster::ClusterNodeStatus;
use crate::graphql::errors::GqlResult;
use crate::graphql::mutations::decode;
use crate::service;

#[derive(InputObject, Serialize)]
pub struct JoinClusterInput {
    /// 1 or more.
    node_id: u64,
    /// The `host:port` of the joining node's cluster port.
    addr: String,
    /// `false` adds a learner (follows the log, never votes); omitted means a voter.
    #[serde(skip_serializing_if = "Option::is_none")]
    voter: Option<bool>,
}

#[derive(InputObject, Serialize)]
pub struct LeaveClusterInput {
    /// 1 or more.
    node_id: u64,
}

/// The outcome of a membership change, and the cluster as this node sees it afterwards.
#[derive(SimpleObject)]
pub struct ClusterChangedPayload {
    message: String,
    status: ClusterNodeStatus,
}

impl From<ClusterChanged> for ClusterChangedPayload {
    fn from(c: ClusterChanged) -> Self {
        ClusterChangedPayload { message: c.message, status: c.status.into() }
    }
}

/// The actor a forced panic was sent to; watch `actor(kind:, key:)` for its restart.
#[derive(SimpleObject)]
pub struct ActorPanicRequested {
    kind: String,
    key: String,
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Makes this node a one-voter cluster.
    async fn init_cluster(&self, ctx: &Context<'_>) -> GqlResult<ClusterChangedPayload> {
        let auth = authorize(ctx, "Mutation.initCluster")?;
        Ok(service::cluster::init(&auth).await?.into())
    }

    /// Adds a node: as a learner that catches up, then (unless `voter` is false) as a voter.
    async fn join_cluster(&self, ctx: &Context<'_>, input: JoinClusterInput) -> GqlResult<ClusterChangedPayload> {
        let auth = authorize(ctx, "Mutation.joinCluster")?;
        let body: JoinCluster = decode(&input)?;
        Ok(service::cluster::join(&auth, body).await?.into())
    }

    /// Removes a node from the cluster.
    async fn leave_cluster(&self, ctx: &Context<'_>, input: LeaveClusterInput) -> GqlResult<ClusterChangedPayload> {
        let auth = authorize(ctx, "Mutation.leaveCluster")?;
        let body: LeaveCluster = decode(&input)?;
        Ok(service::cluster::leave(&auth, body).await?.into())
    }

    /// Makes an actor panic to watch it restart (`debug.fault_injection` only).
    async fn panic_actor(&self, ctx: &Context<'_>, kind: String, key: String) -> GqlResult<ActorPanicRequested> {
        let auth = authorize(ctx, "Mutation.panicActor")?;
        service::admin::panic(&auth, &kind, &key).await?;
        Ok(ActorPanicRequested { kind, key })
    }
}
