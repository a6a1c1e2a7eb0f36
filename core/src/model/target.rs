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

    /// The keys this kind's configuration accepts: the API's validators refuse any other, and the
    /// OpenAPI document lists exactly these.
    pub fn config_keys(self) -> &'static [&'static str] {
        match self {
            TargetKind::File => &[
                "cert_path",
                "key_path",
                "mode",
                "cert_mode",
                "owner",
                "reload_command",
                "auto_redeploy",
                "tls_endpoint",
                "tls_server_name",
            ],
            TargetKind::Ssh => &[
                "host",
                "port",
                "user",
                "cert_path",
                "key_path",
                "host_key_sha256",
                "private_key",
                "reload_command",
                "owner",
                "auto_redeploy",
                "tls_endpoint",
                "tls_server_name",
            ],
            TargetKind::Webhook => &["url", "hmac_secret", "include_private_key"],
            TargetKind::Kubernetes => {
                &["api_url", "namespace", "secret_name", "token", "ca_bundle_pem", "auto_redeploy"]
            }
            TargetKind::Vault => &["address", "mode", "mount", "path", "token", "ca_bundle_pem", "auto_redeploy"],
            TargetKind::F5 => &["url", "username", "password", "partition", "profile", "object_name", "ca_bundle_pem"],
            TargetKind::Netscaler => &["url", "username", "password", "certkey", "ca_bundle_pem"],
            TargetKind::Iis => &["agent_url", "hmac_secret", "site", "binding", "ca_bundle_pem"],
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
}
