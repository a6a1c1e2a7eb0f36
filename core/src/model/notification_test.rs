use serde_json::json;

use super::*;
use crate::ids::{AcmeAccountId, OrgId};
use crate::model::{Certificate, CertificateStatus, HealthRules, KeyType, decide_watch};
use crate::scope::Principal;

const HOUR: i64 = 3_600_000;

fn now() -> Timestamp {
    Timestamp::from_unix_millis(1_800_000_000_000)
}

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_millis(now().as_unix_millis() + hours * HOUR)
}

fn rule(project: ProjectId, events: Vec<EventKind>, expiry: Option<ExpiryThreshold>) -> NotificationRule {
    NotificationRule {
        id: RuleId::new(),
        project_id: project,
        name: "on call".into(),
        enabled: true,
        events,
        channel_ids: vec![ChannelId::new()],
        expiry,
        digest_minutes: None,
        created_by: UserId::new(),
        created_at: now(),
        updated_at: now(),
        version: 1,
    }
}

/// A certificate of six days, issued two hours ago, renewing at two thirds of its life.
fn six_day_cert(project: ProjectId) -> Certificate {
    let mut c = Certificate::new(
        project,
        "a.example.test",
        vec!["a.example.test".into()],
        KeyType::EcdsaP256,
        AcmeAccountId::new(),
        now(),
    );
    c.status = CertificateStatus::Issued;
    c.not_before = Some(at(-2));
    c.not_after = Some(at(142));
    c.renew_at = Some(at(94));
    c
}

fn entry(project: Option<ProjectId>, action: &str, details: serde_json::Value) -> AuditEvent {
    AuditEvent {
        org_id: OrgId::new(),
        seq: 7,
        at: now(),
        actor: Principal::System("test".into()),
        action: action.into(),
        object: None,
        project_id: project,
        details,
        prev_hmac: String::new(),
        hmac: String::new(),
    }
}

/// Every event kind reads back from its name, and unknown names are refused.
#[test]
fn event_names_round_trip() {
    for kind in EventKind::all() {
        assert_eq!(EventKind::parse(&kind.name()), Some(kind), "{}", kind.name());
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
    }
    assert_eq!(EventKind::all().len(), 18);
    assert_eq!(EventKind::parse("health.fine"), None);
    assert!(serde_json::from_str::<EventKind>("\"cert.nothing\"").is_err());
}

/// A rule takes its project's events and the organization's, and an expiry entry only when it
/// was written for that rule.
#[test]
fn a_rule_wants_its_projects_events_only() {
    let project = ProjectId::new();
    let r = rule(
        project,
        vec![EventKind::Issued, EventKind::KekRotated, EventKind::Expiring],
        Some(ExpiryThreshold::Days { days: 7 }),
    );
    let issued = entry(Some(project), "cert.issued", json!({}));
    assert_eq!(EventKind::of_entry(&issued), Some(EventKind::Issued));
    assert!(r.wants(&issued, EventKind::Issued));
    assert!(!r.wants(&entry(Some(ProjectId::new()), "cert.issued", json!({})), EventKind::Issued));
    assert!(r.wants(&entry(None, "kek.rotated", json!({})), EventKind::KekRotated));
    let mine = entry(Some(project), EXPIRING, json!({"rule_id": r.id.to_string()}));
    let other = entry(Some(project), EXPIRING, json!({"rule_id": RuleId::new().to_string()}));
    assert!(r.wants(&mine, EventKind::Expiring));
    assert!(!r.wants(&other, EventKind::Expiring));
    let health = entry(Some(project), HEALTH_CHANGED, json!({"to": "overdue"}));
    assert_eq!(EventKind::of_entry(&health), Some(EventKind::Health(CertificateHealth::Overdue)));
    assert!(!r.wants(&health, EventKind::Health(CertificateHealth::Overdue)));
    let mut off = r.clone();
    off.enabled = false;
    assert!(!off.wants(&issued, EventKind::Issued));
    assert_eq!(EventKind::of_entry(&entry(Some(project), "cert.requested", json!({}))), None);
}

