//! A certificate's operations that queue a job (renew, revoke, distribute, and the issue an
//! approval starts): each checked against the certificate as it is now (`PlannedJob`), then either
//! queued with its audit entry in one transaction or, when the project's approval policy catches an
//! operator's request, left waiting for an admin (`service::approvals`).
//! Invariant: the same checks run when the request is made and again when an approval starts it.

use certautopilot_core::ProjectScope;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::jobs::{DistributeCause, JobSpec, RenewReason};
use certautopilot_core::lifecycle::{LifecycleEvent, transition};
use certautopilot_core::model::{
    ApprovalAction, Certificate, CertificateStatus, NewJob, SUBSCRIBER_REVOCATION_REASONS, revocation_reason_code,
};
use certautopilot_core::store::ScopeArg;
use serde_json::json;

use crate::api::views::{CertificateJobRequested, RevokeCertificate};
use crate::service::approvals::{self, Gate};
use crate::service::authorized::Authorized;
use crate::service::certificates::certificate_in_scope;
use crate::service::error::ApiError;

/// A job one of a certificate's operations queues, checked against the certificate as it is now,
/// with the audit action and details that go with it.
pub struct PlannedJob {
    pub job: NewJob,
    pub action: &'static str,
    details: serde_json::Value,
}

impl PlannedJob {
    /// The job `action` queues for `cert` (what a granted approval starts).
    pub fn for_action(
        scope: &ProjectScope,
        cert: &Certificate,
        action: &ApprovalAction,
        attempts: u32,
    ) -> Result<PlannedJob, ApiError> {
        match action {
            ApprovalAction::Issue => {
                transition(cert.status, LifecycleEvent::StartIssue, cert.chain_pem.is_some())
                    .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be issued", cert.status)))?;
                let job = JobSpec::Issue { certificate_id: cert.id }.into_job(scope, attempts);
                let details = json!({ "common_name": cert.common_name, "sans": cert.sans, "key_type": cert.key_type });
                Ok(PlannedJob { job, action: "cert.requested", details })
            }
            ApprovalAction::Renew => Self::renew(scope, cert, attempts),
            ApprovalAction::Distribute => Self::distribute(scope, cert, attempts),
            ApprovalAction::Revoke { reason } => Self::revoke(scope, cert, attempts, reason),
        }
    }

    fn renew(scope: &ProjectScope, cert: &Certificate, attempts: u32) -> Result<PlannedJob, ApiError> {
        transition(cert.status, LifecycleEvent::StartRenew, cert.chain_pem.is_some())
            .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be renewed", cert.status)))?;
        if cert.waiting_for_csr() {
            return Err(ApiError::conflict(certautopilot_core::lifecycle::NEEDS_NEW_CSR));
        }
        let job =
            JobSpec::Renew { certificate_id: cert.id, reason: RenewReason::Requested, record_version: cert.version }
                .into_job(scope, attempts);
        Ok(PlannedJob { job, action: "cert.renew_requested", details: json!({ "serial": cert.serial }) })
    }

    fn revoke(
        scope: &ProjectScope,
        cert: &Certificate,
        attempts: u32,
        reason_name: &str,
    ) -> Result<PlannedJob, ApiError> {
        let reason = SUBSCRIBER_REVOCATION_REASONS
            .contains(&reason_name)
            .then(|| revocation_reason_code(reason_name))
            .flatten()
            .ok_or_else(|| {
                ApiError::invalid("reason", format!("must be one of {}", SUBSCRIBER_REVOCATION_REASONS.join(", ")))
            })?;
        // While a renewal runs, "the certificate" is about to change: the revocation would hit the new
        // one and leave the one on the targets valid. The caller revokes once it has finished.
        if cert.status == CertificateStatus::Renewing {
            return Err(ApiError::conflict(
                "a renewal is in progress; revoke once it has finished, so the certificate revoked is the one deployed",
            ));
        }
        transition(cert.status, LifecycleEvent::Revoked, cert.chain_pem.is_some())
            .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be revoked", cert.status)))?;
        if cert.revoking_account().is_none() {
            return Err(ApiError::conflict(
                "the current certificate was issued elsewhere (imported or discovered): revoke it at the CA that issued it",
            ));
        }
        let job = JobSpec::Revoke { certificate_id: cert.id, reason: Some(reason), serial: cert.serial.clone() }
            .into_job(scope, attempts);
        let details = json!({ "serial": cert.serial, "reason": reason_name });
        Ok(PlannedJob { job, action: "cert.revoke_requested", details })
    }

    fn distribute(scope: &ProjectScope, cert: &Certificate, attempts: u32) -> Result<PlannedJob, ApiError> {
        if cert.chain_pem.is_none() || cert.status == CertificateStatus::Revoked {
            return Err(ApiError::conflict(format!("a {} certificate has nothing to distribute", cert.status)));
        }
        if cert.target_ids.is_empty() {
            return Err(ApiError::conflict("the certificate has no targets; attach some first"));
        }
        let job = JobSpec::Distribute {
            certificate_id: cert.id,
            target_ids: Vec::new(),
            force: true,
            cause: DistributeCause::Requested,
        }
        .into_job(scope, attempts);
        let details = json!({ "targets": cert.target_ids, "serial": cert.serial });
        Ok(PlannedJob { job, action: "cert.distribute_requested", details })
    }
}

/// Runs one of a certificate's operations for the caller: checked now, then either waiting for
/// approval (the project's policy caught it) or queued with its audit entry in one transaction.
async fn request_job(
    auth: &Authorized,
    id: CertificateId,
    action: ApprovalAction,
) -> Result<CertificateJobRequested, ApiError> {
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    let state = auth.state();
    let planned = PlannedJob::for_action(&scope, &cert, &action, state.max_job_attempts)?;
    let mut details = planned.details;
    match approvals::gate(auth, &scope, &cert, action).await? {
        Gate::Wait(request) => {
            let approval = approvals::store_waiting(auth, &scope, *request).await?;
            return Ok(CertificateJobRequested { job: None, created: false, approval: Some(approval) });
        }
        Gate::Proceed { self_approved: true } => details["approval"] = json!("approved by the requester, an admin"),
        Gate::Proceed { self_approved: false } => {}
    }
    let object = Some(("certificate", cert.id.to_string()));
    let audit = auth.audit(planned.action, object, Some(scope.project_id()), details).await?;
    let store = state.store()?;
    let enqueued = store.insert_raw_and_enqueue(&scope.record_scope(), Vec::new(), planned.job, Some(audit)).await?;
    state.wake_workers();
    Ok(CertificateJobRequested { job: Some(enqueued.job.into()), created: enqueued.created, approval: None })
}

/// Renews now (a `renew` job), where the lifecycle allows it.
pub async fn renew(auth: &Authorized, id: CertificateId) -> Result<CertificateJobRequested, ApiError> {
    request_job(auth, id, ApprovalAction::Renew).await
}

/// Revokes at the CA (a `revoke` job) for one of the reasons a subscriber may give.
pub async fn revoke(
    auth: &Authorized,
    id: CertificateId,
    input: RevokeCertificate,
) -> Result<CertificateJobRequested, ApiError> {
    let reason = input.reason.unwrap_or_else(|| "unspecified".to_owned());
    request_job(auth, id, ApprovalAction::Revoke { reason }).await
}

/// Deploys the current certificate to every attached target again (one `distribute` job).
pub async fn distribute(auth: &Authorized, id: CertificateId) -> Result<CertificateJobRequested, ApiError> {
    request_job(auth, id, ApprovalAction::Distribute).await
}
