//! The router against a real store: certificates put into each health state are announced once
//! per change and queue exactly one `notify` job per (rule, channel, event), however often it
//! looks again; a crossed threshold is announced once per rule; another project's rules hear
//! nothing; a rule added later takes effect from its own audit entry on.

use std::sync::Arc;

use certautopilot_core::audit::{AuditDraft, ChainWriter};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{AcmeAccountId, ChannelId, RuleId, TargetId};
use certautopilot_core::jobs::{JobSpec, NotifyDelivery};
use certautopilot_core::model::{
    Certificate, CertificateStatus, ChannelSettings, Deployment, EventKind, ExpiryThreshold, Job, JobKind, KeyType,
    NotificationChannel, NotificationRule, Project,
};
use certautopilot_core::scope::Principal;
use certautopilot_core::store::{AuditWrite, PageRequest, RecordStore};
use certautopilot_core::{OrgScope, ProjectScope, Timestamp};

use super::NotifySettings;
use super::route::Router;
use crate::issuance::test_fixture::{Fixture, fixture};

const HOUR: i64 = 3_600_000;

fn at(hours: i64) -> Timestamp {
    Timestamp::from_unix_millis(Timestamp::now().as_unix_millis() + hours * HOUR)
}

/// A certificate of `project` issued 100 h ago, living 200 h, renewing at `renew_in` hours from now.
fn cert(project: &Project, name: &str, status: CertificateStatus, renew_in: i64) -> Certificate {
    let mut c =
        Certificate::new(project.id, name, vec![name.into()], KeyType::EcdsaP256, AcmeAccountId::new(), at(-100));
    c.status = status;
    c.not_before = Some(at(-100));
    c.not_after = Some(at(100));
    c.renew_at = Some(at(renew_in));
    c
}