#[test]
fn rules_are_validated() {
    let project = ProjectId::new();
    assert!(rule(project, vec![EventKind::Issued], None).validate().is_ok());
    let cases = [
        (rule(project, vec![], None), "events"),
        (rule(project, vec![EventKind::Expiring], None), "expiry"),
        (rule(project, vec![EventKind::Issued], Some(ExpiryThreshold::Days { days: 3 })), "expiry"),
        (rule(project, vec![EventKind::Expiring], Some(ExpiryThreshold::Fraction { fraction: 1.5 })), "expiry"),
        (rule(project, vec![EventKind::Expiring], Some(ExpiryThreshold::Days { days: 0 })), "expiry"),
    ];
    for (r, field) in cases {
        assert_eq!(r.validate().unwrap_err().field, field, "{r:?}");
    }
    let mut no_channels = rule(project, vec![EventKind::Issued], None);
    no_channels.channel_ids.clear();
    assert_eq!(no_channels.validate().unwrap_err().field, "channel_ids");
    let mut digest = rule(project, vec![EventKind::Issued], None);
    digest.digest_minutes = Some(0);
    assert_eq!(digest.validate().unwrap_err().field, "digest_minutes");
    digest.digest_minutes = Some(10_081);
    assert_eq!(digest.validate().unwrap_err().field, "digest_minutes");
    digest.digest_minutes = Some(60);
    assert!(digest.validate().is_ok());
    let mut named = rule(project, vec![EventKind::Issued], None);
    named.name = "bad\nname".into();
    assert_eq!(named.validate().unwrap_err().field, "name");
}

/// A fraction of the lifetime scales with it: a fifth of six days is about 29 hours, of a year 73 days.
#[test]
fn thresholds_scale_with_the_lifetime() {
    let fifth = ExpiryThreshold::Fraction { fraction: 0.2 };
    let six_days = fifth.warn_at(Some(at(0)), at(144));
    assert_eq!(six_days.as_unix_millis(), at(144).as_unix_millis() - (144 * HOUR) / 5);
    let year = fifth.warn_at(Some(at(0)), at(365 * 24));
    assert_eq!(at(365 * 24).as_unix_millis() - year.as_unix_millis(), 73 * 24 * HOUR);
    assert_eq!(ExpiryThreshold::Days { days: 2 }.warn_at(None, at(100)), at(52));
    assert_eq!(ExpiryThreshold::Hours { hours: 5 }.warn_at(None, at(100)), at(95));
}

/// The watch announces a health once per change, a threshold once per rule and certificate, and a
/// renewed certificate may cross it again.
#[test]
fn the_watch_announces_each_change_once() {
    let project = ProjectId::new();
    let cert = six_day_cert(project);
    let expiring = rule(project, vec![EventKind::Expiring], Some(ExpiryThreshold::Fraction { fraction: 0.2 }));
    let rules = vec![expiring.clone()];
    // First sight of a healthy certificate: a watch, no event.
    let first = decide_watch(&cert, false, &HealthRules::at(now()), None, &rules).expect("a new watch");
    assert!(first.first && first.event.is_none());
    assert_eq!(first.watch.health, CertificateHealth::Ok);
    assert_eq!(decide_watch(&cert, false, &HealthRules::at(at(1)), Some(&first.watch), &rules), None);
    // Inside the renewal window: renewal_due, once.
    let due = decide_watch(&cert, false, &HealthRules::at(at(95)), Some(&first.watch), &rules).expect("a change");
    let event = due.event.as_ref().unwrap();
    assert_eq!(event.action, HEALTH_CHANGED);
    assert_eq!(event.details["from"], "ok");
    assert_eq!(event.details["to"], "renewal_due");
    assert_eq!(decide_watch(&cert, false, &HealthRules::at(at(96)), Some(&due.watch), &rules), None);
    // 29 hours before the end (a fifth of six days, 28.8 h): the threshold, once.
    let warned = decide_watch(&cert, false, &HealthRules::at(at(114)), Some(&due.watch), &rules).expect("expiring");
    assert_eq!(warned.event.as_ref().unwrap().action, EXPIRING);
    assert_eq!(warned.event.as_ref().unwrap().details["rule_id"], expiring.id.to_string());
    assert_eq!(decide_watch(&cert, false, &HealthRules::at(at(115)), Some(&warned.watch), &rules), None);
    // Two rules crossing together: one event per decision, the other at the next.
    let second = rule(project, vec![EventKind::Expiring], Some(ExpiryThreshold::Days { days: 2 }));
    let both = vec![expiring.clone(), second.clone()];
    let one = decide_watch(&cert, false, &HealthRules::at(at(124)), Some(&due.watch), &both).unwrap();
    let two = decide_watch(&cert, false, &HealthRules::at(at(124)), Some(&one.watch), &both).unwrap();
    let rules_warned: Vec<_> =
        [one, two].iter().map(|o| o.event.as_ref().unwrap().details["rule_id"].clone()).collect();
    assert_eq!(rules_warned, vec![json!(expiring.id.to_string()), json!(second.id.to_string())]);
    // Expired: the health changes; an expired certificate is not "expiring".
    let expired = decide_watch(&cert, false, &HealthRules::at(at(143)), Some(&warned.watch), &rules).expect("expired");
    assert_eq!(expired.event.unwrap().details["to"], "expired");
    // Renewed: a new not_after, ok again, and the threshold can be crossed anew.
    let mut renewed = cert.clone();
    renewed.not_before = Some(at(100));
    renewed.not_after = Some(at(244));
    renewed.renew_at = Some(at(196));
    let ok = decide_watch(&renewed, false, &HealthRules::at(at(101)), Some(&warned.watch), &rules).expect("ok again");
    assert_eq!(ok.event.as_ref().unwrap().details["to"], "ok");
    // The next decision drops the old certificate's warning; the threshold can be crossed anew.
    let pruned = decide_watch(&renewed, false, &HealthRules::at(at(102)), Some(&ok.watch), &rules).expect("pruned");
    assert!(pruned.event.is_none() && pruned.watch.warned.is_empty());
    // At 216 h the window is open too: the health change first, the threshold at the next decision.
    let due_again =
        decide_watch(&renewed, false, &HealthRules::at(at(216)), Some(&pruned.watch), &rules).expect("due again");
    assert_eq!(due_again.event.unwrap().details["to"], "renewal_due");
    let again = decide_watch(&renewed, false, &HealthRules::at(at(216)), Some(&due_again.watch), &rules)
        .expect("expiring again");
    assert_eq!(again.event.unwrap().action, EXPIRING);
}

