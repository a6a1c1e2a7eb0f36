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

#[cfg(test)]
mod tests {
    use certautopilot_core::ids::{AcmeAccountId, UserId};
    use certautopilot_core::model::{ApprovalStatus, CertificateStatus, KeyType};

    use super::*;
    use crate::issuance::test_fixture::fixture;

    /// A pending request past its time expires at the sweep, audited, and the certificate requested
    /// only to wait for it fails saying so; a request still in time, and one decided already, are
    /// left as they are; a second sweep finds nothing to do.
    #[actix_rt::test]
    async fn overdue_requests_expire_once_and_their_requested_certificate_fails() {
        let f = fixture().await;
        let now = Timestamp::now();
        let cert = Certificate::new(
            f.project.id,
            "a.example",
            vec!["a.example".into()],
            KeyType::EcdsaP256,
            AcmeAccountId::new(),
            now,
        );
        f.store.insert(&f.scope, &cert).await.unwrap();
        let request = |hours: u32| {
            ApprovalRequest::new(
                f.project.id,
                cert.id,
                ApprovalAction::Issue,
                UserId::new(),
                vec!["x".into()],
                hours,
                now,
            )
        };
        let mut overdue = request(1);
        overdue.expires_at = Timestamp::from_unix_millis(now.as_unix_millis() - 1);
        let in_time = request(24);
        let mut decided = request(1);
        decided.expires_at = overdue.expires_at;
        decided.decide(false, UserId::new(), None, Timestamp::from_unix_millis(now.as_unix_millis() - 10_000)).unwrap();
        for r in [&overdue, &in_time, &decided] {
            f.store.insert(&f.scope, r).await.unwrap();
        }

        assert_eq!(expire_overdue(&f.deps, &SystemScope::new("test"), now).await.unwrap(), 1);
        let status = |id| {
            let (store, scope) = (f.store.clone(), f.scope.clone());
            async move { store.get::<ApprovalRequest>(&scope, &id).await.unwrap().status }
        };
        assert_eq!(status(overdue.id).await, ApprovalStatus::Expired);
        assert_eq!(status(in_time.id).await, ApprovalStatus::PendingApproval);
        assert_eq!(status(decided.id).await, ApprovalStatus::Rejected);
        let failed: Certificate = f.store.get(&f.scope, &cert.id).await.unwrap();
        assert_eq!(failed.status, CertificateStatus::Failed);
        assert!(failed.last_error.as_deref().unwrap().starts_with("not approved: the request expired at "));
        let outbox = f.store.pending_audit_orgs().await.unwrap();
        assert_eq!(outbox.iter().map(|(_, n)| n).sum::<u64>(), 1, "one approval.expired entry");
        assert_eq!(expire_overdue(&f.deps, &SystemScope::new("test"), now).await.unwrap(), 0, "once");
    }
}
