//! A certificate under management: what was asked for, what the CA issued, and when it must be renewed.
//! `renew_at` is what the renewal scan indexes; it is derived here so no caller can forget it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{AcmeAccountId, CertificateId, ProjectId, TargetId};
use crate::model::SealedSecret;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateStatus {
    Requested,
    Issuing,
    Issued,
    Renewing,
    Failed,
    Revoked,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    EcdsaP256,
    EcdsaP384,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: CertificateId,
    pub project_id: ProjectId,
    pub common_name: String,
    pub sans: Vec<String>,
    pub key_type: KeyType,
    /// The issuer: the ACME account that orders this certificate.
    pub acme_account_id: AcmeAccountId,
    /// Renew this many days before expiry; `None` means a third of the lifetime.
    pub renew_before_days: Option<u32>,
    pub target_ids: Vec<TargetId>,
    pub status: CertificateStatus,
    pub serial: Option<String>,
    pub not_before: Option<Timestamp>,
    pub not_after: Option<Timestamp>,
    /// SHA-256 of the leaf's DER, lower-case hex.
    pub fingerprint_sha256: Option<String>,
    pub chain_pem: Option<String>,
    pub private_key: Option<SealedSecret>,
    /// When the renewal window opens; set only while the certificate is issued.
    pub renew_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Certificate {
    pub fn new(
        project_id: ProjectId,
        common_name: impl Into<String>,
        sans: Vec<String>,
        key_type: KeyType,
        acme_account_id: AcmeAccountId,
        now: Timestamp,
    ) -> Self {
        Certificate {
            id: CertificateId::new(),
            project_id,
            common_name: common_name.into(),
            sans,
            key_type,
            acme_account_id,
            renew_before_days: None,
            target_ids: Vec::new(),
            status: CertificateStatus::Requested,
            serial: None,
            not_before: None,
            not_after: None,
            fingerprint_sha256: None,
            chain_pem: None,
            private_key: None,
            renew_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The start of the renewal window for the current validity, if the certificate has one.
    pub fn renewal_window_start(&self) -> Option<Timestamp> {
        let (not_before, not_after) = (self.not_before?, self.not_after?);
        let lifetime = not_after.duration_since(not_before);
        let before = match self.renew_before_days {
            Some(days) => Duration::from_secs(u64::from(days) * 86_400).min(lifetime),
            None => lifetime / 3,
        };
        Some(not_after.saturating_sub(before))
    }

    /// Records a fresh issuance and derives the renewal time from it.
    pub fn mark_issued(&mut self, serial: String, not_before: Timestamp, not_after: Timestamp, fingerprint: String) {
        self.status = CertificateStatus::Issued;
        self.serial = Some(serial);
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self.fingerprint_sha256 = Some(fingerprint);
        self.last_error = None;
        self.renew_at = self.renewal_window_start();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a policy the window opens two thirds into the lifetime; an explicit policy wins but is
    /// capped at the lifetime.
    #[test]
    fn renewal_window_defaults_to_a_third_of_the_lifetime() {
        let start = Timestamp::from_unix_millis(0);
        let end = start.saturating_add(Duration::from_secs(90 * 86_400));
        let mut cert =
            Certificate::new(ProjectId::new(), "a.example", vec![], KeyType::EcdsaP256, AcmeAccountId::new(), start);
        assert_eq!(cert.renewal_window_start(), None);
        cert.mark_issued("01".into(), start, end, "ab".into());
        assert_eq!(cert.renew_at, Some(start.saturating_add(Duration::from_secs(60 * 86_400))));
        cert.renew_before_days = Some(10);
        assert_eq!(cert.renewal_window_start(), Some(start.saturating_add(Duration::from_secs(80 * 86_400))));
        cert.renew_before_days = Some(400);
        assert_eq!(cert.renewal_window_start(), Some(start));
    }
}