/// A certificate first seen already in trouble is announced; one first seen pending is not.
#[test]
fn first_sight_announces_trouble_only() {
    let project = ProjectId::new();
    let mut failing = six_day_cert(project);
    failing.status = CertificateStatus::Failed;
    failing.last_error = Some("ACME CA unreachable: connection refused".into());
    let outcome = decide_watch(&failing, false, &HealthRules::at(now()), None, &[]).expect("a watch");
    let event = outcome.event.unwrap();
    assert_eq!(event.details["to"], "renewal_failing");
    assert_eq!(event.details["reason"], "ACME CA unreachable: connection refused");
    assert_eq!(event.details["from"], serde_json::Value::Null);
    let mut pending = six_day_cert(project);
    pending.status = CertificateStatus::Requested;
    assert!(decide_watch(&pending, false, &HealthRules::at(now()), None, &[]).unwrap().event.is_none());
    // Drift replaces ok.
    let drifted = decide_watch(&six_day_cert(project), true, &HealthRules::at(now()), None, &[]).unwrap();
    assert_eq!(drifted.event.unwrap().details["to"], "drifted");
}

fn email(to: Vec<&str>, username: Option<&str>, security: SmtpSecurity) -> ChannelSettings {
    ChannelSettings::Email {
        host: "smtp.example.test".into(),
        port: 587,
        security,
        username: username.map(Into::into),
        from: "cap@example.test".into(),
        to: to.into_iter().map(Into::into).collect(),
        trusted_roots_pem: None,
    }
}

#[test]
fn channel_settings_are_validated() {
    assert!(email(vec!["ops@example.test"], Some("cap"), SmtpSecurity::Starttls).validate().is_ok());
    let bad = [
        (email(vec![], None, SmtpSecurity::Tls), "settings.to"),
        (email(vec!["ops@example.test>\r\nRCPT TO:<x@y.z"], None, SmtpSecurity::Tls), "settings.to"),
        (email(vec!["ops@example.test"], Some("cap"), SmtpSecurity::None), "settings.security"),
        (ChannelSettings::Webhook { url: "ftp://x".into(), trusted_roots_pem: None }, "settings.url"),
        (
            ChannelSettings::Webhook { url: "http://hooks.example.test/".into(), trusted_roots_pem: None },
            "settings.url",
        ),
        (ChannelSettings::Webhook { url: "https://u:p@x.test/".into(), trusted_roots_pem: None }, "settings.url"),
        (ChannelSettings::Ntfy { server_url: "https://ntfy.sh".into(), topic: "a/b".into() }, "settings.topic"),
        (ChannelSettings::Telegram { chat_id: "chat".into(), api_base_url: None }, "settings.chat_id"),
    ];
    for (settings, field) in bad {
        assert_eq!(settings.validate().unwrap_err().field, field, "{settings:?}");
    }
    assert!(ChannelSettings::Telegram { chat_id: "-1001234".into(), api_base_url: None }.validate().is_ok());
    assert!(ChannelSettings::Telegram { chat_id: "@ops_alerts".into(), api_base_url: None }.validate().is_ok());
}

