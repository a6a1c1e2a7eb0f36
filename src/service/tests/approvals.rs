//! Approvals: an operator's request the project's policy catches waits (no job) until another admin
//! of the project grants it (its job queued with the decision) or rejects it; admins never wait;
//! nobody decides their own request or another project's; an approved certificate renews without
//! asking again; a request past its time cannot be decided; a bad policy changes nothing.

use certautopilot_core::model::{
    ApprovalRequest, ApprovalRequirement, ApprovalRule, ApprovalStatus, Certificate, CertificateStatus,
};
use certautopilot_core::store::{JobQueue, RecordStore};

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::{ApprovalPolicyView, CreateCertificate, DecideApproval};
use crate::service::{approvals, certificates};

/// A request without targets (the certificates tests' request, detached).
fn request(project: &Resources, name: &str) -> CreateCertificate {
    CreateCertificate { target_ids: vec![], ..super::certificates::request(project, name) }
}

fn prod_policy(zone: &str, hours: u32) -> ApprovalPolicyView {
    ApprovalPolicyView {
        require: ApprovalRequirement::Rules,
        rules: vec![ApprovalRule::Names { patterns: vec![format!("*.prod.{zone}")] }, ApprovalRule::Revocation],
        expire_after_hours: hours,
    }
}

async fn jobs_of(h: &Harness, project: &Resources, cert: &Certificate) -> usize {
    let jobs = h.store.list_project_jobs(&project.scope, &Default::default()).await.unwrap().items;
    jobs.iter().filter(|j| j.subject.as_deref() == Some(&cert.id.to_string())).count()
}

#[actix_web::test]
async fn a_matching_operator_request_waits_for_another_admin_and_starts_its_job_once_granted() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let zone = w.a.zone.apex.clone();
    let set = |who| acting(&h, who, "setApprovalPolicy");
    let refused = approvals::set_policy(&set(&w.operator_a), w.a.scope.project_id(), prod_policy(&zone, 24)).await;
    assert_refused(refused, ErrorCode::Forbidden, None);
    approvals::set_policy(&set(&w.admin_a), w.a.scope.project_id(), prod_policy(&zone, 24)).await.unwrap();

    // --- a name the rules do not catch runs at once.
    let create = |who| acting(&h, who, "createCertificate");
    let free = certificates::create(&create(&w.operator_a), request(&w.a, &format!("www.{zone}"))).await.unwrap();
    assert!(free.job.is_some() && free.approval.is_none());

    // --- one they catch waits, with why, and no job.
    let name = format!("api.prod.{zone}");
    let waiting = certificates::create(&create(&w.operator_a), request(&w.a, &name)).await.unwrap();
    let approval = waiting.approval.clone().expect("waits for approval");
    assert!(waiting.job.is_none());
    assert_eq!(approval.status, ApprovalStatus::PendingApproval);
    assert_eq!(approval.reasons, vec![format!("name {name} matches *.prod.{zone}")]);
    let cert: Certificate = h.store.get(&w.a.scope, &waiting.certificate.id).await.unwrap();
    assert_eq!((cert.status, jobs_of(&h, &w.a, &cert).await), (CertificateStatus::Requested, 0));
    let inbox = approvals::list(
        &acting(&h, &w.admin_a, "listApprovals"),
        w.a.scope.project_id(),
        Some(ApprovalStatus::PendingApproval),
        Default::default(),
    )
    .await
    .unwrap();
    assert!(inbox.items.iter().any(|a| a.id == approval.id), "in the inbox: {inbox:?}");

    // --- nobody decides their own request, another project's admin cannot see it, an operator
    //     may not decide at all.
    let decide = |who, op| acting(&h, who, op);
    let own =
        approvals::decide(&decide(&w.operator_a, "approveRequest"), approval.id, true, DecideApproval::default()).await;
    assert_refused(own, ErrorCode::Forbidden, None);
    let other =
        approvals::decide(&decide(&w.admin_b, "approveRequest"), approval.id, true, DecideApproval::default()).await;
    assert_refused(other, ErrorCode::NotFound, None);

    // --- granted by the project's admin: the issue job is queued with the decision.
    let comment = DecideApproval { comment: Some("looks right".into()) };
    let granted = approvals::decide(&decide(&w.admin_a, "approveRequest"), approval.id, true, comment).await.unwrap();
    assert_eq!(granted.approval.status, ApprovalStatus::Granted);
    assert_eq!(granted.job.as_ref().map(|j| j.kind), Some(certautopilot_core::model::JobKind::Issue));
    assert_eq!(jobs_of(&h, &w.a, &cert).await, 1);
    let again =
        approvals::decide(&decide(&w.admin_a, "rejectRequest"), approval.id, false, DecideApproval::default()).await;
    assert_refused(again, ErrorCode::Conflict, None);

    // --- every step is in the certificate's story.
    let story: Vec<String> = certificates::timeline(&acting(&h, &w.viewer_a, "getCertificateTimeline"), cert.id)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        story.contains(&"approval.requested".to_owned()) && story.contains(&"approval.granted".to_owned()),
        "{story:?}"
    );
}

