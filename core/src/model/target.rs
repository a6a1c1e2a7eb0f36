//! Distribution targets: a destination and its credential, reusable across many certificates.

use serde::{Deserialize, Serialize};

use crate::ids::{CertificateId, DeploymentId, ProjectId, TargetId};
use crate::model::{SealedSecret, TargetConfig};
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

impl TargetKind {
    /// The kind's name, as serde writes it (the API's `type`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::File => "file",
            TargetKind::Ssh => "ssh",
            TargetKind::Webhook => "webhook",
            TargetKind::Kubernetes => "kubernetes",
            TargetKind::Vault => "vault",
            TargetKind::F5 => "f5",
            TargetKind::Netscaler => "netscaler",
            TargetKind::Iis => "iis",
        }
    }

    /// Every kind, for the API contract (its names come from serde).
    pub const ALL: [TargetKind; 8] = [
        TargetKind::File,
        TargetKind::Ssh,
        TargetKind::Webhook,
        TargetKind::Kubernetes,
        TargetKind::Vault,
        TargetKind::F5,
        TargetKind::Netscaler,
        TargetKind::Iis,
    ];
}

/// A distribution target. Stored as before its settings were typed: `kind` beside the `config`
/// object (`StoredTarget`), so rows written then load unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredTarget", try_from = "StoredTarget")]
pub struct DistributionTarget {
    pub id: TargetId,
    pub project_id: ProjectId,
    pub name: String,
    /// Non-secret settings (paths, host, port, reload command), typed per kind.
    pub config: TargetConfig,
    pub credential: Option<SealedSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl DistributionTarget {
    /// A target with `config`; a bare `TargetKind` gives that kind's blank settings.
    pub fn new(
        project_id: ProjectId,
        name: impl Into<String>,
        config: impl Into<TargetConfig>,
        now: Timestamp,
    ) -> Self {
        DistributionTarget {
            id: TargetId::new(),
            project_id,
            name: name.into(),
            config: config.into(),
            credential: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub fn kind(&self) -> TargetKind {
        self.config.kind()
    }
}

/// The stored form of a `DistributionTarget`, field for field as it always was.
#[derive(Serialize, Deserialize)]
struct StoredTarget {
    id: TargetId,
    project_id: ProjectId,
    name: String,
    kind: TargetKind,
    config: serde_json::Value,
    credential: Option<SealedSecret>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

impl From<DistributionTarget> for StoredTarget {
    fn from(t: DistributionTarget) -> Self {
        StoredTarget {
            id: t.id,
            project_id: t.project_id,
            name: t.name,
            kind: t.config.kind(),
            config: t.config.to_json(),
            credential: t.credential,
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
        }
    }
}

impl TryFrom<StoredTarget> for DistributionTarget {
    type Error = String;
    fn try_from(t: StoredTarget) -> Result<Self, String> {
        let config = TargetConfig::from_json(t.kind, t.config).map_err(|e| format!("config: {e}"))?;
        Ok(DistributionTarget {
            id: t.id,
            project_id: t.project_id,
            name: t.name,
            config,
            credential: t.credential,
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentStatus {
    /// Queued or being retried.
    Pending,
    Deployed,
    Failed,
    /// The certificate was revoked while deployed here: its files (or Secret, or entry) are still
    /// in place until something replaces them; scans report whether it is still served
    /// (`Deployment::revoked_served`).
    #[serde(rename = "revoked_in_place")]
    RevokedInPlace,
}

impl DeploymentStatus {
    /// The name the API and the metrics use (serde's).
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Pending => "pending",
            DeploymentStatus::Deployed => "deployed",
            DeploymentStatus::Failed => "failed",
            DeploymentStatus::RevokedInPlace => "revoked_in_place",
        }
    }
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
    /// When the target was last scanned, whatever the scan found.
    #[serde(default)]
    pub scanned_at: Option<Timestamp>,
    /// For a `revoked_in_place` deployment: whether the last scan found the revoked certificate
    /// still served there (`None`: not scanned since the revocation, or the target cannot be read).
    #[serde(default)]
    pub revoked_served: Option<bool>,
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
            revoked_served: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// Whether the certificate deployed here was revoked while in place.
    pub fn is_revoked_in_place(&self) -> bool {
        self.status == DeploymentStatus::RevokedInPlace
    }

    /// The unique key of a certificate's deployment to a target.
    pub fn key(certificate_id: CertificateId, target_id: TargetId) -> String {
        format!("{certificate_id}/{target_id}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every target kind's `as_str` is its serde name, which the API's `type` shows.
    #[test]
    fn kind_names_are_serde_names() {
        for kind in TargetKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
    }

    /// The status names are serde's, `as_str` agrees with them, and a record stored before
    /// `revoked_served` existed still reads.
    #[test]
    fn status_names_and_old_records() {
        for status in [
            DeploymentStatus::Pending,
            DeploymentStatus::Deployed,
            DeploymentStatus::Failed,
            DeploymentStatus::RevokedInPlace,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), serde_json::json!(status.as_str()));
        }
        let now = Timestamp::now();
        let mut old =
            serde_json::to_value(Deployment::new(ProjectId::new(), CertificateId::new(), TargetId::new(), now))
                .unwrap();
        old.as_object_mut().unwrap().remove("revoked_served");
        let read: Deployment = serde_json::from_value(old).unwrap();
        assert_eq!(read.revoked_served, None);
    }

    /// A target document as stored before its settings were typed (`kind` beside a `config`
    /// object, keys sorted) reads back and writes back byte for byte.
    #[test]
    fn a_stored_document_keeps_its_bytes() {
        let now = Timestamp::now();
        let t = DistributionTarget::new(ProjectId::new(), "web", TargetKind::Ssh, now);
        let v = serde_json::to_value(&t).unwrap();
        let config = r#"{"cert_path":"/c","host":"h.test","host_key_sha256":"SHA256:x","key_path":"/k","owner":"www","port":2222,"reload_command":null,"tls_endpoint":"h.test:443","user":"u"}"#;
        let old = format!(
            r#"{{"id":{},"project_id":{},"name":"web","kind":"ssh","config":{config},"credential":null,"created_at":{},"updated_at":{},"version":1}}"#,
            v["id"], v["project_id"], v["created_at"], v["updated_at"]
        );
        let read: DistributionTarget = serde_json::from_str(&old).unwrap();
        assert_eq!(read.kind(), TargetKind::Ssh);
        assert_eq!(read.config.tls_endpoint(), Some(("h.test:443", None)));
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
    }
}
