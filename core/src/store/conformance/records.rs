//! Conformance of the `Records` concern: scoped CRUD for every kind, unique keys, paging, the
//! certificate queries, and the transactions that span records (with their job, audit, sealed keys).
//! Invariant: a refused write leaves nothing behind.

use super::*;

/// A record and its job land together, and neither lands when one of them cannot.
pub async fn record_and_job_commit_together<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let cert = certificate(&w.a, "atomic.example", f.clock.now_ts());
    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).subject(cert.id.to_string()).dedupe_key("issue:atomic");
    let enqueued = f.store.insert_and_enqueue(&w.a, &cert, job, None).await.unwrap();
    assert!(enqueued.created);
    let _: Certificate = f.store.get(&w.a, &cert.id).await.unwrap();
    // Same certificate again: the insert fails, so the (new) job must not appear either.
    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).dedupe_key("issue:atomic-2");
    assert!(matches!(f.store.insert_and_enqueue(&w.a, &cert, job, None).await, Err(StoreError::AlreadyExists { .. })));
    assert_eq!(f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items.len(), 1);
    // A job for another project than the scope is refused.
    let foreign = NewJob::for_project(&w.b, JobKind::Issue, 3);
    let other = certificate(&w.a, "other.example", f.clock.now_ts());
    assert!(matches!(
        f.store.insert_and_enqueue(&w.a, &other, foreign, None).await,
        Err(StoreError::ScopeMismatch { .. })
    ));
}

/// A project is deleted with its memberships in one step, only when empty; its members are listed
/// by project.
pub async fn empty_projects_delete_with_their_memberships<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let members = f.store.project_members(&w.org_scope, w.a.project_id()).await.unwrap();
    assert_eq!(members.len(), 1);
    insert_set(&f.store, &w.a, &one_of_each(&w.a, "busy", now)).await;
    assert!(matches!(
        f.store.delete_empty_project(&w.org_scope, w.a.project_id(), None).await,
        Err(StoreError::NotEmpty { .. })
    ));
    assert_eq!(f.store.project_members(&w.org_scope, w.a.project_id()).await.unwrap().len(), 1, "nothing deleted");
    f.store.delete_empty_project(&w.org_scope, w.b.project_id(), None).await.unwrap();
    assert!(f.store.project_members(&w.org_scope, w.b.project_id()).await.unwrap().is_empty());
    assert_not_found(f.store.get::<Project>(&w.org_scope, &w.b.project_id()).await, "deleted project");
    assert_not_found(f.store.delete_empty_project(&w.org_scope, w.b.project_id(), None).await, "deleted twice");
}

/// The life of one record of `R`: insert, read back equal, list, update with version bump, stale
/// update and stale delete refused, delete, gone.
async fn crud_one<S: Organizations + Records, R: Record + PartialEq + std::fmt::Debug>(
    f: &Fixture<S>,
    scope: &R::Scope,
    record: R,
    change: impl Fn(&mut R),
) {
    let kind = R::KIND.name();
    f.store.insert(scope, &record).await.unwrap();
    let id = record.record_id();
    let read: R = f.store.get(scope, &id).await.unwrap();
    assert_eq!(read, record, "{kind}: read back");
    let listed = f.store.list::<R>(scope, &PageRequest::first(1_000)).await.unwrap();
    assert!(listed.items.contains(&record), "{kind}: listed");

    f.clock.advance(Duration::from_secs(1));
    let mut changed = read.clone();
    change(&mut changed);
    let updated = f.store.update(scope, &changed).await.unwrap();
    assert_eq!(updated.version(), 2, "{kind}: version bumped");
    let reread: R = f.store.get(scope, &id).await.unwrap();
    assert_eq!(reread, updated, "{kind}: update persisted");
    assert_ne!(reread, read, "{kind}: update changed the record");

    assert_conflict(f.store.update(scope, &changed).await, &format!("{kind}: stale update"));
    assert_conflict(f.store.delete::<R>(scope, &id, Some(1)).await, &format!("{kind}: stale delete"));
    f.store.delete::<R>(scope, &id, Some(2)).await.unwrap();
    assert_not_found(f.store.get::<R>(scope, &id).await, &format!("{kind}: deleted"));
    assert_not_found(f.store.delete::<R>(scope, &id, None).await, &format!("{kind}: deleted twice"));
}

