//! Certificates: operators request, renew and distribute them, admins revoke and delete them; a
//! request refused at the door changes nothing.

use certautopilot_core::model::{Certificate, CertificateStatus, JobKind, KeyType};
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::api::views::{CreateCertificate, RevokeCertificate, SetTargets};
use crate::service::certificates;

pub(super) fn request(project: &Resources, name: &str) -> CreateCertificate {
    CreateCertificate {
        project_id: project.scope.project_id(),
        common_name: name.into(),
        sans: vec![],
        key_type: Some(KeyType::EcdsaP256),
        csr_pem: None,
        csr_renewal: None,
        acme_account_id: project.account.id,
        fallback_account_ids: vec![],
        keep_fallback_issuer: false,
        profile: None,
        renew_before_days: Some(30),
        renew_before_hours: None,
        target_ids: vec![project.target.id],
    }
}

/// An operator requests a certificate for a name a zone of the project serves: it is `requested`
/// with its issue job, and its timeline starts with `cert.requested`; a viewer may not request one.
#[actix_web::test]
async fn an_operator_requests_a_certificate_with_its_issue_job() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let name = format!("www.{}", w.a.zone.apex);
    let by_viewer = certificates::create(&acting(&h, &w.viewer_a, "createCertificate"), request(&w.a, &name)).await;
    assert_refused(by_viewer, ErrorCode::Forbidden, None);
    let created =
        certificates::create(&acting(&h, &w.operator_a, "createCertificate"), request(&w.a, &name)).await.unwrap();
    let id = created.certificate.id;
    let job = created.job.clone().expect("its issue job");
    assert_eq!((created.certificate.status, job.kind), (CertificateStatus::Requested, JobKind::Issue));
    assert_eq!((job.subject, created.certificate.target_ids), (Some(id.to_string()), vec![w.a.target.id]));
    let timeline = certificates::timeline(&acting(&h, &w.viewer_a, "getCertificateTimeline"), id).await.unwrap();
    assert_eq!(timeline.items.first().map(|e| e.event.as_str()), Some("cert.requested"));
    let chain = certificates::chain(&acting(&h, &w.viewer_a, "getCertificateChain"), id).await;
    assert_refused(chain, ErrorCode::NotFound, None);
}

/// A name no zone of the project serves, a long common name and the other project's target are
/// each refused naming the field; nothing is stored, queued or audited.
#[actix_web::test]
async fn names_and_targets_are_checked_before_anything_is_written() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let operator = acting(&h, &w.operator_a, "createCertificate");
    let before = audit_actions(&h, &w).await;
    let unserved = certificates::create(&operator, request(&w.a, "www.elsewhere.example")).await;
    assert_refused(unserved, ErrorCode::ValidationFailed, Some("common_name"));
    let long = format!("{}.{}", "a".repeat(60), w.a.zone.apex);
    assert_refused(
        certificates::create(&operator, request(&w.a, &long)).await,
        ErrorCode::ValidationFailed,
        Some("common_name"),
    );
    let borrowed =
        CreateCertificate { target_ids: vec![w.b.target.id], ..request(&w.a, &format!("a.{}", w.a.zone.apex)) };
    assert_refused(certificates::create(&operator, borrowed).await, ErrorCode::ValidationFailed, Some("target_ids[0]"));
    let moved = SetTargets { target_ids: vec![w.b.target.id], version: w.a.certificate.version };
    let set_targets = acting(&h, &w.operator_a, "setCertificateTargets");
    let set = certificates::set_targets(&set_targets, w.a.certificate.id, moved).await;
    assert_refused(set, ErrorCode::ValidationFailed, Some("target_ids[0]"));
    assert_eq!(audit_actions(&h, &w).await, before);
    let listed = h.store.list::<Certificate>(&w.a.scope, &Default::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1, "only the world's certificate");
}

/// The other project's certificate is not found for reads and changes alike; operators may not
/// revoke; what the lifecycle does not allow (renewing or distributing one never issued) is a
/// conflict; a certificate never issued can be deleted.
#[actix_web::test]
async fn changes_follow_roles_projects_and_the_lifecycle() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let (mine, theirs) = (w.a.certificate.id, w.b.certificate.id);
    assert_refused(
        certificates::get(&acting(&h, &w.admin_a, "getCertificate"), theirs).await,
        ErrorCode::NotFound,
        None,
    );
    assert_refused(
        certificates::renew(&acting(&h, &w.admin_a, "renewCertificate"), theirs).await,
        ErrorCode::NotFound,
        None,
    );
    let by_operator = acting(&h, &w.operator_a, "revokeCertificate");
    let revoke = certificates::revoke(&by_operator, mine, RevokeCertificate { reason: None }).await;
    assert_refused(revoke, ErrorCode::Forbidden, None);
    let reason = RevokeCertificate { reason: Some("certificateHold".into()) };
    let revoke = certificates::revoke(&acting(&h, &w.admin_a, "revokeCertificate"), mine, reason).await;
    assert_refused(revoke, ErrorCode::ValidationFailed, Some("reason"));
    let operator = |op| acting(&h, &w.operator_a, op);
    assert_refused(certificates::renew(&operator("renewCertificate"), mine).await, ErrorCode::Conflict, None);
    assert_refused(certificates::distribute(&operator("distributeCertificate"), mine).await, ErrorCode::Conflict, None);
    certificates::delete(&acting(&h, &w.admin_a, "deleteCertificate"), mine).await.unwrap();
    assert_refused(certificates::get(&acting(&h, &w.admin_a, "getCertificate"), mine).await, ErrorCode::NotFound, None);
}
