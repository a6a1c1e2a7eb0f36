//! One entry of an organization's audit chain (ARCHITECTURE.md §6). M1.4 computes the HMACs; the store
//! only guarantees that `seq` is gap-free per organization.

use serde::{Deserialize, Serialize};

use crate::ids::{OrgId, ProjectId};
use crate::scope::Principal;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditObject {
    /// `certificate`, `member`, `credential`, …
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub org_id: OrgId,
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Principal,
    /// `cert.requested`, `cert.issued`, `member.added`, `kek.rotated`, …
    pub action: String,
    pub object: Option<AuditObject>,
    pub project_id: Option<ProjectId>,
    /// Never a secret.
    pub details: serde_json::Value,
    pub prev_hmac: String,
    pub hmac: String,
}