/// Every scoped record kind goes through the same create/read/update/delete life.
pub async fn every_scoped_kind_crud<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let set = one_of_each(&w.a, "crud", now);
    crud_one(f, &w.a, set.account, |r| r.contact = vec!["mailto:ops@example.com".into()]).await;
    crud_one(f, &w.a, set.credential, |r| {
        r.config = Rfc2136Config { server: "127.0.0.1:53".into(), ..Default::default() }.into()
    })
    .await;
    // The zone's propagation settings round-trip through every backend (the default is stored as
    // nothing; a changed one is stored and read back whole).
    crud_one(f, &w.a, set.zone, |r| {
        r.apex = "other.example".into();
        r.propagation = crate::model::Propagation {
            strategy: crate::model::PropagationStrategy::Resolvers,
            resolvers: vec!["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()],
            timeout_seconds: Some(30),
            poll_interval_ms: Some(250),
            ..Default::default()
        };
    })
    .await;
    crud_one(f, &w.a, set.certificate, |r| r.sans.push("api.crud.example".into())).await;
    crud_one(f, &w.a, set.target, |r| {
        r.config = TargetConfig::File(FileConfig { cert_path: "/etc/ssl/c.pem".into(), ..Default::default() })
    })
    .await;
    let user = User::new(w.org.id, "new@example.com", OrgRole::Member, now);
    crud_one(f, &w.org_scope, user.clone(), |r| r.disabled = true).await;
    crud_one(f, &w.org_scope, Project::new(w.org.id, "project-c", now), |r| r.name = "project-d".into()).await;
    f.store.insert(&w.org_scope, &user).await.unwrap();
    crud_one(f, &w.org_scope, Membership::new(w.org.id, w.a.project_id(), user.id, Role::Viewer, now), |r| {
        r.role = Role::Operator
    })
    .await;
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: user.id,
        csrf_token_sha256: "00".repeat(32),
        expires_at: now.saturating_add(Duration::from_secs(3_600)),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    crud_one(f, &w.org_scope, session, |r| r.revoked = true).await;
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: w.org.id,
        user_id: user.id,
        name: "ci".into(),
        secret_sha256: "11".repeat(32),
        expires_at: None,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    crud_one(f, &w.org_scope, token, |r| r.revoked = true).await;
}

/// Names, e-mails and apexes are unique within their scope and free across scopes.
pub async fn unique_keys_are_enforced_per_scope<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    insert_set(&f.store, &w.a, &one_of_each(&w.a, "dup", now)).await;
    // The same names in another project are fine.
    insert_set(&f.store, &w.b, &one_of_each(&w.b, "dup", now)).await;
    let again = one_of_each(&w.a, "dup", now);
    for result in [
        f.store.insert(&w.a, &again.account).await,
        f.store.insert(&w.a, &again.credential).await,
        f.store.insert(&w.a, &again.zone).await,
        f.store.insert(&w.a, &again.target).await,
        f.store.insert(&w.org_scope, &User::new(w.org.id, "OWNER@example.com", OrgRole::Member, now)).await,
        f.store.insert(&w.org_scope, &Project::new(w.org.id, "project-a", now)).await,
    ] {
        assert!(matches!(result, Err(StoreError::AlreadyExists { .. })), "{result:?}");
    }
    let by_email: User = f.store.find_unique(&w.org_scope, "owner@example.com").await.unwrap();
    assert_eq!(by_email.id, w.owner.id);
}

/// Walking pages returns every record exactly once, in id order; a garbled cursor is refused.
pub async fn pagination_walks_every_record_once<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let certs: Vec<Certificate> = (0..25).map(|i| certificate(&w.a, &format!("c{i}.example"), now)).collect();
    f.store.insert_many(&w.a, &certs).await.unwrap();
    let mut seen = Vec::new();
    let mut page = PageRequest::first(10);
    let mut pages = 0;
    loop {
        let got = f.store.list::<Certificate>(&w.a, &page).await.unwrap();
        pages += 1;
        seen.extend(got.items.into_iter().map(|c| c.id));
        match got.next_cursor {
            Some(cursor) => page = PageRequest::after(10, cursor),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<CertificateId> = certs.iter().map(|c| c.id).collect();
    assert_eq!(seen, expected);
    let bad = f.store.list::<Certificate>(&w.a, &PageRequest::after(10, "not-a-cursor")).await;
    assert!(matches!(bad, Err(StoreError::InvalidCursor)), "{bad:?}");
}

/// The renewal scan sees only issued certificates whose window opens before T, across projects,
/// oldest window first, page by page.
pub async fn certificates_due_in_window_order<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let mut expected = Vec::new();
    for (i, scope) in [&w.a, &w.b, &w.a, &w.b, &w.a, &w.b].into_iter().enumerate() {
        let mut cert = certificate(scope, &format!("due{i}.example"), now);
        // Lifetimes of 90 days starting on different days: windows open on day 60 − i.
        let start = now.saturating_sub(day * i as u32);
        cert.mark_issued(format!("{i:02x}"), start, start.saturating_add(day * 90), "00".into());
        f.store.insert(scope, &cert).await.unwrap();
        expected.push((cert.renew_at.unwrap(), cert.id));
    }
    let mut not_issued = certificate(&w.a, "pending.example", now);
    not_issued.renew_at = Some(now);
    f.store.insert(&w.a, &not_issued).await.unwrap();
    expected.sort();
    let cutoff = now.saturating_add(day * 58); // windows on days 55..60 open before day 58: i = 3, 4, 5
    let wanted: Vec<CertificateId> = expected.iter().filter(|(at, _)| *at < cutoff).map(|(_, id)| *id).collect();
    assert_eq!(wanted.len(), 3);

    let system = SystemScope::new("scheduler");
    let first = f.store.certificates_due(&system, cutoff, &PageRequest::first(2)).await.unwrap();
    let second = f
        .store
        .certificates_due(&system, cutoff, &PageRequest::after(2, first.next_cursor.clone().unwrap()))
        .await
        .unwrap();
    assert_eq!(second.next_cursor, None);
    let got: Vec<CertificateId> = first.items.iter().chain(&second.items).map(|c| c.id).collect();
    assert_eq!(got, wanted);
}

