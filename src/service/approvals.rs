//! Approval of operators' requests (M2.8): the gate an operator's issue, renew, distribute and
//! revoke pass through, the inbox admins decide from, and each project's policy.
//! A request the policy catches is stored as an `ApprovalRequest` (`pending_approval`, audited
//! `approval.requested`) instead of starting its job; granting it re-checks the operation and
//! queues its job in the same transaction as the decision (`approval.granted`); rejecting or
//! expiring it starts nothing (a requested certificate then fails, saying why).
//! Invariant: admins and owners never wait (what they ask that the policy would catch is recorded as
//! approved by themselves); nobody decides their own request; a request is decided once.

use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{ApprovalId, ProjectId};
use certautopilot_core::lifecycle::not_approved;
use certautopilot_core::model::{
    ApprovalAction, ApprovalPolicy, ApprovalRequest, ApprovalRule, ApprovalStatus, ApprovalSubject, ApprovedShape,
    Certificate, DecisionError, Project, Role,
};
use certautopilot_core::store::{PageRequest, Record, RecordStore, ScopeArg};
use serde_json::json;

use crate::api::views::{ApprovalDecided, ApprovalPage, ApprovalPolicyView, ApprovalView, DecideApproval};
use crate::service::authorized::Authorized;
use crate::service::certificates::PlannedJob;
use crate::service::error::ApiError;
use crate::service::{records, validate};

/// What the gate decided for one request.
pub enum Gate {
    /// Run it. `self_approved`: the policy would have caught it, but the caller is an admin or
    /// owner, whose requests approve themselves.
    Proceed { self_approved: bool },
    /// It waits for an admin: this request, not yet stored.
    Wait(Box<ApprovalRequest>),
}

/// Whether the caller's `action` on `cert` waits for approval under its project's policy.
pub async fn gate(
    auth: &Authorized,
    scope: &ProjectScope,
    cert: &Certificate,
    action: ApprovalAction,
) -> Result<Gate, ApiError> {
    // A renewal of what an admin approved before needs no approval again.
    if action == ApprovalAction::Renew && cert.approved.as_ref() == Some(&ApprovedShape::of(cert)) {
        return Ok(Gate::Proceed { self_approved: false });
    }
    let policy = project(auth, scope.project_id()).await?.approval_policy;
    let subject = ApprovalSubject {
        action: action.clone(),
        names: cert.sans.clone(),
        key_type: cert.key_type,
        issuers: cert.acme_account_id.into_iter().chain(cert.fallback_account_ids.iter().copied()).collect(),
        profile: cert.profile.clone(),
        target_ids: cert.target_ids.clone(),
    };
    let reasons = policy.reasons(&subject);
    if reasons.is_empty() {
        return Ok(Gate::Proceed { self_approved: false });
    }
    if scope.role() >= Role::Admin {
        return Ok(Gate::Proceed { self_approved: true });
    }
    let requester = auth.caller()?.user.id;
    let now = auth.state().now();
    let request =
        ApprovalRequest::new(scope.project_id(), cert.id, action, requester, reasons, policy.expire_after_hours, now);
    Ok(Gate::Wait(Box::new(request)))
}

/// The audit entry of a request stored to wait.
pub async fn requested_audit(
    auth: &Authorized,
    scope: &ProjectScope,
    request: &ApprovalRequest,
) -> Result<certautopilot_core::store::AuditWrite, ApiError> {
    let details = json!({ "approval_id": request.id, "action": request.action.name(), "reasons": request.reasons,
        "expires_at": request.expires_at });
    auth.audit(
        "approval.requested",
        Some(("certificate", request.certificate_id.to_string())),
        Some(scope.project_id()),
        details,
    )
    .await
}

/// Stores `request` (for an existing certificate's renew, distribute or revoke), audited.
pub async fn store_waiting(
    auth: &Authorized,
    scope: &ProjectScope,
    request: ApprovalRequest,
) -> Result<ApprovalView, ApiError> {
    let audit = requested_audit(auth, scope, &request).await?;
    auth.state().store()?.insert_audited(scope, &request, audit).await?;
    tracing::info!(approval_id = %request.id, certificate_id = %request.certificate_id, action = request.action.name(), "request waits for approval");
    Ok(ApprovalView::at(request, auth.state().now()))
}

async fn project(auth: &Authorized, id: ProjectId) -> Result<Project, ApiError> {
    let org_scope = auth.caller()?.org_scope();
    Ok(auth.state().store()?.get(&org_scope, &id).await?)
}

/// A project's requests, newest first in pages by id, optionally only those with `status`
/// (`pending_approval` includes none past their time: those show `expired`).
pub async fn list(
    auth: &Authorized,
    project: ProjectId,
    status: Option<ApprovalStatus>,
    page: PageRequest,
) -> Result<ApprovalPage, ApiError> {
    let scope = auth.project_scope(project).await?;
    let now = auth.state().now();
    let page = records::page(page)?;
    let found = auth.state().store()?.list::<ApprovalRequest>(&scope, &page).await?;
    let items = found
        .items
        .into_iter()
        .map(|r| ApprovalView::at(r, now))
        .filter(|v| status.is_none_or(|s| v.status == s))
        .collect();
    Ok(ApprovalPage { items, next_cursor: found.next_cursor })
}

/// A `status` query value, refused with the accepted names when it is none.
pub fn parse_status(text: &str) -> Result<ApprovalStatus, ApiError> {
    ApprovalStatus::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| {
        let names: Vec<&str> = ApprovalStatus::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::invalid("status", format!("unknown status {text:?}: one of {}", names.join(", ")))
    })
}

