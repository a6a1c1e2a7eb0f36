//! Conformance of the overview's figures (`CertificateStats`): a backend's answer equals the rules
//! applied to the project's records one by one (`ProjectCertificateStats::reference`), on a project
//! holding every combination of the facts the rules read, at the boundaries of each comparison.
//! The inventory's expiry order (`certificates_by_expiry`) is checked the same way: against the
//! order by definition, walked a page at a time.
//! Invariant: another project's records never change the answer.

use super::*;
use crate::model::{CertificateHealth, Condition, DAY_MILLIS, ProjectCertificateStats, StatsRequest};
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
    // With the 30-day expiry, renewing 60 days ago puts the overdue point (a third of the window
    // before expiry, `health::overdue_at`) at `now`; 3 ms either side moves it by 1 ms.
    let overdue_now = now_ms - 60 * DAY_MILLIS;
    let renewals = [None, at(overdue_now - 3), at(overdue_now), at(overdue_now + 3), at(now_ms), at(now_ms + 1)];
    let mut all = Vec::new();
    let statuses = [Requested, Issuing, Issued, Renewing, Failed, Revoked, Expired, Unmanaged];
    for (s, status) in statuses.into_iter().enumerate() {
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
        // Spread over the statuses, so drift meets every health (and replaces the quiet ones).
        let deployments: Vec<Deployment> = certificates
            .iter()
            .step_by(7)
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
    for health in CertificateHealth::ALL {
        assert!(expected.counts.health.get(health) > 0, "no certificate with health {health:?}");
    }
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

/// Certificates of `scope` for the expiry order: three sharing one expiry (a tie), a few apart,
/// some not issued yet, with alternating statuses; inserted in an order unrelated to either key.
fn for_expiry_order(scope: &ProjectScope, now: Timestamp) -> Vec<Certificate> {
    let at = |days: i64| Some(Timestamp::from_unix_millis(now.as_unix_millis() + days * DAY_MILLIS));
    let expiries = [at(30), None, at(-2), at(7), at(7), None, at(90), at(7), at(1), None, at(-2)];
    let statuses = [CertificateStatus::Issued, CertificateStatus::Revoked, CertificateStatus::Requested];
    expiries
        .into_iter()
        .enumerate()
        .map(|(i, not_after)| {
            let mut cert = certificate(scope, &format!("e{i}.example"), now);
            cert.not_after = not_after;
            cert.status = statuses[i % 3];
            cert
        })
        .collect()
}

/// The expiry order by definition: expiry first, absent expiries last, ties by id.
fn expiry_reference(certificates: &[Certificate], condition: &Condition) -> Vec<CertificateId> {
    let mut kept: Vec<&Certificate> =
        certificates.iter().filter(|c| condition.holds(&crate::model::CertificateFacts::of(c))).collect();
    kept.sort_by_key(|c| (c.not_after.is_none(), c.not_after, c.id.to_string()));
    kept.into_iter().map(|c| c.id).collect()
}

async fn walk_by_expiry<S: CertificateStats>(
    store: &S,
    scope: &ProjectScope,
    condition: &Condition,
    limit: usize,
) -> Vec<CertificateId> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(limit);
    loop {
        let batch = store.certificates_by_expiry(scope, condition, &page).await.unwrap();
        assert!(batch.items.len() <= limit, "a page holds at most its limit");
        assert!(batch.next_cursor.is_none() || batch.items.len() == limit, "only a full page has a cursor");
        seen.extend(batch.items.iter().map(|c| c.id));
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(limit, cursor),
            None => return seen,
        }
    }
}

