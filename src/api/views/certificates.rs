//! Views of certificates and their story: create and revoke bodies, the certificate view, its
//! timeline, its deployments, and the targets attached to it (the edit body is in `edits`).
//! Invariant: no view carries a private key or any other secret.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobView;
use super::audit::principal_text;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCertificate {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    /// The first name; required unless `csr_pem` gives the names.
    #[serde(default)]
    pub common_name: String,
    /// Further names (the common name is always included); at most 100 in all.
    #[serde(default)]
    pub sans: Vec<String>,
    /// Required unless `csr_pem` is given (then the CSR's key decides).
    #[serde(default)]
    #[schema(schema_with = crate::api::schema::optional_key_type)]
    pub key_type: Option<KeyType>,
    /// Your own certificate signing request (PEM) instead of a key CertAutoPilot generates: the
    /// names and key type come from it, every order finalizes with it, and no private key is held.
    #[serde(default)]
    #[schema(max_length = 16384)]
    pub csr_pem: Option<String>,
    /// With `csr_pem`: `reuse` (default) renews with the same CSR; `new` waits after each issuance
    /// for a new CSR (`PATCH csr_pem`) before the next renewal.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub csr_renewal: Option<CsrRenewal>,
    #[schema(value_type = String, format = "uuid")]
    pub acme_account_id: AcmeAccountId,
    /// Further ACME accounts (issuers), tried in this order when the one before cannot issue for a
    /// reason that is its CA's own: unreachable, failing, rate-limiting, or refusing by its policy
    /// (CAA). At most 4; none repeated, not `acme_account_id`.
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 4)]
    pub fallback_account_ids: Vec<AcmeAccountId>,
    /// `true`: renewals start with the issuer that issued the current certificate; by default
    /// they start with `acme_account_id` again, returning to it once it has recovered.
    #[serde(default)]
    pub keep_fallback_issuer: bool,
    /// An ACME profile the account's CA offers (its `profiles`), e.g. `shortlived`; omitted: the
    /// CA's default.
    #[serde(default)]
    #[schema(max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub profile: Option<String>,
    #[schema(schema_with = crate::api::schema::renew_before_days)]
    pub renew_before_days: Option<u32>,
    /// The same lead in hours, for short-lived certificates; give at most one of the two.
    #[serde(default)]
    #[schema(schema_with = crate::api::schema::renew_before_hours)]
    pub renew_before_hours: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    #[schema(value_type = String, format = "uuid")]
    pub id: CertificateId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub common_name: String,
    pub sans: Vec<String>,
    #[schema(schema_with = crate::api::schema::key_type)]
    pub key_type: KeyType,
    /// The first issuer; `null` for a certificate issued elsewhere and not under management.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub acme_account_id: Option<AcmeAccountId>,
    /// `requested` (here), `imported` or `discovered`.
    #[schema(value_type = String)]
    pub origin: CertificateOrigin,
    /// Fallback issuers, in the order they are tried.
    #[schema(value_type = Vec<String>)]
    pub fallback_account_ids: Vec<AcmeAccountId>,
    pub keep_fallback_issuer: bool,
    /// The account that issued the current certificate (the first issuer or a fallback).
    #[schema(value_type = Option<String>, format = "uuid")]
    pub issued_by: Option<AcmeAccountId>,
    /// The ACME profile its orders ask for, if any.
    pub profile: Option<String>,
    /// Issued from the operator's own CSR: no private key is held, targets get the chain only.
    pub from_csr: bool,
    /// `reuse` or `new`: what a renewal of a certificate from a CSR finalizes with.
    #[schema(value_type = String)]
    pub csr_renewal: CsrRenewal,
    /// The policy is `new` and no new CSR was given since the last issuance: it does not renew
    /// until one is (`PATCH csr_pem`).
    pub waiting_for_csr: bool,
    pub renew_before_days: Option<u32>,
    /// The renewal lead in hours, when the policy is stated in hours.
    pub renew_before_hours: Option<u32>,
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
    /// `requested`, `issuing`, `issued`, `renewing`, `failed`, `revoked` or `expired`.
    #[schema(value_type = String)]
    pub status: CertificateStatus,
    pub serial: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_before: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_after: Option<Timestamp>,
    pub fingerprint_sha256: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub renew_at: Option<Timestamp>,
    /// The renewal window the CA suggested (ACME Renewal Information), when it gave one: `renew_at`
    /// falls inside it.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ari_window_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ari_window_end: Option<Timestamp>,
    /// Seconds until `not_after` (negative once expired).
    pub expires_in_seconds: Option<i64>,
    pub last_error: Option<String>,
    /// The ACME order in progress, if any.
    pub order_url: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// Automatic renewal is stopped (`PATCH` with `paused`); renewing by hand still works.
    pub paused: bool,
    /// Set when `renew_before_days` is longer than half the certificate's lifetime: it renews at
    /// half the lifetime instead, and this says so.
    pub renewal_warning: Option<String>,
    /// Certificates this one replaced, newest first.
    pub history: Vec<IssuedVersionView>,
    /// Whether it is going to be all right, beside `status` (which says where its lifecycle is).
    pub health: HealthView,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedVersionView {
    pub serial: String,
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    #[schema(value_type = String, format = DateTime)]
    pub replaced_at: Timestamp,
}

