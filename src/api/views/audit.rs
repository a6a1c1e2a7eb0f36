//! Views of the audit trail: the event search, events, verification, and how a principal is named
//! in them.
//! Invariant: secret-free (audit details never hold secrets).

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

/// `?project_id=&action=&from=&until=&cursor=&limit=` of the event search, as given: the search
/// checks each (the route table documents them as query parameters).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub project_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyQuery {
    /// Walk from the first entry.
    #[serde(default)]
    pub full: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyResult {
    pub intact: bool,
    /// Entries in the chain that are verified (up to the broken one).
    pub entries: u64,
    /// `full` (walked from the first entry) or `from_mark` (from the verified-up-to mark).
    pub mode: String,
    /// The mark's `seq` the walk started after (0: the first entry).
    pub verified_from: u64,
    /// When the chain up to `verified_from` had been verified (by the scheduler's verifier).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub marked_at: Option<certautopilot_core::Timestamp>,
    /// Entries this verification read.
    pub checked: u64,
    /// The last entry's hmac, when the chain is intact.
    pub head: Option<String>,
    pub broken_at: Option<u64>,
    pub reason: Option<String>,
    /// Events committed with their changes but not chained yet (their AuditActor is behind or
    /// failing); 0 once the chain has caught up.
    pub pending: u64,
}

/// `user:<id>`, `api_token:<id>` or `system:<component>`, as audit views show who acted.
pub(super) fn principal_text(p: &certautopilot_core::Principal) -> String {
    match p {
        certautopilot_core::Principal::User(id) => format!("user:{id}"),
        certautopilot_core::Principal::ApiToken(id) => format!("api_token:{id}"),
        certautopilot_core::Principal::System(name) => format!("system:{name}"),
    }
}
