//! Views for owners and operators looking inside: audit events and verification, live actors,
//! and the cluster as this node sees it. Invariant: secret-free (actor snapshots and audit details
//! never hold secrets).

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditObjectView {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `user:<id>`, `api_token:<id>` or `system:<component>`.
    pub actor: String,
    pub action: String,
    pub object: Option<AuditObjectView>,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub project_id: Option<ProjectId>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hmac: String,
    pub hmac: String,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        let actor = principal_text(&e.actor);
        AuditEventView {
            seq: e.seq,
            at: e.at,
            actor,
            action: e.action,
            object: e.object.map(|o| AuditObjectView { kind: o.kind, id: o.id }),
            project_id: e.project_id,
            details: e.details,
            prev_hmac: e.prev_hmac,
            hmac: e.hmac,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyResult {
    pub intact: bool,
    /// Entries verified (up to the broken one).
    pub entries: u64,
    /// The last entry's hmac, when the chain is intact.
    pub head: Option<String>,
    pub broken_at: Option<u64>,
    pub reason: Option<String>,
    /// Events committed with their changes but not chained yet (their AuditActor is behind or
    /// failing); 0 once the chain has caught up.
    pub pending: u64,
}

/// One live actor as the registry last saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `audit`, `kek`, `job_pump`, `siem_forwarder`, `certificate`, `acme_account`, `scheduler`, …
    pub kind: String,
    pub key: String,
    pub state: String,
    /// False between a crash and the restart.
    pub alive: bool,
    /// Messages sent and not yet answered, the one in hand included.
    pub mailbox_depth: u64,
    pub messages_handled: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity: Option<Timestamp>,
    /// Kind-specific figures (never secrets).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<certautopilot_actors::ActorSnapshot> for ActorView {
    fn from(s: certautopilot_actors::ActorSnapshot) -> Self {
        ActorView {
            kind: s.kind.to_owned(),
            key: s.key,
            state: s.state,
            alive: s.alive,
            mailbox_depth: s.mailbox_depth,
            messages_handled: s.messages_handled,
            restarts: s.restarts,
            last_error: s.last_error,
            last_activity: s.last_activity,
            detail: s.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorList {
    pub items: Vec<ActorView>,
}

/// `user:<id>`, `api_token:<id>` or `system:<component>`, as audit views show who acted.
pub(super) fn principal_text(p: &certautopilot_core::Principal) -> String {
    match p {
        certautopilot_core::Principal::User(id) => format!("user:{id}"),
        certautopilot_core::Principal::ApiToken(id) => format!("api_token:{id}"),
        certautopilot_core::Principal::System(name) => format!("system:{name}"),
    }
}

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