/// A certificate's health (`model::health`) as every interface shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthView {
    #[schema(schema_with = crate::api::schema::certificate_health)]
    pub state: CertificateHealth,
    /// Why, in words (for `renewal_failing` the last attempt's error); `null` for `ok`.
    pub reason: Option<String>,
    /// When the renewal should have finished: past it, a certificate in its window is `overdue`.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub overdue_at: Option<Timestamp>,
    /// For `renewal_failing` and `overdue`: when the next attempt runs, while one is queued (in
    /// reads; a write's answer leaves it out).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
}

impl HealthView {
    /// The health once a deployment of the certificate is known to have drifted.
    pub fn drifted(&mut self) {
        if self.state.yields_to_drift() {
            self.state = CertificateHealth::Drifted;
            self.reason = Some(DRIFT_REASON.to_owned());
        }
    }
}

impl From<HealthReport> for HealthView {
    fn from(report: HealthReport) -> Self {
        HealthView { state: report.health, reason: report.reason, overdue_at: report.overdue_at, next_attempt_at: None }
    }
}

impl From<Certificate> for CertificateView {
    fn from(c: Certificate) -> Self {
        CertificateView::by(&HealthRules::at(Timestamp::now()), c)
    }
}

impl CertificateView {
    /// The view, its health by `rules` (built once for a page) and `expires_in_seconds` from their
    /// instant.
    pub fn by(rules: &HealthRules, c: Certificate) -> Self {
        let health = HealthView::from(HealthReport::by(rules, &c, false));
        let now = rules.now();
        let renewal_warning = c.renewal_warning();
        let waiting_for_csr = c.waiting_for_csr();
        CertificateView {
            id: c.id,
            project_id: c.project_id,
            common_name: c.common_name,
            sans: c.sans,
            key_type: c.key_type,
            acme_account_id: c.acme_account_id,
            origin: c.origin,
            fallback_account_ids: c.fallback_account_ids,
            keep_fallback_issuer: c.keep_fallback_issuer,
            issued_by: c.issued_by,
            profile: c.profile,
            from_csr: c.csr_pem.is_some(),
            csr_renewal: c.csr_renewal,
            waiting_for_csr,
            renew_before_days: c.renew_before_days,
            renew_before_hours: c.renew_before_hours,
            target_ids: c.target_ids,
            status: c.status,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            fingerprint_sha256: c.fingerprint_sha256,
            renew_at: c.renew_at,
            ari_window_start: c.ari_window.map(|(start, _)| start),
            ari_window_end: c.ari_window.map(|(_, end)| end),
            expires_in_seconds: c.not_after.map(|t| (t.as_unix_millis() - now.as_unix_millis()) / 1_000),
            last_error: c.last_error,
            order_url: c.order.map(|o| o.url),
            revoked_at: c.revoked_at,
            paused: c.paused,
            renewal_warning,
            history: c
                .history
                .into_iter()
                .map(|h| IssuedVersionView {
                    serial: h.serial,
                    not_before: h.not_before,
                    not_after: h.not_after,
                    fingerprint_sha256: h.fingerprint_sha256,
                    replaced_at: h.replaced_at,
                })
                .collect(),
            health,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeCertificate {
    #[schema(schema_with = crate::api::schema::revocation_reason)]
    pub reason: Option<String>,
}

/// One event in a certificate's story: a state change from the audit chain, or a step from a job's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `audit` or `job`.
    pub source: &'static str,
    /// The audit action (`cert.issued`, …) or the job's log message.
    pub event: String,
    /// Who: the audit entry's actor, or the job's kind.
    pub by: String,
    /// For job lines: `info`, `warn` or `error`.
    pub level: Option<String>,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub job_id: Option<JobId>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<certautopilot_core::model::AuditEvent> for TimelineEntry {
    fn from(e: certautopilot_core::model::AuditEvent) -> Self {
        TimelineEntry {
            at: e.at,
            source: "audit",
            event: e.action,
            by: principal_text(&e.actor),
            level: None,
            job_id: None,
            details: e.details,
        }
    }
}

impl TimelineEntry {
    pub fn from_log(
        job_id: JobId,
        kind: certautopilot_core::model::JobKind,
        line: certautopilot_core::model::JobLogLine,
    ) -> Self {
        TimelineEntry {
            at: line.at,
            source: "job",
            event: line.message,
            by: format!("{} job", kind.as_str()),
            level: Some(
                serde_json::to_value(line.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            ),
            job_id: Some(job_id),
            details: line.fields,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineView {
    pub items: Vec<TimelineEntry>,
}

page_type!(CertificatePage, CertificateView);

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateCreated {
    pub certificate: CertificateView,
    /// The issue job; `null` while the request waits for approval (`approval`).
    pub job: Option<JobView>,
    pub approval: Option<super::ApprovalView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTargets {
    /// Every target the certificate should be deployed to (the others are detached).
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
    /// The certificate's current version (optimistic concurrency).
    pub version: u64,
}

/// One certificate on one target.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentView {
    #[schema(value_type = String, format = "uuid")]
    pub target_id: TargetId,
    /// `pending` (queued or retrying), `deployed`, `failed`, or `revoked_in_place` (the
    /// certificate was revoked while deployed here; what was installed stays until replaced).
    #[schema(value_type = String)]
    pub status: certautopilot_core::model::DeploymentStatus,
    pub serial: Option<String>,
    pub fingerprint_sha256: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deployed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: u32,
    /// What the last scan found there instead (a fingerprint, or `missing`); null when it matched.
    pub drift: Option<String>,
    /// When the target was last scanned, whatever the scan found.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scanned_at: Option<Timestamp>,
    /// For `revoked_in_place`: whether the last scan found the revoked certificate still served;
    /// null until a scan after the revocation.
    pub revoked_served: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<certautopilot_core::model::Deployment> for DeploymentView {
    fn from(d: certautopilot_core::model::Deployment) -> Self {
        DeploymentView {
            target_id: d.target_id,
            status: d.status,
            serial: d.serial,
            fingerprint_sha256: d.fingerprint_sha256,
            deployed_at: d.deployed_at,
            last_error: d.last_error,
            attempts: d.attempts,
            drift: d.drift,
            scanned_at: d.scanned_at,
            revoked_served: d.revoked_served,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub items: Vec<DeploymentView>,
}

#[cfg(test)]
mod tests {
    use certautopilot_core::Timestamp;
    use certautopilot_core::ids::{AcmeAccountId, ProjectId};
    use certautopilot_core::model::{Certificate, KeyType};

    use super::CertificateView;

    /// The CA's ARI window reaches the view as its two ends, and stays absent when there is none.
    #[test]
    fn the_ari_window_is_shown_by_its_ends() {
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let names = vec!["www.example.com".to_owned()];
        let mut cert =
            Certificate::new(ProjectId::new(), "www.example.com", names, KeyType::EcdsaP256, AcmeAccountId::new(), now);
        let view = CertificateView::from(cert.clone());
        assert_eq!((view.ari_window_start, view.ari_window_end), (None, None));
        let (start, end) =
            (Timestamp::from_unix_millis(1_900_000_000_000), Timestamp::from_unix_millis(1_900_086_400_000));
        cert.ari_window = Some((start, end));
        let view = CertificateView::from(cert);
        assert_eq!((view.ari_window_start, view.ari_window_end), (Some(start), Some(end)));
    }
}