/// Walking the expiry order a page at a time, at page sizes that end pages inside the tie, right
/// after it and inside the unissued tail, visits the reference order exactly: soonest first, the
/// tie by id, unissued last, no certificate twice or missing; with conditions on the facts (one
/// status, live and expiring within a week) the walk is the reference order of the matches.
/// Project B's certificates, inserted alike, never appear.
pub async fn certificates_by_expiry_walk_soonest_first_across_pages<S: Organizations + Records + CertificateStats>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mine = for_expiry_order(&w.a, now);
    f.store.insert_many(&w.a, &mine).await.unwrap();
    f.store.insert_many(&w.b, &for_expiry_order(&w.b, now)).await.unwrap();
    let within_week = Timestamp::from_unix_millis(now.as_unix_millis() + 7 * DAY_MILLIS);
    let conditions = [
        Condition::Always,
        Condition::StatusIn(vec![CertificateStatus::Issued]),
        Condition::All(vec![
            Condition::NotAfterAtOrBefore(within_week),
            Condition::Not(Box::new(Condition::StatusIn(vec![CertificateStatus::Revoked]))),
        ]),
    ];
    for condition in &conditions {
        let expected = expiry_reference(&mine, condition);
        assert!(!expected.is_empty(), "{condition:?} matches some");
        for limit in [1, 2, 3, 4, 5, 100] {
            assert_eq!(walk_by_expiry(&f.store, &w.a, condition, limit).await, expected, "{condition:?}, {limit}");
        }
    }
}

/// A cursor the expiry order cannot have written is refused as `InvalidCursor`, never read as the
/// start: the default order's cursor, garbage, and well-formed ones with a wrong expiry or id.
pub async fn a_forged_expiry_cursor_is_refused<S: Organizations + Records + CertificateStats>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    f.store.insert_many(&w.a, &for_expiry_order(&w.a, now)).await.unwrap();
    let by_id = f.store.list::<Certificate>(&w.a, &PageRequest::first(2)).await.unwrap();
    let other_order = by_id.next_cursor.expect("the default order has a next page");
    let id = CertificateId::new();
    let forged = [
        other_order,
        "zz".to_owned(),
        crate::store::page::encode_cursor(&format!("e:tomorrow:{id}")),
        crate::store::page::encode_cursor("e:5:not-an-id"),
        crate::store::page::encode_cursor(&format!("v:{id}")),
    ];
    for cursor in forged {
        let page = PageRequest::after(3, cursor.clone());
        let answer = f.store.certificates_by_expiry(&w.a, &Condition::Always, &page).await;
        assert!(matches!(answer, Err(StoreError::InvalidCursor)), "{cursor}: {answer:?}");
    }
}

/// A cursor carries a position, not a project: handed to project B's walk, a cursor from A's pages
/// continues B's own order from that position and shows none of A's certificates.
pub async fn an_expiry_cursor_stays_in_the_callers_project<S: Organizations + Records + CertificateStats>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let (theirs, mine) = (for_expiry_order(&w.a, now), for_expiry_order(&w.b, now));
    f.store.insert_many(&w.a, &theirs).await.unwrap();
    f.store.insert_many(&w.b, &mine).await.unwrap();
    let first = f.store.certificates_by_expiry(&w.a, &Condition::Always, &PageRequest::first(4)).await.unwrap();
    let last_of_a = first.items.last().unwrap().clone();
    let cursor = first.next_cursor.expect("more than four certificates");
    let rest =
        f.store.certificates_by_expiry(&w.b, &Condition::Always, &PageRequest::after(100, cursor)).await.unwrap();
    assert!(rest.items.iter().all(|c| c.project_id == w.b.project_id()), "only project B's certificates");
    let key = |c: &Certificate| (c.not_after.is_none(), c.not_after, c.id.to_string());
    let expected: Vec<CertificateId> = {
        let mut after: Vec<&Certificate> = mine.iter().filter(|c| key(c) > key(&last_of_a)).collect();
        after.sort_by_key(|c| key(c));
        after.into_iter().map(|c| c.id).collect()
    };
    assert_eq!(rest.items.iter().map(|c| c.id).collect::<Vec<_>>(), expected);
}
