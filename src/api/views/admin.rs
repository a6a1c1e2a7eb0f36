//! Views of this process's live actors, for owners looking inside.
//! Invariant: secret-free (actor snapshots never hold secrets).

use certautopilot_core::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

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
