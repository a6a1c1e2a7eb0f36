//! Notification channels and rules: bad settings, secrets and rules are refused with the field at
//! fault and change nothing (no record, no audit entry); a secret is never shown and never follows
//! a channel somewhere new; a channel a rule sends to is not deleted; a rule names only its
//! project's channels; a test of a channel the egress policy refuses says so without a socket.

use certautopilot_core::model::{ChannelSettings, EventKind, ExpiryThreshold, NotificationChannel, NotificationRule};
use certautopilot_core::store::{AuditLog, RecordStore};
use serde_json::json;

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::{CreateChannel, CreateRule, UpdateChannel, UpdateRule};
use crate::service::{notification_channels as channels, notification_rules as rules};

const SECRET: &str = "https://hooks.slack.example/services/T000/B000/XYZsecretpart";

fn slack(project: certautopilot_core::ids::ProjectId, name: &str, secret: Option<&str>) -> CreateChannel {
    CreateChannel {
        project_id: project,
        name: name.into(),
        settings: ChannelSettings::Slack {},
        secret: secret.map(Into::into),
    }
}

fn webhook(url: &str) -> ChannelSettings {
    ChannelSettings::Webhook { url: url.into(), trusted_roots_pem: None }
}

async fn audit_count(h: &Harness, w: &crate::api::tests::harness::World) -> usize {
    h.state.flush_audit(w.org.id).await;
    h.store.list_audit_events(&w.org_scope, 0, 10_000).await.unwrap().len()
}

#[actix_web::test]
async fn bad_channels_are_refused_with_the_field_and_leave_nothing_behind() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let pa = w.a.scope.project_id();
    let admin = acting(&h, &w.admin_a, "createNotificationChannel");
    let before = h.store.list::<NotificationChannel>(&w.a.scope, &Default::default()).await.unwrap().items.len();
    let audited = audit_count(&h, &w).await;
    let email = |to: Vec<&str>, username: Option<&str>, security: &str| CreateChannel {
        project_id: pa,
        name: "mail".into(),
        settings: serde_json::from_value(json!({ "type": "email", "host": "smtp.example.test", "port": 587,
            "security": security, "username": username, "from": "cap@example.test", "to": to }))
        .unwrap(),
        secret: username.map(|_| "pw".into()),
    };
    let cases = [
        (slack(pa, "no secret", None), "secret"),
        (slack(pa, "not a url", Some("T000/B000/XYZsecretpart")), "secret"),
        (slack(pa, "bad\nname", Some(SECRET)), "name"),
        (
            CreateChannel {
                settings: webhook("http://hooks.example.test/x"),
                ..slack(pa, "plain http", Some("a-long-enough-secret"))
            },
            "settings.url",
        ),
        (
            CreateChannel {
                settings: webhook("https://hooks.example.test/x"),
                ..slack(pa, "short secret", Some("short"))
            },
            "secret",
        ),
        (email(vec![], None, "starttls"), "settings.to"),
        (email(vec!["ops@example.test"], Some("cap"), "none"), "settings.security"),
        (email(vec!["ops@example.test>\r\nRCPT TO:<x@y.z"], None, "tls"), "settings.to"),
    ];
    for (input, field) in cases {
        let error = assert_refused(channels::create(&admin, input).await, ErrorCode::ValidationFailed, Some(field));
        assert!(!error.detail.contains("XYZsecretpart"), "a refusal never echoes the secret: {error:?}");
    }
    // An unknown key for the type is refused by the decoder, as REST reads a body.
    let body = json!({ "project_id": pa, "name": "x", "settings": { "type": "slack", "url": "https://x.test" }, "secret": SECRET });
    assert!(crate::api::json::decode::<CreateChannel>(body.to_string().as_bytes()).is_err());
    let after = h.store.list::<NotificationChannel>(&w.a.scope, &Default::default()).await.unwrap().items.len();
    assert_eq!((after, audit_count(&h, &w).await), (before, audited), "nothing stored, nothing audited");
    // Operators may not create channels.
    let operator = acting(&h, &w.operator_a, "createNotificationChannel");
    assert_refused(channels::create(&operator, slack(pa, "ops", Some(SECRET))).await, ErrorCode::Forbidden, None);
}