pub async fn get(auth: &Authorized, id: ApprovalId) -> Result<ApprovalView, ApiError> {
    let (_, request): (_, ApprovalRequest) = records::addressed(auth, &id, "approval request").await?;
    Ok(ApprovalView::at(request, auth.state().now()))
}

/// Grants (queues the request's job, re-checked now, in the decision's transaction) or rejects it.
pub async fn decide(
    auth: &Authorized,
    id: ApprovalId,
    granted: bool,
    input: DecideApproval,
) -> Result<ApprovalDecided, ApiError> {
    let comment = input.comment.as_deref().map(|c| validate::free_text("comment", c, 1_000)).transpose()?;
    let (scope, mut request): (ProjectScope, ApprovalRequest) =
        records::addressed(auth, &id, "approval request").await?;
    let state = auth.state();
    let store = state.store()?;
    let now = state.now();
    let caller = auth.caller()?.user.clone();
    if request.is_overdue(now) {
        return Err(ApiError::conflict(format!("the request expired at {}", request.expires_at.to_rfc3339())));
    }
    request.decide(granted, caller.id, comment.clone(), now).map_err(|e| match e {
        DecisionError::OwnRequest => ApiError::forbidden("you cannot decide your own request; another admin must"),
        other => ApiError::conflict(other.to_string()),
    })?;
    let object = Some(("certificate", request.certificate_id.to_string()));
    let details = json!({ "approval_id": request.id, "action": request.action.name(),
        "requested_by": request.requested_by, "comment": comment });
    let mut cert: Certificate = match store.get(&scope, &request.certificate_id).await {
        Ok(cert) => cert,
        Err(certautopilot_core::StoreError::NotFound { .. }) => {
            return Err(ApiError::conflict("the certificate of this request no longer exists; reject it instead"));
        }
        Err(e) => return Err(e.into()),
    };
    if !granted {
        let audit = auth.audit("approval.rejected", object, Some(scope.project_id()), details).await?;
        let mut raws = vec![request.to_raw(&scope.record_scope())?];
        if request.action == ApprovalAction::Issue {
            let why = format!(
                "not approved: rejected by {}{}",
                caller.email,
                comment.map(|c| format!(": {c}")).unwrap_or_default()
            );
            not_approved(&mut cert, why).map_err(|e| ApiError::conflict(e.to_string()))?;
            raws.push(cert.to_raw(&scope.record_scope())?);
        }
        let stored = store.update_raw_many(&scope.record_scope(), raws, Some(audit)).await?;
        let request = ApprovalRequest::from_raw(
            stored
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::internal("approvals", &"the update answered no record"))?,
        )?;
        return Ok(ApprovalDecided { approval: ApprovalView::at(request, now), job: None });
    }
    let planned = PlannedJob::for_action(&scope, &cert, &request.action, state.max_job_attempts)?;
    if matches!(request.action, ApprovalAction::Issue | ApprovalAction::Renew) {
        cert.approved = Some(ApprovedShape::of(&cert));
    }
    let mut details = details;
    details["job_kind"] = json!(planned.action);
    let audit = auth.audit("approval.granted", object, Some(scope.project_id()), details).await?;
    let raws = vec![request.to_raw(&scope.record_scope())?, cert.to_raw(&scope.record_scope())?];
    let enqueued = store.update_raw_and_enqueue(&scope.record_scope(), raws, planned.job, Some(audit)).await?;
    state.wake_workers();
    request.version += 1;
    Ok(ApprovalDecided { approval: ApprovalView::at(request, now), job: Some(enqueued.job.into()) })
}

/// A project's policy.
pub async fn policy(auth: &Authorized, project_id: ProjectId) -> Result<ApprovalPolicyView, ApiError> {
    auth.project_scope(project_id).await?;
    Ok(project(auth, project_id).await?.approval_policy.into())
}

/// Replaces a project's policy (admin): checked, the accounts and targets its rules name must be
/// the project's own, audited `approval.policy_changed`.
pub async fn set_policy(
    auth: &Authorized,
    project_id: ProjectId,
    input: ApprovalPolicyView,
) -> Result<ApprovalPolicyView, ApiError> {
    let scope = auth.project_scope(project_id).await?;
    let policy: ApprovalPolicy = input.into();
    policy.validate().map_err(|e| ApiError::invalid(&e.field, e.reason))?;
    let store = auth.state().store()?;
    for (i, rule) in policy.rules.iter().enumerate() {
        match rule {
            ApprovalRule::Issuers { acme_account_ids } => {
                let found = store.get_many::<certautopilot_core::model::AcmeAccount>(&scope, acme_account_ids).await?;
                if found.len() != acme_account_ids.len() {
                    return Err(ApiError::invalid(
                        format!("rules[{i}]"),
                        "names an ACME account that is not the project's",
                    ));
                }
            }
            ApprovalRule::Targets { target_ids } => {
                let found = store.get_many::<certautopilot_core::model::DistributionTarget>(&scope, target_ids).await?;
                if found.len() != target_ids.len() {
                    return Err(ApiError::invalid(format!("rules[{i}]"), "names a target that is not the project's"));
                }
            }
            _ => {}
        }
    }
    let org_scope = auth.caller()?.org_scope();
    let mut project: Project = store.get(&org_scope, &project_id).await?;
    let before: ApprovalPolicyView = project.approval_policy.clone().into();
    project.approval_policy = policy;
    let after: ApprovalPolicyView = project.approval_policy.clone().into();
    let details = json!({ "before": before, "after": after });
    let audit = auth
        .audit("approval.policy_changed", Some(("project", project_id.to_string())), Some(project_id), details)
        .await?;
    let saved = store.update_audited(&org_scope, &project, audit).await?;
    Ok(saved.approval_policy.into())
}