/// `update_raw_many` is one transaction across kinds: a stale version in the last record leaves
/// the earlier ones and the outbox untouched; a fresh batch lands whole, bumps every version, and
/// writes its one audit entry.
pub async fn batch_updates_land_together_or_not_at_all<S: Organizations + Records + AuditLog>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let scope = crate::store::RecordScope::from(&w.org_scope);
    let mut user = User::new(w.org.id, "batch@example.com", OrgRole::Member, now);
    f.store.insert(&w.org_scope, &user).await.unwrap();
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: user.id,
        csrf_token_sha256: "00".into(),
        expires_at: now,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &session).await.unwrap();
    user.disabled = true;
    let mut revoked = session.clone();
    revoked.revoked = true;
    let mut stale = revoked.clone();
    stale.version = 7;
    let batch = |s: &Session| vec![user.to_raw(&scope).unwrap(), s.to_raw(&scope).unwrap()];
    let refused = f.store.update_raw_many(&scope, batch(&stale), Some(audit_write(&w, "user.disabled"))).await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert!(!f.store.get::<User>(&w.org_scope, &user.id).await.unwrap().disabled, "first update kept");
    assert!(f.store.pending_audit(w.org.id, 10).await.unwrap().is_empty(), "audit kept");

    let stored =
        f.store.update_raw_many(&scope, batch(&revoked), Some(audit_write(&w, "user.disabled"))).await.unwrap();
    assert_eq!(stored.iter().map(|r| r.version).collect::<Vec<_>>(), [2, 2]);
    assert!(f.store.get::<User>(&w.org_scope, &user.id).await.unwrap().disabled);
    assert!(f.store.get::<Session>(&w.org_scope, &session.id).await.unwrap().revoked);
    assert_eq!(f.store.pending_audit(w.org.id, 10).await.unwrap().len(), 1);
}

/// Expiries of certificates holding one, soonest first, across projects; the rest, and revoked
/// certificates (soonest to expire here, so a leak would show first), are left out.
pub async fn certificate_expiries_soonest_first<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let mut ids = Vec::new();
    for (i, (scope, days)) in [(&w.a, 30u32), (&w.b, 10), (&w.a, 20)].into_iter().enumerate() {
        let mut cert = certificate(scope, &format!("exp{i}.example"), now);
        cert.mark_issued(format!("{i:02x}"), now, now.saturating_add(day * days), "00".into());
        f.store.insert(scope, &cert).await.unwrap();
        ids.push((days, cert.id));
    }
    f.store.insert(&w.a, &certificate(&w.a, "never.example", now)).await.unwrap();
    // A revoked certificate is not live: it leaves the expiry metric.
    let mut revoked = certificate(&w.a, "revoked.example", now);
    revoked.mark_issued("ff".into(), now, now.saturating_add(day), "00".into());
    revoked.status = crate::model::CertificateStatus::Revoked;
    f.store.insert(&w.a, &revoked).await.unwrap();
    ids.sort();
    let expiries = f.store.certificate_expiries(&SystemScope::new("metrics"), 10).await.unwrap();
    assert_eq!(expiries.iter().map(|e| e.id).collect::<Vec<_>>(), ids.iter().map(|(_, id)| *id).collect::<Vec<_>>());
    assert_eq!(expiries[0].common_name, "exp1.example");
    assert_eq!(f.store.certificate_expiries(&SystemScope::new("metrics"), 2).await.unwrap().len(), 2);
}

