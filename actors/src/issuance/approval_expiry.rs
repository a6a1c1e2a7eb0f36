//! The scheduler's sweep of approval requests past their time: each pending one becomes `expired`
//! (audited `approval.expired`), and a certificate requested only to wait for it fails saying so,
//! both in one transaction, so the decision is recorded when it happens rather than when someone
//! next looks.
//! Invariant: only a pending request past `expires_at` moves (`ApprovalRequest::expire`); a request
//! decided meanwhile makes the version check refuse the write, and the next sweep finds it decided.

use certautopilot_core::lifecycle::not_approved;
use certautopilot_core::model::{ApprovalAction, ApprovalRequest, Certificate};
use certautopilot_core::store::{PageRequest, Record, RecordStore, ScopeArg};
use certautopilot_core::{SystemScope, Timestamp};
use serde_json::json;

use super::{IssuanceDeps, IssueError};

/// Expires every pending request past its time; how many it expired.
pub async fn expire_overdue(deps: &IssuanceDeps, system: &SystemScope, now: Timestamp) -> Result<u64, IssueError> {
    let mut expired = 0;
    let mut page = PageRequest::first(500);
    loop {
        let batch = deps.store.list_all::<ApprovalRequest>(system, &page).await?;
        for request in batch.items.into_iter().filter(|r| r.is_overdue(now)) {
            match expire_one(deps, request, now).await {
                Ok(()) => expired += 1,
                // Decided or changed meanwhile: the next sweep sees it as it is.
                Err(IssueError::Store(certautopilot_core::StoreError::Conflict { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(500, cursor),
            None => return Ok(expired),
        }
    }
}

async fn expire_one(deps: &IssuanceDeps, mut request: ApprovalRequest, now: Timestamp) -> Result<(), IssueError> {
    let scope = deps.project_scope(request.project_id).await?;
    if !request.expire(now) {
        return Ok(());
    }
    let mut raws = vec![request.to_raw(&scope.record_scope())?];
    if request.action == ApprovalAction::Issue
        && let Ok(mut cert) = deps.store.get::<Certificate>(&scope, &request.certificate_id).await
        && not_approved(&mut cert, format!("not approved: the request expired at {}", request.expires_at.to_rfc3339()))
            .is_ok()
    {
        raws.push(cert.to_raw(&scope.record_scope())?);
    }
    let org = deps.org().await?;
    let details = json!({ "approval_id": request.id, "action": request.action.name(),
        "requested_by": request.requested_by, "expires_at": request.expires_at });
    let audit = org.write(
        "scheduler",
        "approval.expired",
        ("certificate", request.certificate_id.to_string()),
        request.project_id,
        details,
    );
    deps.store.update_raw_many(&scope.record_scope(), raws, Some(audit)).await?;
    tracing::info!(approval_id = %request.id, certificate_id = %request.certificate_id, "approval request expired");
    Ok(())
}
