//! A certificate under management: what was asked for, what the CA issued, and when it must be renewed.
//! `renew_at` is what the renewal scan indexes; it is derived here so no caller can forget it.

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
    /// Issued elsewhere (imported or discovered) and only watched: nothing renews it until it is
    /// put under management with an issuer.
    Unmanaged,
}

/// What a renewal of a certificate issued from the operator's CSR finalizes with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsrRenewal {
    /// The same CSR, again (the same key).
    #[default]
    Reuse,
    /// A new CSR for each renewal: after an issuance the certificate waits for one (`PATCH csr_pem`).
    New,
}

/// Where a certificate record came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateOrigin {
    /// Requested here and issued by its ACME account.
    #[default]
    Requested,
    /// Uploaded (PEM or PKCS#12) after being issued elsewhere.
    Imported,
    /// Found served at an endpoint by a discovery scan.
    Discovered,
}

impl CertificateOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateOrigin::Requested => "requested",
            CertificateOrigin::Imported => "imported",
            CertificateOrigin::Discovered => "discovered",
        }
    }
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

impl KeyType {
    /// Every key type, for the API contract (its names come from serde, like the decoder's).
    pub const ALL: [KeyType; 5] =
        [KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Rsa2048, KeyType::Rsa3072, KeyType::Rsa4096];
}

/// RFC 5280 CRLReason codes by name (code 7 is unused by the RFC).
pub const REVOCATION_REASONS: [(&str, u8); 10] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("cACompromise", 2),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
    ("certificateHold", 6),
    ("removeFromCRL", 8),
    ("privilegeWithdrawn", 9),
    ("aACompromise", 10),
];

/// The reasons a subscriber may give when asking for a revocation (RFC 5280's subset that is
/// theirs to claim; the API accepts exactly these).
pub const SUBSCRIBER_REVOCATION_REASONS: [&str; 5] =
    ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"];

/// The RFC 5280 code of a reason name.
pub fn revocation_reason_code(name: &str) -> Option<u8> {
    REVOCATION_REASONS.iter().find(|(n, _)| *n == name).map(|(_, code)| *code)
}

