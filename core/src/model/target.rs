//! Distribution targets: a destination and its credential, reusable across many certificates.

use serde::{Deserialize, Serialize};

use crate::ids::{CertificateId, DeploymentId, ProjectId, TargetId};
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    /// Queued or being retried.
    Pending,
    Deployed,
    Failed,
}

/// Where one certificate stands on one of its targets: the last deployment attempted and what it
/// left there. Written by the target's actor; one record per (certificate, target).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    pub id: DeploymentId,
    pub project_id: ProjectId,
    pub certificate_id: CertificateId,
    pub target_id: TargetId,
    pub status: DeploymentStatus,
    /// The certificate deployed (or being deployed).
    pub serial: Option<String>,
    pub fingerprint_sha256: Option<String>,
    pub deployed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: u32,
    /// What the last scan found instead of the expected certificate (its fingerprint, or
    /// `missing`); `None` when it matched.
    #[serde(default)]
    pub drift: Option<String>,
    #[serde(default)]
    pub scanned_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Deployment {
    pub fn new(project_id: ProjectId, certificate_id: CertificateId, target_id: TargetId, now: Timestamp) -> Self {
        Deployment {
            id: DeploymentId::new(),
            project_id,
            certificate_id,
            target_id,
            status: DeploymentStatus::Pending,
            serial: None,
            fingerprint_sha256: None,
            deployed_at: None,
            last_error: None,
            attempts: 0,
            drift: None,
            scanned_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The unique key of a certificate's deployment to a target.
    pub fn key(certificate_id: CertificateId, target_id: TargetId) -> String {
        format!("{certificate_id}/{target_id}")
    }
}