async fn channel(f: &Fixture, scope: &ProjectScope) -> ChannelId {
    let channel = NotificationChannel {
        id: ChannelId::new(),
        project_id: scope.project_id(),
        name: format!("hook-{}", ChannelId::new()),
        settings: ChannelSettings::Webhook { url: "https://hooks.example.test/".into(), trusted_roots_pem: None },
        secret: None,
        created_by: certautopilot_core::ids::UserId::new(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
        version: 1,
    };
    f.store.insert(scope, &channel).await.unwrap();
    channel.id
}

/// A rule, written with its audit entry like the service writes it.
async fn rule(
    f: &Fixture,
    scope: &ProjectScope,
    events: Vec<EventKind>,
    channel: ChannelId,
    expiry: Option<ExpiryThreshold>,
) -> RuleId {
    let rule = NotificationRule {
        id: RuleId::new(),
        project_id: scope.project_id(),
        name: format!("rule-{}", RuleId::new()),
        enabled: true,
        events,
        channel_ids: vec![channel],
        expiry,
        digest_minutes: None,
        created_by: certautopilot_core::ids::UserId::new(),
        // The fixture's store stamps its entries with its own clock: the rule is older than all.
        created_at: Timestamp::from_unix_millis(0),
        updated_at: Timestamp::now(),
        version: 1,
    };
    let audit = AuditWrite {
        draft: AuditDraft {
            org_id: scope.org_id(),
            actor: Principal::System("test".into()),
            action: "notification_rule.created".into(),
            object: Some(certautopilot_core::model::AuditObject {
                kind: "notification_rule".into(),
                id: rule.id.to_string(),
            }),
            project_id: Some(scope.project_id()),
            details: rule.fields(),
        },
    };
    f.store.insert_audited(scope, &rule, audit).await.unwrap();
    rule.id
}

/// Chains the outbox (the AuditActor's work), then one routing round and one sweep, twice: what
/// a change brings about is all there afterwards.
async fn settle(f: &Fixture, router: &mut Router, writer: &mut ChainWriter) {
    for _ in 0..4 {
        writer.drain(f.store.as_ref()).await.unwrap();
        let round = router.round(false).await;
        assert_eq!(round.failure, None);
        writer.drain(f.store.as_ref()).await.unwrap();
        let swept = router.round(true).await;
        assert_eq!(swept.failure, None);
    }
    writer.drain(f.store.as_ref()).await.unwrap();
    let last = router.round(false).await;
    assert_eq!(last.failure, None);
}

/// (rule, event name) of every notify job queued in the project.
async fn queued(f: &Fixture, scope: &ProjectScope) -> Vec<(RuleId, String)> {
    let org = f.store.list_organizations().await.unwrap().remove(0);
    let org_scope = OrgScope::for_system("test", &org);
    let jobs: Vec<Job> = f.store.list_project_jobs(scope, &PageRequest::first(1_000)).await.unwrap().items;
    let mut out = Vec::new();
    for job in jobs.iter().filter(|j| j.kind == JobKind::Notify) {
        let JobSpec::Notify { rule_id, delivery: NotifyDelivery::Event { seq }, .. } = JobSpec::decode(job).unwrap()
        else {
            panic!("an event job: {job:?}");
        };
        let entry = f.store.list_audit_events(&org_scope, seq - 1, 1).await.unwrap().remove(0);
        out.push((rule_id, EventKind::of_entry(&entry).unwrap().name()));
    }
    out.sort();
    out
}

#[actix_rt::test]
async fn each_health_state_is_told_once_per_rule_and_never_again() {
    let f = fixture().await;
    let scope = f.scope.clone();
    let org = f.store.list_organizations().await.unwrap().remove(0);
    let mut writer = ChainWriter::new(org.id, Arc::new(SecretBytes::new(vec![7; 32])));
    let hook = channel(&f, &scope).await;
    let health: Vec<EventKind> =
        certautopilot_core::model::CertificateHealth::ALL.into_iter().map(EventKind::Health).collect();
    let everything = rule(&f, &scope, health, hook, None).await;
    let overdue_only =
        rule(&f, &scope, vec![EventKind::Health(certautopilot_core::model::CertificateHealth::Overdue)], hook, None)
            .await;
    // A second project listens for everything too, and has nothing of its own.
    let other_project = Project::new(org.id, "elsewhere", Timestamp::now());
    f.store.insert(&OrgScope::for_system("test", &org), &other_project).await.unwrap();
    let other = ProjectScope::for_system("test", &other_project);
    let other_hook = channel(&f, &other).await;
    let all: Vec<EventKind> = EventKind::all();
    let mut other_rule = all.clone();
    other_rule.retain(|e| *e != EventKind::Expiring);
    rule(&f, &other, other_rule, other_hook, None).await;

    // One certificate in each state the facts give (a drifted one through its deployment).
    use CertificateStatus::*;
    let mut failing = cert(&f.project, "failing.example.test", Failed, 50);
    failing.last_error = Some("ACME CA unreachable: connection refused".into());
    // A 160-hour window with 10 hours left: past the point a third of it is left.
    let mut overdue = cert(&f.project, "overdue.example.test", Issued, -150);
    overdue.not_after = Some(at(10));
    overdue.last_error = Some("ACME CA unreachable: connection refused".into());
    let mut expired = cert(&f.project, "expired.example.test", Issued, -150);
    expired.not_after = Some(at(-1));
    let certs = vec![
        cert(&f.project, "ok.example.test", Issued, 50),
        cert(&f.project, "due.example.test", Issued, -1),
        failing,
        overdue,
        expired,
        cert(&f.project, "revoked.example.test", Revoked, 50),
        cert(&f.project, "pending.example.test", Requested, 50),
        cert(&f.project, "drifted.example.test", Issued, 50),
    ];
    for c in &certs {
        f.store.insert(&scope, c).await.unwrap();
    }
    let mut deployment = Deployment::new(scope.project_id(), certs[7].id, TargetId::new(), Timestamp::now());
    deployment.drift = Some("another certificate is served".into());
    f.store.insert(&scope, &deployment).await.unwrap();

    let mut router = Router::new(f.deps.clone(), NotifySettings::default(), None);
    settle(&f, &mut router, &mut writer).await;
    // First seen: only trouble is told (failing, overdue, expired, revoked, drifted); the
    // overdue-only rule hears the overdue one.
    let told = queued(&f, &scope).await;
    let mut expected: Vec<(RuleId, String)> = ["renewal_failing", "overdue", "expired", "revoked", "drifted"]
        .iter()
        .map(|h| (everything, format!("health.{h}")))
        .chain([(overdue_only, "health.overdue".to_owned())])
        .collect();
    expected.sort();
    assert_eq!(told, expected);
    assert!(queued(&f, &other).await.is_empty(), "another project hears nothing of this one");

    // Changes: the ok one starts failing, the due one is renewed (ok again): each told once.
    let mut now_failing: Certificate = f.store.get(&scope, &certs[0].id).await.unwrap();
    now_failing.status = Failed;
    now_failing.last_error = Some("the CA refused".into());
    f.store.update(&scope, &now_failing).await.unwrap();
    let mut renewed: Certificate = f.store.get(&scope, &certs[1].id).await.unwrap();
    (renewed.renew_at, renewed.not_after) = (Some(at(150)), Some(at(300)));
    f.store.update(&scope, &renewed).await.unwrap();
    settle(&f, &mut router, &mut writer).await;
    settle(&f, &mut router, &mut writer).await;
    let told = queued(&f, &scope).await;
    let count = |event: &str| told.iter().filter(|(r, e)| *r == everything && e == event).count();
    assert_eq!(count("health.renewal_failing"), 2, "{told:?}");
    assert_eq!(count("health.ok"), 1, "{told:?}");
    assert_eq!(told.len(), expected.len() + 2, "nothing else, nothing twice: {told:?}");

    // A threshold rule added now: the live certificates within a fifth of their life are told once.
    let expiring =
        rule(&f, &scope, vec![EventKind::Expiring], hook, Some(ExpiryThreshold::Fraction { fraction: 0.2 })).await;
    let mut soon = cert(&f.project, "soon.example.test", Issued, 500);
    (soon.not_before, soon.not_after) = (Some(at(-90)), Some(at(10)));
    f.store.insert(&scope, &soon).await.unwrap();
    settle(&f, &mut router, &mut writer).await;
    settle(&f, &mut router, &mut writer).await;
    let told = queued(&f, &scope).await;
    let warned: Vec<_> = told.iter().filter(|(r, _)| *r == expiring).collect();
    // The new certificate (10 h of 100 left) and the overdue one (10 h of 110): within a fifth.
    assert_eq!(warned.len(), 2, "the certificates within a fifth of their life, once each: {told:?}");

    // A new router (a restart, a failover) reads on from the stored cursor and watches.
    let mut again = Router::new(f.deps.clone(), NotifySettings::default(), None);
    settle(&f, &mut again, &mut writer).await;
    assert_eq!(queued(&f, &scope).await, told, "a restart tells nothing again");
}