#[actix_web::test]
async fn admins_never_wait_rejected_requests_fail_and_an_approved_certificate_renews_without_asking() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let zone = w.a.zone.apex.clone();
    approvals::set_policy(&acting(&h, &w.admin_a, "setApprovalPolicy"), w.a.scope.project_id(), prod_policy(&zone, 24))
        .await
        .unwrap();
    let create = |who| acting(&h, who, "createCertificate");
    let by_admin = certificates::create(&create(&w.admin_a), request(&w.a, &format!("a.prod.{zone}"))).await.unwrap();
    assert!(by_admin.job.is_some() && by_admin.approval.is_none(), "admins are never subject to the policy");
    let stored: Certificate = h.store.get(&w.a.scope, &by_admin.certificate.id).await.unwrap();
    assert!(stored.approved.is_some(), "recorded as approved by themselves");

    // --- rejected: the requested certificate fails with who rejected it and why.
    let waiting = certificates::create(&create(&w.operator_a), request(&w.a, &format!("b.prod.{zone}"))).await.unwrap();
    let approval = waiting.approval.unwrap();
    let no = DecideApproval { comment: Some("not this one".into()) };
    let rejected = approvals::decide(&acting(&h, &w.admin_a, "rejectRequest"), approval.id, false, no).await.unwrap();
    assert_eq!((rejected.approval.status, rejected.job.is_none()), (ApprovalStatus::Rejected, true));
    let failed: Certificate = h.store.get(&w.a.scope, &waiting.certificate.id).await.unwrap();
    assert_eq!(failed.status, CertificateStatus::Failed);
    assert!(failed.last_error.as_deref().unwrap().contains("not this one"), "{:?}", failed.last_error);

    // --- an operator's renewal of the admin's (approved) certificate runs at once once issued;
    //     a revocation, which the rules name, waits.
    let mut issued = stored.clone();
    issued.status = CertificateStatus::Issued;
    issued.chain_pem = Some("x".into());
    issued.serial = Some("01".into());
    h.store.update(&w.a.scope, &issued).await.unwrap();
    let renew = certificates::renew(&acting(&h, &w.operator_a, "renewCertificate"), issued.id).await.unwrap();
    assert!(renew.job.is_some() && renew.approval.is_none(), "the approved shape needs no approval again");
}

#[actix_web::test]
async fn a_request_past_its_time_cannot_be_decided_and_a_bad_policy_changes_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let zone = w.a.zone.apex.clone();
    let set = acting(&h, &w.admin_a, "setApprovalPolicy");
    let before = audit_actions(&h, &w).await.len();
    let bad = ApprovalPolicyView { expire_after_hours: 0, ..prod_policy(&zone, 1) };
    assert_refused(
        approvals::set_policy(&set, w.a.scope.project_id(), bad).await,
        ErrorCode::ValidationFailed,
        Some("expire_after_hours"),
    );
    let foreign = ApprovalPolicyView {
        require: ApprovalRequirement::Rules,
        rules: vec![ApprovalRule::Targets { target_ids: vec![w.b.target.id] }],
        expire_after_hours: 1,
    };
    assert_refused(
        approvals::set_policy(&set, w.a.scope.project_id(), foreign).await,
        ErrorCode::ValidationFailed,
        Some("rules[0]"),
    );
    assert_eq!(audit_actions(&h, &w).await.len(), before, "refused policies write nothing");

    approvals::set_policy(&set, w.a.scope.project_id(), prod_policy(&zone, 1)).await.unwrap();
    let waiting =
        certificates::create(&acting(&h, &w.operator_a, "createCertificate"), request(&w.a, &format!("c.prod.{zone}")))
            .await
            .unwrap();
    let approval = waiting.approval.unwrap();
    // Its hour has passed (the stored deadline moved back, as the clock would have moved on).
    let mut stored: ApprovalRequest = h.store.get(&w.a.scope, &approval.id).await.unwrap();
    stored.expires_at = certautopilot_core::Timestamp::from_unix_millis(Timestamp::now().as_unix_millis() - 1_000);
    h.store.update(&w.a.scope, &stored).await.unwrap();
    let late =
        approvals::decide(&acting(&h, &w.admin_a, "approveRequest"), approval.id, true, DecideApproval::default())
            .await;
    assert_refused(late, ErrorCode::Conflict, None);
    let shown = approvals::get(&acting(&h, &w.viewer_a, "getApproval"), approval.id).await.unwrap();
    assert_eq!(shown.status, ApprovalStatus::Expired, "past its time it shows expired");
}
