use super::*;
use crate::ids::{AcmeAccountId, ProjectId};
use crate::model::KeyType;

fn cert(status: CertificateStatus, now: Timestamp, renew_in_h: i64, expires_in_h: i64) -> Certificate {
    let mut c = Certificate::new(
        ProjectId::new(),
        "a.example.test",
        vec!["a.example.test".into()],
        KeyType::EcdsaP256,
        AcmeAccountId::new(),
        now,
    );
    c.status = status;
    let h = |n: i64| Timestamp::from_unix_millis(now.as_unix_millis() + n * 3_600_000);
    c.renew_at = Some(h(renew_in_h));
    c.not_after = Some(h(expires_in_h));
    c
}

fn request(now: Timestamp) -> StatsRequest {
    let start = Timestamp::from_unix_millis(now.as_unix_millis().div_euclid(DAY_MILLIS) * DAY_MILLIS);
    StatsRequest { now, calendar_start: start, calendar_days: 90, attention_limit: 50 }
}

/// Each rule of the summary, one certificate at a time: the counts it lands in and whether it
/// needs attention (an issued certificate well before its window does not).
#[test]
fn certificates_are_counted_by_the_overview_rules() {
    let now = Timestamp::from_unix_millis(1_800_000_000_000);
    let rules = OverviewRules::at(now);
    let kind = |c: &Certificate| rules.attention_kind(&CertificateFacts::of(c));
    let calm = cert(CertificateStatus::Issued, now, 100, 1_000);
    assert_eq!(kind(&calm), None);
    let window = cert(CertificateStatus::Issued, now, -2, 1_000);
    assert_eq!(kind(&window), None, "two hours into the window is not overdue yet");
    let overdue = cert(CertificateStatus::Issued, now, -48, 20);
    assert_eq!(kind(&overdue), Some(AttentionKind::Overdue));
    let expired = cert(CertificateStatus::Issued, now, -500, -1);
    assert_eq!(kind(&expired), Some(AttentionKind::Expired));
    let mut failing = cert(CertificateStatus::Issued, now, -1, 100);
    failing.last_error = Some("dns update refused".into());
    assert_eq!(kind(&failing), Some(AttentionKind::Failing));
    let revoked = cert(CertificateStatus::Revoked, now, -500, -1);
    assert_eq!(kind(&revoked), None);
    let all = [calm, window, overdue, expired, failing, revoked];
    let stats = ProjectCertificateStats::reference(&request(now), &all, &[]);
    let expected = StatusCounts {
        issued: 4,
        renewing: 0,
        pending: 0,
        in_window: 3,
        overdue: 1,
        expired: 1,
        failing: 1,
        revoked: 1,
        total: 6,
        health: {
            use crate::model::CertificateHealth as H;
            let mut health = crate::model::HealthCounts::default();
            for h in [H::Ok, H::RenewalDue, H::Overdue, H::Expired, H::RenewalFailing, H::Revoked] {
                health.add(h, 1);
            }
            health
        },
    };
    assert_eq!(stats.counts, expected);
    assert_eq!(stats.attention.len(), 3);
    assert_eq!(stats.attention[0].id, all[3].id, "the expired one expires soonest");
}

/// The calendar puts a certificate on the UTC day of its `not_after`, counting from today;
/// revoked certificates, those already past and those beyond 90 days are left out.
#[test]
fn calendar_days_count_from_midnight_utc() {
    let start = Timestamp::from_unix_millis(1_800_000_000_000 / DAY_MILLIS * DAY_MILLIS);
    let now = Timestamp::from_unix_millis(start.as_unix_millis() + 3_600_000);
    let request = request(now);
    let on = OverviewRules::on_calendar(request.calendar_start, request.calendar_days);
    let day = |c: &Certificate| {
        on.holds(&CertificateFacts::of(c)).then(|| request.calendar_day(c.not_after.unwrap())).flatten()
    };
    assert_eq!(day(&cert(CertificateStatus::Issued, now, 0, 1)), Some(0));
    assert_eq!(day(&cert(CertificateStatus::Issued, now, 0, 24 * 89)), Some(89));
    assert_eq!(day(&cert(CertificateStatus::Issued, now, 0, 24 * 90)), None);
    assert_eq!(day(&cert(CertificateStatus::Revoked, now, 0, 5)), None);
    assert_eq!(day(&cert(CertificateStatus::Issued, now, 0, -2)), None);
}

/// The facts a backend derives from a stored document are the record's own: every field the
/// rules read survives the JSON, and a paused flag missing from an old document reads as false.
#[test]
fn facts_from_a_document_match_the_record() {
    let now = Timestamp::from_unix_millis(1_800_000_000_123);
    let mut c = cert(CertificateStatus::Renewing, now, -3, 40);
    c.paused = true;
    c.last_error = Some("x".into());
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(CertificateFacts::from_document(&json).unwrap(), CertificateFacts::of(&c));
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("paused");
    assert!(!CertificateFacts::from_document(&old.to_string()).unwrap().paused);
}
