use super::*;
use crate::ids::{AcmeAccountId, ProjectId};
use crate::model::KeyType;

const HOUR: i64 = 3_600_000;

fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_800_000_000_000)
}

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_millis(now().as_unix_millis() + hours * HOUR)
}

/// An issued certificate whose renewal window opens and whose lifetime ends that many hours from now.
fn cert(status: CertificateStatus, renew_in_h: i64, expires_in_h: i64) -> Certificate {
    let mut c = Certificate::new(
        ProjectId::new(),
        "a.example.test",
        vec!["a.example.test".into()],
        KeyType::EcdsaP256,
        AcmeAccountId::new(),
        now(),
    );
    c.status = status;
    c.renew_at = Some(at(renew_in_h));
    c.not_after = Some(at(expires_in_h));
    c
}

fn health(c: &Certificate, drifted: bool) -> CertificateHealth {
    HealthReport::of(c, now(), drifted).health
}

/// Each health from the facts that give it, and the reason an operator reads beside it.
#[test]
fn every_health_comes_from_the_facts() {
    use CertificateHealth as H;
    use CertificateStatus::*;
    assert_eq!(health(&cert(Issued, 100, 1_000), false), H::Ok);
    assert_eq!(HealthReport::of(&cert(Issued, 100, 1_000), now(), false).reason, None);
    let mut requested = cert(Requested, 0, 0);
    (requested.renew_at, requested.not_after) = (None, None);
    assert_eq!(health(&requested, false), H::Pending);
    // A 90-hour window, 2 hours in: due; 61 hours in (less than a third left): overdue.
    assert_eq!(health(&cert(Renewing, -2, 88), false), H::RenewalDue);
    let overdue = cert(Issued, -61, 29);
    assert_eq!(health(&overdue, false), H::Overdue);
    let reason = HealthReport::of(&overdue, now(), false).reason.unwrap();
    assert!(reason.starts_with("renewal should have finished by "), "{reason}");
    let mut failing = cert(Issued, -1, 100);
    failing.last_error = Some("the CA is unreachable".into());
    let report = HealthReport::of(&failing, now(), false);
    assert_eq!((report.health, report.reason.as_deref()), (H::RenewalFailing, Some("the CA is unreachable")));
    assert_eq!(health(&cert(Failed, 0, 0), false), H::Expired, "a failed renewal past not_after is expired");
    let mut ran_out = cert(Failed, -61, 29);
    ran_out.last_error = Some("the CA is unreachable".into());
    assert_eq!(health(&ran_out, false), H::Overdue, "a renewal out of attempts runs out of time too");
    assert_eq!(health(&cert(Failed, -2, 88), false), H::RenewalFailing);
    let mut first_failed = requested.clone();
    first_failed.status = Failed;
    assert_eq!(health(&first_failed, false), H::RenewalFailing);
    assert_eq!(health(&cert(Issued, -500, -1), false), H::Expired);
    assert_eq!(health(&cert(Expired, 10, 20), false), H::Expired, "marked expired is expired");
    assert_eq!(health(&cert(Revoked, -500, -1), false), H::Revoked, "revocation wins over expiry");
    let mut unmanaged = cert(Unmanaged, 0, 400);
    unmanaged.renew_at = None;
    assert_eq!(health(&unmanaged, false), H::Unmanaged);
}

/// More severe facts win: an overdue renewal that also fails is overdue (its reason the error),
/// and a paused certificate inside its window is overdue, whatever is left of it.
#[test]
fn the_most_severe_health_wins() {
    use CertificateHealth as H;
    let mut overdue_and_failing = cert(CertificateStatus::Issued, -61, 29);
    overdue_and_failing.last_error = Some("rate limited".into());
    let report = HealthReport::of(&overdue_and_failing, now(), false);
    assert_eq!(report.health, H::Overdue);
    assert_eq!(report.reason.as_deref(), Some("renewal has not finished: rate limited"));
    let mut paused = cert(CertificateStatus::Issued, -1, 1_000);
    paused.paused = true;
    assert_eq!(health(&paused, false), H::Overdue);
    let mut paused_early = cert(CertificateStatus::Issued, 1, 1_000);
    paused_early.paused = true;
    assert_eq!(health(&paused_early, false), H::Ok, "paused before its window: nothing is wrong yet");
}

/// Drift replaces only a health that says nothing is wrong.
#[test]
fn drift_replaces_only_a_quiet_health() {
    use CertificateHealth as H;
    assert_eq!(health(&cert(CertificateStatus::Issued, 100, 1_000), true), H::Drifted);
    assert_eq!(health(&cert(CertificateStatus::Issued, -2, 88), true), H::Drifted);
    assert_eq!(health(&cert(CertificateStatus::Issued, -61, 29), true), H::Overdue);
    assert_eq!(health(&cert(CertificateStatus::Issued, -500, -1), true), H::Expired);
}

/// The overdue point is a third of the window before expiry, so a six-day certificate renewing at
/// half its lifetime is overdue one day before it expires, and a year-long one with a 30-day
/// window ten days before.
#[test]
fn overdue_scales_with_the_renewal_window() {
    let six_days = overdue_at(Some(at(72)), Some(at(144))).unwrap();
    assert_eq!(six_days, at(120));
    let year = overdue_at(Some(at(24 * 335)), Some(at(24 * 365))).unwrap();
    assert_eq!(year, at(24 * 355));
    assert_eq!(overdue_at(Some(at(10)), Some(at(5))), Some(at(10)), "an inverted window: at renew_at");
    assert_eq!(overdue_at(None, Some(at(5))), None);
}

/// Counting each health exclusively puts every certificate under exactly one, the one
/// `fact_health` gives it.
#[test]
fn health_conditions_are_exclusive() {
    use CertificateStatus::*;
    let rules = OverviewRules::at(now());
    let hours = [None, Some(-500), Some(-61), Some(-2), Some(0), Some(29), Some(100), Some(1_000)];
    for status in [Requested, Issuing, Issued, Renewing, Failed, Revoked, Expired, Unmanaged] {
        for renew in hours {
            for expires in hours {
                for (paused, error) in [(false, false), (true, false), (false, true), (true, true)] {
                    let mut c = cert(status, 0, 0);
                    c.renew_at = renew.map(at);
                    c.not_after = expires.map(at);
                    c.paused = paused;
                    c.last_error = error.then(|| "x".to_owned());
                    let facts = CertificateFacts::of(&c);
                    let holding: Vec<CertificateHealth> = CertificateHealth::PRECEDENCE
                        .into_iter()
                        .filter(|h| rules.health_condition(*h).holds(&facts))
                        .collect();
                    assert_eq!(holding, vec![HealthRules::at(now()).fact_health(&facts)], "{c:?}");
                }
            }
        }
    }
    assert_eq!(CertificateHealth::parse("renewal_failing"), Some(CertificateHealth::RenewalFailing));
    assert_eq!(CertificateHealth::parse("fine"), None);
}