#[actix_web::test]
async fn a_secret_is_never_shown_and_never_follows_a_channel_somewhere_new() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let pa = w.a.scope.project_id();
    let admin = |op| acting(&h, &w.admin_a, op);
    let created =
        channels::create(&admin("createNotificationChannel"), slack(pa, "team chat", Some(SECRET))).await.unwrap();
    assert!(created.has_secret);
    let shown =
        serde_json::to_string(&channels::get(&admin("getNotificationChannel"), created.id).await.unwrap()).unwrap();
    assert!(!shown.contains("XYZsecretpart"), "{shown}");
    let stored: NotificationChannel = h.store.get(&w.a.scope, &created.id).await.unwrap();
    assert!(!serde_json::to_string(&stored).unwrap().contains("XYZsecretpart"), "the record holds it sealed only");

    // A rename keeps the secret; turning it into a webhook without a new secret is refused.
    let renamed = channels::update(
        &admin("updateNotificationChannel"),
        created.id,
        UpdateChannel { name: Some("chat".into()), settings: None, secret: None, version: created.version },
    )
    .await
    .unwrap();
    assert!(renamed.has_secret);
    let moved = UpdateChannel {
        name: None,
        settings: Some(webhook("https://elsewhere.example.test/")),
        secret: None,
        version: renamed.version,
    };
    assert_refused(
        channels::update(&admin("updateNotificationChannel"), created.id, moved).await,
        ErrorCode::ValidationFailed,
        Some("secret"),
    );
    let stale = UpdateChannel { name: Some("x".into()), settings: None, secret: None, version: created.version };
    assert_refused(
        channels::update(&admin("updateNotificationChannel"), created.id, stale).await,
        ErrorCode::VersionConflict,
        None,
    );

    // A rule sends to it: it cannot be deleted until the rule is gone.
    let rule = rules::create(
        &admin("createNotificationRule"),
        CreateRule {
            project_id: pa,
            name: "on call".into(),
            enabled: true,
            events: vec![EventKind::Issued],
            channel_ids: vec![created.id],
            expiry: None,
            digest_minutes: None,
        },
    )
    .await
    .unwrap();
    assert_refused(channels::delete(&admin("deleteNotificationChannel"), created.id).await, ErrorCode::Conflict, None);
    rules::delete(&admin("deleteNotificationRule"), rule.id).await.unwrap();
    channels::delete(&admin("deleteNotificationChannel"), created.id).await.unwrap();
}

#[actix_web::test]
async fn rules_name_their_projects_channels_and_a_threshold_only_with_its_event() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let pa = w.a.scope.project_id();
    let admin = |op| acting(&h, &w.admin_a, op);
    let rule = |events: Vec<EventKind>, channels: Vec<certautopilot_core::ids::ChannelId>, expiry| CreateRule {
        project_id: pa,
        name: format!("r{}", certautopilot_core::ids::RuleId::new()),
        enabled: true,
        events,
        channel_ids: channels,
        expiry,
        digest_minutes: None,
    };
    let mine = w.a.channel.id;
    let theirs = w.b.channel.id;
    let before = h.store.list::<NotificationRule>(&w.a.scope, &Default::default()).await.unwrap().items.len();
    let cases = [
        (rule(vec![EventKind::Issued], vec![theirs], None), "channel_ids"),
        (rule(vec![EventKind::Issued], vec![mine, mine], None), "channel_ids"),
        (rule(vec![], vec![mine], None), "events"),
        (rule(vec![EventKind::Expiring], vec![mine], None), "expiry"),
        (rule(vec![EventKind::Issued], vec![mine], Some(ExpiryThreshold::Days { days: 7 })), "expiry"),
        (rule(vec![EventKind::Expiring], vec![mine], Some(ExpiryThreshold::Fraction { fraction: 0.0 })), "expiry"),
        (CreateRule { digest_minutes: Some(0), ..rule(vec![EventKind::Issued], vec![mine], None) }, "digest_minutes"),
    ];
    for (input, field) in cases {
        assert_refused(
            rules::create(&admin("createNotificationRule"), input).await,
            ErrorCode::ValidationFailed,
            Some(field),
        );
    }
    let after = h.store.list::<NotificationRule>(&w.a.scope, &Default::default()).await.unwrap().items.len();
    assert_eq!(after, before, "nothing stored");
    // Another project's admin cannot see or change this project's rule.
    let admin_b = acting(&h, &w.admin_b, "updateNotificationRule");
    let edit = UpdateRule {
        name: None,
        enabled: Some(false),
        events: None,
        channel_ids: None,
        expiry: None,
        digest_minutes: None,
        version: w.a.rule.version,
    };
    assert_refused(rules::update(&admin_b, w.a.rule.id, edit).await, ErrorCode::NotFound, None);
    // A threshold of a fifth of the lifetime, then cleared together with its event.
    let made = rules::create(
        &admin("createNotificationRule"),
        rule(vec![EventKind::Expiring], vec![mine], Some(ExpiryThreshold::Fraction { fraction: 0.2 })),
    )
    .await
    .unwrap();
    let cleared = UpdateRule {
        name: None,
        enabled: None,
        events: Some(vec![EventKind::Issued]),
        channel_ids: None,
        expiry: Some(None),
        digest_minutes: Some(Some(60)),
        version: made.version,
    };
    let updated = rules::update(&admin("updateNotificationRule"), made.id, cleared).await.unwrap();
    assert_eq!((updated.expiry, updated.digest_minutes), (None, Some(60)));
}

#[actix_web::test]
async fn a_test_the_egress_policy_refuses_says_so_and_opens_no_socket() {
    let h = Harness::new().await;
    let w = world(&h).await;
    // The harness's channel points at 127.0.0.1:9; the default policy refuses loopback before
    // any connection is made.
    let tested = channels::test(&acting(&h, &w.admin_a, "testNotificationChannel"), w.a.channel.id).await.unwrap();
    assert!(!tested.ok && !tested.transient, "{tested:?}");
    assert!(tested.error.as_deref().unwrap().contains("egress"), "{tested:?}");
}
