//! Distribution targets: a destination and its credential, reusable across many certificates.

use serde::{Deserialize, Serialize};

use crate::ids::{ProjectId, TargetId};
use crate::model::SealedSecret;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    File,
    Ssh,
    Webhook,
    Kubernetes,
    Vault,
    F5,
    Netscaler,
    Iis,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionTarget {
    pub id: TargetId,
    pub project_id: ProjectId,
    pub name: String,
    pub kind: TargetKind,
    /// Non-secret settings (paths, host, port, reload command).
    pub config: serde_json::Value,
    pub credential: Option<SealedSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl DistributionTarget {
    pub fn new(project_id: ProjectId, name: impl Into<String>, kind: TargetKind, now: Timestamp) -> Self {
        DistributionTarget {
            id: TargetId::new(),
            project_id,
            name: name.into(),
            kind,
            config: serde_json::Value::Object(Default::default()),
            credential: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