/// A paused certificate has no renewal window in the store's index, whatever its `renew_at`, and
/// gets it back when resumed: the scheduler's only source of due certificates never names it.
pub async fn paused_certificates_are_never_due<S: Organizations + Records>(f: &Fixture<S>) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let day = Duration::from_secs(86_400);
    let start = now.saturating_sub(day * 80);
    let mut paused = certificate(&w.a, "paused.example", now);
    paused.mark_issued("01".into(), start, start.saturating_add(day * 90), "00".into());
    paused.paused = true;
    f.store.insert(&w.a, &paused).await.unwrap();
    let mut running = certificate(&w.a, "running.example", now);
    running.mark_issued("02".into(), start, start.saturating_add(day * 90), "00".into());
    f.store.insert(&w.a, &running).await.unwrap();
    assert_eq!(due_ids(f, now).await, vec![running.id], "the paused certificate is left out");
    let mut resumed: Certificate = f.store.get(&w.a, &paused.id).await.unwrap();
    resumed.paused = false;
    f.store.update(&w.a, &resumed).await.unwrap();
    let mut both = due_ids(f, now).await;
    both.sort();
    let mut expected = vec![running.id, paused.id];
    expected.sort();
    assert_eq!(both, expected, "resumed, it is due again");
}

async fn due_ids<S: Organizations + Records>(f: &Fixture<S>, now: Timestamp) -> Vec<CertificateId> {
    let page = f.store.certificates_due(&SystemScope::new("scheduler"), now, &PageRequest::first(10)).await.unwrap();
    page.items.into_iter().map(|c| c.id).collect()
}

async fn sealed_rows_of<S: Organizations + Records + SealedSecrets>(f: &Fixture<S>, record_id: &str) -> usize {
    let rows = f.store.sealed_older_than(u32::MAX, 10_000).await.unwrap();
    rows.into_iter().filter(|r| r.key.record_id == record_id).count()
}

/// Deleting a certificate takes its deployment records and sealed keys with it, in one
/// transaction with its audit event; a stale version deletes nothing, and other certificates'
/// deployments stay.
pub async fn a_deleted_certificate_takes_its_deployments_and_keys<
    S: Organizations + Records + AuditLog + SealedSecrets,
>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut cert = certificate(&w.a, "gone.example", now);
    cert.private_key = Some(sealed(1, "gone-key"));
    f.store.insert(&w.a, &cert).await.unwrap();
    let other = certificate(&w.a, "kept.example", now);
    f.store.insert(&w.a, &other).await.unwrap();
    let target = DistributionTarget::new(w.a.project_id(), "t", TargetKind::File, now);
    f.store.insert(&w.a, &target).await.unwrap();
    let deployed = Deployment::new(w.a.project_id(), cert.id, target.id, now);
    f.store.insert(&w.a, &deployed).await.unwrap();
    let kept = Deployment::new(w.a.project_id(), other.id, target.id, now);
    f.store.insert(&w.a, &kept).await.unwrap();
    let audit = |action: &str| crate::store::AuditWrite {
        draft: crate::audit::AuditDraft {
            org_id: w.org.id,
            actor: Principal::System("test".into()),
            action: action.into(),
            object: Some(AuditObject { kind: "certificate".into(), id: cert.id.to_string() }),
            project_id: Some(w.a.project_id()),
            details: serde_json::json!({}),
        },
    };
    assert_eq!(sealed_rows_of(f, &cert.id.to_string()).await, 1);

    let stale = f.store.delete_certificate(&w.a, cert.id, cert.version + 1, audit("cert.deleted")).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert!(f.store.get::<Certificate>(&w.a, &cert.id).await.is_ok(), "a stale version deletes nothing");
    assert!(f.store.get::<Deployment>(&w.a, &deployed.id).await.is_ok());
    let other_project = f.store.delete_certificate(&w.b, cert.id, cert.version, audit("cert.deleted")).await;
    assert_not_found(other_project, "another project's certificate");

    f.store.delete_certificate(&w.a, cert.id, cert.version, audit("cert.deleted")).await.unwrap();
    assert_not_found(f.store.get::<Certificate>(&w.a, &cert.id).await, "the deleted certificate");
    assert_not_found(f.store.get::<Deployment>(&w.a, &deployed.id).await, "its deployment");
    assert_eq!(sealed_rows_of(f, &cert.id.to_string()).await, 0, "its sealed key is gone");
    assert!(f.store.get::<Deployment>(&w.a, &kept.id).await.is_ok(), "another certificate's deployment stays");
    let pending = f.store.pending_audit(w.org.id, 100).await.unwrap();
    let deleted = pending.iter().filter(|p| p.draft.as_ref().is_ok_and(|d| d.action == "cert.deleted")).count();
    assert_eq!(deleted, 1, "one event, for the delete that landed");
}