/// The name of an RFC 5280 reason code, as the audit trail records it.
pub fn revocation_reason_name(code: u8) -> String {
    REVOCATION_REASONS.iter().find(|(_, c)| *c == code).map_or_else(|| format!("code {code}"), |(n, _)| (*n).to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    pub id: CertificateId,
    pub project_id: ProjectId,
    pub common_name: String,
    pub sans: Vec<String>,
    pub key_type: KeyType,
    /// The issuer: the ACME account that orders this certificate; `None` only for a certificate
    /// issued elsewhere that is not (yet) under management.
    pub acme_account_id: Option<AcmeAccountId>,
    /// Where the record came from: requested here, imported, or found by a discovery scan.
    #[serde(default)]
    pub origin: CertificateOrigin,
    /// Further issuers, tried in this order when the one before cannot issue for a reason another
    /// CA may not share (down, rate-limiting, a CAA or policy refusal); never the first one again.
    #[serde(default)]
    pub fallback_account_ids: Vec<AcmeAccountId>,
    /// Whether renewals start with the issuer that issued the current certificate; by default they
    /// start with the first again, so the certificate returns to it once it has recovered.
    #[serde(default)]
    pub keep_fallback_issuer: bool,
    /// The account that issued the current certificate.
    #[serde(default)]
    pub issued_by: Option<AcmeAccountId>,
    /// The ACME profile its orders ask for (one the account's CA offers), if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// The operator's certificate signing request (PEM), when they keep the key: every order
    /// (issue and renewal) finalizes with it, and no private key is ever held for the certificate.
    #[serde(default)]
    pub csr_pem: Option<String>,
    /// Whether a renewal finalizes with the same CSR or waits for a new one (with `csr_pem` only).
    #[serde(default)]
    pub csr_renewal: CsrRenewal,
    /// The CSR in hand finalized the current certificate (cleared when a new CSR is given). With
    /// `csr_renewal: new` the certificate then waits for a new one (`waiting_for_csr`).
    #[serde(default)]
    pub csr_spent: bool,
    /// Renew this many days before expiry, at most half the lifetime (`renewal`); `None` means a
    /// third of the lifetime, or half for certificates of ten days or less.
    pub renew_before_days: Option<u32>,
    /// The same lead in hours, for short-lived certificates; at most one of the two is set
    /// (`renewal::RenewBefore`).
    #[serde(default)]
    pub renew_before_hours: Option<u32>,
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
    /// The ACME order in progress (issuance or renewal); a restarted worker resumes it from here.
    #[serde(default)]
    pub order: Option<OrderProgress>,
    /// The key the order in progress is finalized with; it becomes `private_key` once issued.
    #[serde(default)]
    pub pending_key: Option<SealedSecret>,
    /// Certificates this one replaced, newest first (without keys), at most `HISTORY_KEPT`.
    #[serde(default)]
    pub history: Vec<IssuedVersion>,
    /// The CA's renewal window (RFC 9773) for the current certificate, when the CA offers one.
    #[serde(default)]
    pub ari_window: Option<(Timestamp, Timestamp)>,
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
    /// When the current certificate was recorded as issued (the minimum age before a scheduled
    /// renewal counts from here; `not_before` may be backdated by the CA).
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
    /// Automatic renewal is stopped (issue 15, item 5): the store gives a paused certificate no
    /// `due_at`, so the scheduler never queues its renewal; a renewal by hand still runs.
    #[serde(default)]
    pub paused: bool,
    /// What an admin approved last (names, key type, issuer): an operator's renewal of the same
    /// is not approved again (M2.8).
    #[serde(default)]
    pub approved: Option<crate::model::ApprovedShape>,
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
            acme_account_id: Some(acme_account_id),
            origin: CertificateOrigin::Requested,
            fallback_account_ids: Vec::new(),
            keep_fallback_issuer: false,
            issued_by: None,
            profile: None,
            renew_before_days: None,
            renew_before_hours: None,
            csr_pem: None,
            csr_renewal: CsrRenewal::Reuse,
            csr_spent: false,
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
            order: None,
            pending_key: None,
            history: Vec::new(),
            ari_window: None,
            revoked_at: None,
            issued_at: None,
            paused: false,
            approved: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// A certificate issued elsewhere, as read from its chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedElsewhere {
    /// Every DNS name, the common name first (at least one).
    pub names: Vec<String>,
    pub key_type: KeyType,
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    pub chain_pem: String,
}

impl Certificate {
    /// A certificate issued elsewhere (imported or discovered), recorded to be watched: no issuer,
    /// status `unmanaged`, nothing renews it until it is put under management. It counts as issued
    /// at `not_before` (where the minimum age before an automatic renewal counts from once managed).
    pub fn unmanaged(project_id: ProjectId, found: IssuedElsewhere, origin: CertificateOrigin, now: Timestamp) -> Self {
        let common_name = found.names.first().cloned().unwrap_or_default();
        let mut cert =
            Certificate::new(project_id, common_name, found.names, found.key_type, AcmeAccountId::new(), now);
        cert.acme_account_id = None;
        cert.origin = origin;
        cert.status = CertificateStatus::Unmanaged;
        cert.serial = Some(found.serial);
        (cert.not_before, cert.not_after) = (Some(found.not_before), Some(found.not_after));
        cert.fingerprint_sha256 = Some(found.fingerprint_sha256);
        cert.chain_pem = Some(found.chain_pem);
        cert.issued_at = Some(found.not_before);
        cert
    }
}

/// The lifetime a certificate is expected to have before its CA has issued one: the 90 days
/// ACME CAs (Let's Encrypt and most others) issue. Issue 15, item 4: a `renew_before_days` at or
/// above the lifetime would renew at once, forever; M2.7 handles short-lived certificates in full.
pub const EXPECTED_ACME_LIFETIME_DAYS: u32 = 90;

impl Certificate {
    /// The lifetime a renewal policy must stay below: the current certificate's when one is
    /// issued, otherwise `EXPECTED_ACME_LIFETIME_DAYS`.
    pub fn expected_lifetime(&self) -> std::time::Duration {
        match (self.not_before, self.not_after) {
            (Some(from), Some(until)) if until > from => until.duration_since(from),
            _ => std::time::Duration::from_secs(u64::from(EXPECTED_ACME_LIFETIME_DAYS) * 86_400),
        }
    }
}

/// At most this many fallback issuers per certificate.
pub const MAX_FALLBACK_ISSUERS: usize = 4;

impl Certificate {
    /// The issuers a new order tries, in order: the first issuer and its fallbacks, starting with
    /// the one that issued the current certificate when `keep_fallback_issuer` is set.
    pub fn issuers(&self) -> Vec<AcmeAccountId> {
        let mut all: Vec<AcmeAccountId> = self.acme_account_id.into_iter().collect();
        all.extend(self.fallback_account_ids.iter().filter(|id| Some(**id) != self.acme_account_id));
        if self.keep_fallback_issuer
            && let Some(at) = self.issued_by.and_then(|by| all.iter().position(|id| *id == by))
        {
            all.rotate_left(at);
        }
        all
    }

    /// The CSR policy asks for a new CSR before each renewal and the one in hand made the current
    /// certificate: no renewal until a new one is given (the store leaves it out of the scan).
    pub fn waiting_for_csr(&self) -> bool {
        self.csr_spent && self.csr_renewal == CsrRenewal::New
    }

    /// The account whose CA issued the current certificate, which alone can revoke it: `issued_by`,
    /// or for records from before it was kept, the first issuer; `None` for a certificate issued
    /// elsewhere and not renewed here since.
    pub fn revoking_account(&self) -> Option<AcmeAccountId> {
        match self.origin {
            CertificateOrigin::Requested => self.issued_by.or(self.acme_account_id),
            CertificateOrigin::Imported | CertificateOrigin::Discovered => self.issued_by,
        }
    }

    /// The account the order in progress belongs to (the first issuer for older records); `None`
    /// only for a certificate that has no issuer.
    pub fn order_account(&self) -> Option<AcmeAccountId> {
        self.order.as_ref().and_then(|o| o.account_id).or(self.acme_account_id)
    }
}

/// How many replaced certificates a record keeps.
pub const HISTORY_KEPT: usize = 10;

/// Why an order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderPurpose {
    Issue,
    Renew,
}

/// An ACME order in progress and the DNS records published for it (removed at the end, also after
/// a failure or a crash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderProgress {
    pub url: String,
    pub purpose: OrderPurpose,
    pub started_at: Timestamp,
    #[serde(default)]
    pub published: Vec<PublishedRecord>,
    /// Set once the CSR went to the CA: from then on only downloading remains.
    #[serde(default)]
    pub finalized: bool,
    /// The account the order was placed with (resumed with it); `None` in records from before
    /// fallback issuers, whose orders all went to the certificate's first issuer.
    #[serde(default)]
    pub account_id: Option<AcmeAccountId>,
}

/// One TXT value this system published for a challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedRecord {
    pub zone_id: crate::ids::ZoneId,
    pub zone: String,
    pub name: String,
    pub value: String,
}

/// A certificate that was replaced by a renewal (or revoked), kept for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedVersion {
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    pub chain_pem: Option<String>,
    pub replaced_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Without a policy the window opens two thirds into the lifetime; an explicit policy wins but is
    /// capped at half the lifetime (`renewal`).
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
        assert_eq!(cert.renewal_window_start(), Some(start.saturating_add(Duration::from_secs(45 * 86_400))));
    }
}