/// Secrets: required where the kind needs one, in the shape the service takes, and never echoed.
#[test]
fn secrets_are_checked_without_echoing_them() {
    let slack = ChannelSettings::Slack {};
    assert_eq!(slack.check_secret(None, false).unwrap_err().field, "secret");
    assert!(slack.check_secret(None, true).is_ok(), "an update may keep the stored secret");
    let error = slack.check_secret(Some("not a url T0/B0/XYZsecret"), false).unwrap_err();
    assert!(!error.reason.contains("XYZsecret"), "{error}");
    assert!(slack.check_secret(Some("https://hooks.slack.com/services/T0/B0/XYZ"), false).is_ok());
    let telegram = ChannelSettings::Telegram { chat_id: "42".into(), api_base_url: None };
    assert!(telegram.check_secret(Some("123456:AAbbCCddEEffGGhhIIjjKK"), false).is_ok());
    assert!(telegram.check_secret(Some("nonsense"), false).is_err());
    let webhook = ChannelSettings::Webhook { url: "https://x.test/".into(), trusted_roots_pem: None };
    assert!(webhook.check_secret(Some("short"), false).is_err());
    assert!(email(vec!["a@b.test"], None, SmtpSecurity::Tls).check_secret(Some("pw"), false).is_err());
    assert!(email(vec!["a@b.test"], Some("u"), SmtpSecurity::Tls).check_secret(None, false).is_err());
    assert!(email(vec!["a@b.test"], None, SmtpSecurity::Tls).check_secret(None, false).is_ok());
    let ntfy = ChannelSettings::Ntfy { server_url: "https://ntfy.sh".into(), topic: "cap".into() };
    assert!(ntfy.check_secret(None, false).is_ok());
}

/// A rule's entries record what decides its sending, and a reader of the chain rebuilds it from
/// them: created, then changed, then deleted; it never takes an event from before it existed.
#[test]
fn a_rule_is_rebuilt_from_its_entries_and_ignores_what_came_before_it() {
    let project = ProjectId::new();
    let r = rule(project, vec![EventKind::Issued], None);
    let mut created = entry(Some(project), RULE_CREATED, r.fields());
    created.object = Some(crate::model::AuditObject { kind: "notification_rule".into(), id: r.id.to_string() });
    created.at = at(1);
    let Some(RuleChange::Set(built)) = NotificationRule::change_of(&created, None) else { panic!("a rule") };
    assert_eq!((built.id, built.project_id, &built.events, built.created_at), (r.id, project, &r.events, at(1)));
    let mut off = (*built).clone();
    off.enabled = false;
    let mut updated = entry(Some(project), RULE_UPDATED, json!({ "before": built.fields(), "after": off.fields() }));
    updated.object = created.object.clone();
    updated.at = at(2);
    let Some(RuleChange::Set(changed)) = NotificationRule::change_of(&updated, Some(&built)) else { panic!("a rule") };
    assert!(!changed.enabled);
    assert_eq!((changed.created_at, changed.version), (at(1), 2), "created stays, the version moves");
    let mut deleted = entry(Some(project), RULE_DELETED, json!({}));
    deleted.object = created.object.clone();
    assert_eq!(NotificationRule::change_of(&deleted, Some(&changed)), Some(RuleChange::Deleted(r.id)));
    assert_eq!(NotificationRule::change_of(&entry(Some(project), "cert.issued", json!({})), None), None);

    let mut before = entry(Some(project), "cert.issued", json!({}));
    before.at = at(0);
    let mut after = before.clone();
    after.at = at(2);
    assert!(!built.wants(&before, EventKind::Issued), "an event from before the rule");
    assert!(built.wants(&after, EventKind::Issued));
}

/// A failed deployment is told once it will not be retried; a watch never goes back to an older
/// read of its certificate.
#[test]
fn retried_deployments_and_older_reads_are_not_told() {
    let project = ProjectId::new();
    let retrying = entry(Some(project), "cert.distribution_failed", json!({ "will_retry": true }));
    let last = entry(Some(project), "cert.distribution_failed", json!({ "will_retry": false }));
    assert_eq!(EventKind::of_entry(&retrying), None);
    assert_eq!(EventKind::of_entry(&last), Some(EventKind::DistributionFailed));
    let mut cert = six_day_cert(project);
    cert.version = 5;
    let seen = decide_watch(&cert, false, &HealthRules::at(now()), None, &[]).unwrap().watch;
    let mut older = cert.clone();
    older.version = 4;
    older.status = CertificateStatus::Failed;
    assert_eq!(decide_watch(&older, false, &HealthRules::at(now()), Some(&seen), &[]), None);
}
