//! Conformance of the overview's figures (`CertificateStats`): a backend's answer equals the rules
//! applied to the project's records one by one (`ProjectCertificateStats::reference`), on a project
//! holding every combination of the facts the rules read, at the boundaries of each comparison.
//! Invariant: another project's records never change the answer.

use super::*;
use crate::model::{DAY_MILLIS, OVERDUE_AFTER_SECS, ProjectCertificateStats, StatsRequest};
use crate::store::CertificateStats;

const HOUR: i64 = 3_600_000;

/// Certificates with every status, expiry and renewal time around the rules' instants (`now`, a
/// day before it, the calendar's ends), paused or not, with an error or not.
pub fn every_combination(scope: &ProjectScope, now: Timestamp, calendar_start: Timestamp) -> Vec<Certificate> {
    use CertificateStatus::*;
    let at = |millis: i64| Some(Timestamp::from_unix_millis(millis));
    let (now_ms, start_ms) = (now.as_unix_millis(), calendar_start.as_unix_millis());
    let expiries = [
        None,
        at(start_ms - 1),
        at(now_ms - HOUR),
        at(now_ms),
        at(now_ms + 1),
        at(now_ms + 30 * DAY_MILLIS),
        at(start_ms + 90 * DAY_MILLIS - 1),
        at(start_ms + 90 * DAY_MILLIS),
    ];
    let late = now_ms - OVERDUE_AFTER_SECS * 1_000;
    let renewals = [None, at(late - 1), at(late), at(now_ms), at(now_ms + 1)];
    let mut all = Vec::new();
    for (s, status) in [Requested, Issuing, Issued, Renewing, Failed, Revoked, Expired].into_iter().enumerate() {
        for (e, not_after) in expiries.into_iter().enumerate() {
            for (r, renew_at) in renewals.into_iter().enumerate() {
                // Paused and erring on alternating combinations: every pair of them still occurs.
                let mut cert = certificate(scope, &format!("c{s}-{e}-{r}.example"), now);
                cert.status = status;
                cert.not_after = not_after;
                cert.renew_at = renew_at;
                cert.paused = (s + e + r) % 2 == 0;
                cert.last_error = ((e + r) % 3 == 0).then(|| format!("error {s}-{e}-{r}"));
                all.push(cert);
            }
        }
    }
    all
}

pub async fn stored_records<S: Records>(store: &S, scope: &ProjectScope) -> (Vec<Certificate>, Vec<Deployment>) {
    let certificates = every_record::<S, Certificate>(store, scope).await;
    let deployments = every_record::<S, Deployment>(store, scope).await;
    (certificates, deployments)
}

async fn every_record<S: Records, R: Record<Scope = ProjectScope>>(store: &S, scope: &ProjectScope) -> Vec<R> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(500);
    loop {
        let batch = store.list::<R>(scope, &page).await.unwrap();
        all.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(500, cursor),
            None => return all,
        }
    }
}

/// Every figure, the calendar and both attention lists equal the reference on a project with
/// every combination of facts (inserted, then changed by updates, so both write paths keep the
/// backend's facts true), with a generous limit and with a tight one; project B's records,
/// inserted alike, change nothing.
pub async fn overview_figures_match_the_rules_record_by_record<S: Organizations + Records + CertificateStats>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let calendar_start = Timestamp::from_unix_millis(now.as_unix_millis().div_euclid(DAY_MILLIS) * DAY_MILLIS);
    let request = StatsRequest { now, calendar_start, calendar_days: 90, attention_limit: 1_000 };
    for scope in [&w.a, &w.b] {
        let certificates = every_combination(scope, now, calendar_start);
        f.store.insert_many(scope, &certificates).await.unwrap();
        let target = DistributionTarget::new(scope.project_id(), "t", TargetKind::File, now);
        f.store.insert(scope, &target).await.unwrap();
        let deployments: Vec<Deployment> = certificates
            .iter()
            .take(12)
            .enumerate()
            .map(|(i, cert)| {
                let mut d = Deployment::new(scope.project_id(), cert.id, target.id, now);
                d.status = [DeploymentStatus::Deployed, DeploymentStatus::Failed, DeploymentStatus::Pending][i % 3];
                d.drift = (i % 4 == 0).then(|| "missing".to_owned());
                d.last_error = (i % 3 == 1).then(|| "refused".to_owned());
                d
            })
            .collect();
        f.store.insert_many(scope, &deployments).await.unwrap();
    }

    let (certificates, deployments) = stored_records(&f.store, &w.a).await;
    let expected = ProjectCertificateStats::reference(&request, &certificates, &deployments);
    assert!(expected.counts.overdue > 0 && expected.counts.failing > 0 && !expected.deployments.is_empty());
    assert_eq!(f.store.certificate_stats(&w.a, &request).await.unwrap(), expected, "after inserts");

    // Updates move certificates between every figure; deployments lose and gain their drift.
    let mut changed = Vec::new();
    for (i, mut cert) in certificates.into_iter().enumerate().filter(|(i, _)| i % 5 == 0) {
        cert.status = [CertificateStatus::Issued, CertificateStatus::Revoked, CertificateStatus::Failed][i % 3];
        cert.paused = !cert.paused;
        cert.last_error = cert.last_error.is_none().then(|| "new error".to_owned());
        changed.push(cert);
    }
    for cert in &changed {
        f.store.update(&w.a, cert).await.unwrap();
    }
    for mut d in deployments {
        d.drift = if d.drift.is_some() { None } else { Some("fingerprint ab".into()) };
        f.store.update(&w.a, &d).await.unwrap();
    }
    let (certificates, deployments) = stored_records(&f.store, &w.a).await;
    let expected = ProjectCertificateStats::reference(&request, &certificates, &deployments);
    assert_eq!(f.store.certificate_stats(&w.a, &request).await.unwrap(), expected, "after updates");

    let tight = StatsRequest { attention_limit: 7, ..request };
    let expected = ProjectCertificateStats::reference(&tight, &certificates, &deployments);
    assert_eq!(expected.attention.len(), 7);
    assert_eq!(f.store.certificate_stats(&w.a, &tight).await.unwrap(), expected, "with a tight limit");
}

/// A project without certificates has zero figures, an empty calendar of the asked length and no
/// attention items, even when another project of the organization has them.
pub async fn an_empty_project_has_zero_figures<S: Organizations + Records + CertificateStats>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let theirs = every_combination(&w.b, now, now);
    f.store.insert_many(&w.b, &theirs).await.unwrap();
    let request = StatsRequest { now, calendar_start: now, calendar_days: 30, attention_limit: 50 };
    let stats = f.store.certificate_stats(&w.a, &request).await.unwrap();
    assert_eq!(stats, ProjectCertificateStats::reference(&request, &[], &[]));
    assert_eq!(stats.calendar, vec![0; 30]);
}
