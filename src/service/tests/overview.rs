//! The overview: the store's figures of every project the caller sees, added up, with the
//! attention list worded and ordered across projects.

use certautopilot_core::model::{Certificate, CertificateStatus, Deployment};
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::service::overview::{self, AttentionKind};

const HOUR: i64 = 3_600_000;

async fn add(
    h: &Harness,
    project: &Resources,
    name: &str,
    status: CertificateStatus,
    renew_h: i64,
    expire_h: i64,
) -> Certificate {
    let now = Timestamp::now().as_unix_millis();
    let at = |hours: i64| Some(Timestamp::from_unix_millis(now + hours * HOUR));
    stored_certificate(h, project, name, status, at(expire_h), at(renew_h)).await
}

/// The owner's overview adds both projects up and lists, soonest expiry first, the expired and
/// overdue certificates, then a drifted deployment (named by its certificate) last; a member of
/// project b sees b's figures only, never a's certificates.
#[actix_web::test]
async fn the_overview_adds_up_the_projects_the_caller_sees() {
    let h = Harness::new().await;
    let w = world(&h).await;
    // A 68-hour window, 48 hours in: less than a third left, so overdue.
    let late = add(&h, &w.a, "late.a.example", CertificateStatus::Issued, -48, 20).await;
    let gone = add(&h, &w.a, "gone.a.example", CertificateStatus::Issued, -900, -720).await;
    add(&h, &w.a, "fine.a.example", CertificateStatus::Issued, 100, 900).await;
    let theirs = add(&h, &w.b, "gone.b.example", CertificateStatus::Issued, -900, -719).await;
    let mut drifted = Deployment::new(w.a.scope.project_id(), late.id, w.a.target.id, Timestamp::now());
    drifted.drift = Some("missing".into());
    h.store.insert(&w.a.scope, &drifted).await.unwrap();

    let all = overview::overview(&acting(&h, &w.owner, "listCertificates")).await.unwrap();
    // Each project also holds the world's requested certificate.
    assert_eq!((all.projects, all.counts.total, all.counts.pending), (2, 6, 2));
    assert_eq!((all.counts.expired, all.counts.overdue, all.counts.issued), (2, 1, 2));
    {
        use certautopilot_core::model::CertificateHealth as H;
        let health: Vec<_> = all.counts.health.iter().filter(|(_, n)| *n > 0).collect();
        // The drifted deployment is the overdue one's: overdue says more, so it stays overdue.
        assert_eq!(health, [(H::Ok, 1), (H::Pending, 2), (H::Overdue, 1), (H::Expired, 2)]);
    }
    let listed: Vec<_> = all.attention.iter().map(|a| (a.certificate_id, a.kind)).collect();
    assert_eq!(
        listed,
        [
            (gone.id, AttentionKind::Expired),
            (theirs.id, AttentionKind::Expired),
            (late.id, AttentionKind::Overdue),
            (late.id, AttentionKind::Drift),
        ]
    );
    let drift = &all.attention[3];
    assert_eq!(
        (drift.common_name.as_str(), drift.detail.clone()),
        ("late.a.example", format!("target {}: missing", w.a.target.id))
    );
    assert_eq!(all.calendar.iter().sum::<usize>(), 2, "the two live certificates expiring within 90 days");

    let b_only = overview::overview(&acting(&h, &w.admin_b, "listCertificates")).await.unwrap();
    assert_eq!((b_only.projects, b_only.counts.total, b_only.counts.expired), (1, 2, 1));
    assert_eq!(b_only.attention.iter().map(|a| a.certificate_id).collect::<Vec<_>>(), [theirs.id]);
}
