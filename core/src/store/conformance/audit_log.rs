//! Conformance of the `AuditLog` concern: audited writes land with their change, the outbox is
//! chained gap-free by racing writers, and events are found by object and organization.
//! Invariant: per organization, `seq` has no gap and no repeat.

use super::job_queue::claim;
use super::tenancy::other_organization;
use super::*;

/// Each organization's audit chain holds its own events only: listing and searching through one
/// organization's scope never returns the other's (not even filtered by the other's project), each
/// chain is gap-free from 1 and verifies with its own secret, and fails with the other's (so
/// verification is per organization and proves whose chain it read).
pub async fn audit_chains_stay_in_their_organization<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let (other, _, other_scope, their_project) = other_organization(f).await;
    let ours = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![1; 32]));
    let theirs = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![2; 32]));
    // Interleaved, so a chain that ignored the organization would mix them.
    for i in 0..3 {
        f.store.append_audit(audit_write(&w, &format!("ours.{i}"))).await.unwrap();
        let mut write = system_audit(other.id, &format!("theirs.{i}"));
        write.draft.project_id = Some(their_project.id);
        f.store.append_audit(write).await.unwrap();
    }
    f.store.append_audit(audit_write(&w, "ours.3")).await.unwrap();
    assert_eq!(f.store.pending_audit(other.id, 100).await.unwrap().len(), 3, "the other org's outbox");
    crate::audit::ChainWriter::new(w.org.id, ours.clone()).drain(&f.store).await.unwrap();
    crate::audit::ChainWriter::new(other.id, theirs.clone()).drain(&f.store).await.unwrap();

    let actions = |events: Vec<AuditEvent>| events.into_iter().map(|e| (e.seq, e.action)).collect::<Vec<_>>();
    let listed = actions(f.store.list_audit_events(&w.org_scope, 0, 100).await.unwrap());
    let expected: Vec<(u64, String)> = (0..4).map(|i| (i + 1, format!("ours.{i}"))).collect();
    assert_eq!(listed, expected);
    let listed = actions(f.store.list_audit_events(&other_scope, 0, 100).await.unwrap());
    let expected: Vec<(u64, String)> = (0..3).map(|i| (i + 1, format!("theirs.{i}"))).collect();
    assert_eq!(listed, expected);
    let everything = crate::store::AuditFilter::default();
    assert_eq!(f.store.search_audit_events(&other_scope, &everything, 0, 100).await.unwrap().len(), 3);
    let in_our_project = crate::store::AuditFilter { project_id: Some(w.a.project_id()), ..Default::default() };
    assert!(f.store.search_audit_events(&other_scope, &in_our_project, 0, 100).await.unwrap().is_empty());
    assert_eq!(f.store.search_audit_events(&w.org_scope, &in_our_project, 0, 100).await.unwrap().len(), 4);
    let in_their_project = crate::store::AuditFilter { project_id: Some(their_project.id), ..Default::default() };
    assert!(f.store.search_audit_events(&w.org_scope, &in_their_project, 0, 100).await.unwrap().is_empty());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, 4);
    assert_eq!(f.store.audit_head(other.id).await.unwrap().unwrap().seq, 3);

    let store: &dyn Store = &f.store;
    let verify = crate::audit::verify_chain;
    assert_eq!(verify(store, &w.org_scope, &ours, drop).await.unwrap().entries, 4);
    assert_eq!(verify(store, &other_scope, &theirs, drop).await.unwrap().entries, 3);
    let crossed = verify(store, &other_scope, &ours, drop).await;
    assert!(matches!(crossed, Err(crate::audit::VerifyError::Broken(ref link)) if link.seq == 1), "{crossed:?}");
}

/// Drains `w`'s outbox with a fresh writer and returns the whole chain.
async fn chained<S: Store>(
    f: &Fixture<S>,
    w: &World,
    secret: &std::sync::Arc<crate::crypto::SecretBytes>,
) -> Vec<AuditEvent> {
    crate::audit::ChainWriter::new(w.org.id, secret.clone()).drain(&f.store).await.unwrap();
    f.store.list_audit_events(&w.org_scope, 0, 10_000).await.unwrap()
}

/// A state change and its audit event land together: a refused change (conflict, duplicate) leaves
/// nothing in the outbox, a successful one exactly one row. The writer chains the rows in commit
/// order, leaves the outbox empty, and concurrent writes form one gap-free chain that verifies.
pub async fn audited_writes_are_atomic_and_chain<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![5; 32]));
    let now = f.clock.now_ts();
    let project = Project::new(w.org.id, "audited", now);
    f.store.insert_audited(&w.org_scope, &project, audit_write(&w, "project.created")).await.unwrap();
    assert!(f.store.insert_audited(&w.org_scope, &project, audit_write(&w, "project.created")).await.is_err());
    let stale = project.clone();
    let mut renamed = project.clone();
    renamed.name = "renamed".into();
    f.store.update_audited(&w.org_scope, &renamed, audit_write(&w, "project.updated")).await.unwrap();
    assert!(matches!(
        f.store.update_audited(&w.org_scope, &stale, audit_write(&w, "project.updated")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        f.store.delete_audited::<Project>(&w.org_scope, &ProjectId::new(), None, audit_write(&w, "x")).await.is_err()
    );
    let pending = f.store.pending_audit(w.org.id, 100).await.unwrap();
    let drafts: Vec<_> = pending.iter().map(|p| p.draft.as_ref().unwrap().action.as_str()).collect();
    assert_eq!(drafts, ["project.created", "project.updated"]);
    assert!(pending[0].id < pending[1].id);
    assert_eq!(f.store.pending_audit_orgs().await.unwrap(), vec![(w.org.id, 2)]);
    assert!(f.store.list_audit_events(&w.org_scope, 0, 100).await.unwrap().is_empty(), "nothing chained yet");

    let events = chained(f, &w, &secret).await;
    assert_eq!(events.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["project.created", "project.updated"]);
    assert_eq!(events[0].at, pending[0].at, "an entry keeps the time its change committed");
    assert!(f.store.pending_audit(w.org.id, 100).await.unwrap().is_empty());
    assert!(f.store.pending_audit_orgs().await.unwrap().is_empty());

    let store = &f.store;
    let w_ref = &w;
    futures_join_all(
        (0..40).map(|i| async move { store.append_audit(audit_write(w_ref, &format!("burst.{i}"))).await.unwrap() }),
    )
    .await;
    let events = chained(f, &w, &secret).await;
    assert_eq!(events.len(), 42);
    let mut verifier = crate::audit::Verifier::new(&secret);
    for e in &events {
        verifier.check(e).unwrap();
    }
    assert_eq!(verifier.finish().entries, 42);
}

/// Two writers draining one organization's outbox (as two processes sharing a store would): the
/// one that loses a race reloads the head and goes on, so every event is chained once, in commit
/// order, on one unforked chain.
pub async fn racing_chain_writers_never_fork_or_repeat<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![6; 32]));
    let mut a = crate::audit::ChainWriter::new(w.org.id, secret.clone());
    let mut b = crate::audit::ChainWriter::new(w.org.id, secret.clone());
    f.store.append_audit(audit_write(&w, "first")).await.unwrap();
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    // `b` has never seen the head; `a` believes it knows it. Both go at the next rows together.
    for i in 0..300 {
        f.store.append_audit(audit_write(&w, &format!("n{i}"))).await.unwrap();
    }
    let (ra, rb) = {
        let (a, b, store) = (&mut a, &mut b, &f.store);
        let both = futures_join_all([
            Box::pin(async move { a.drain(store).await.unwrap() })
                as std::pin::Pin<Box<dyn std::future::Future<Output = u64> + Send>>,
            Box::pin(async move { b.drain(store).await.unwrap() }),
        ])
        .await;
        (both[0], both[1])
    };
    assert_eq!(ra + rb, 300, "each row chained by exactly one writer");
    // A writer whose remembered head went stale is refused by the store, reloads, and chains.
    f.store.append_audit(audit_write(&w, "s1")).await.unwrap();
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    f.store.append_audit(audit_write(&w, "s2")).await.unwrap();
    assert_eq!(b.drain(&f.store).await.unwrap(), 1);
    f.store.append_audit(audit_write(&w, "s3")).await.unwrap();
    let races = a.stats().races;
    assert_eq!(a.drain(&f.store).await.unwrap(), 1);
    assert_eq!(a.stats().races, races + 1);
    let events = f.store.list_audit_events(&w.org_scope, 0, 1_000).await.unwrap();
    let actions: Vec<_> = events.iter().map(|e| e.action.clone()).collect();
    let expected: Vec<_> = std::iter::once("first".to_owned())
        .chain((0..300).map(|i| format!("n{i}")))
        .chain(["s1", "s2", "s3"].map(String::from))
        .collect();
    assert_eq!(actions, expected);
    let mut verifier = crate::audit::Verifier::new(&secret);
    for e in &events {
        verifier.check(e).unwrap();
    }
    assert!(f.store.pending_audit_orgs().await.unwrap().is_empty());
    // Chaining a row that is no longer in the outbox is refused and appends nothing.
    let head = f.store.audit_head(w.org.id).await.unwrap().unwrap();
    let extra = crate::audit::seal_entry(
        &secret,
        Some(&crate::audit::ChainHead { seq: head.seq, hmac: head.hmac.clone() }),
        audit_write(&w, "ghost").draft,
        f.clock.now_ts(),
    );
    assert!(matches!(
        f.store.chain_audit(vec![extra], vec![999_999]).await,
        Err(StoreError::AuditOutboxTaken { id: 999_999 })
    ));
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, head.seq);
}

/// The store refuses audit entries that would leave a gap or repeat a sequence number.
pub async fn audit_sequence_is_gap_free<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let event = |seq: u64| AuditEvent {
        org_id: w.org.id,
        seq,
        at: f.clock.now_ts(),
        actor: Principal::System("test".into()),
        action: "cert.requested".into(),
        object: None,
        project_id: Some(w.a.project_id()),
        details: serde_json::json!({ "n": seq }),
        prev_hmac: String::new(),
        hmac: format!("h{seq}"),
    };
    let chain = |events: Vec<AuditEvent>| f.store.chain_audit(events, Vec::new());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap(), None);
    chain(vec![event(1), event(2)]).await.unwrap();
    assert!(matches!(chain(vec![event(2)]).await, Err(StoreError::AuditSequence { expected: 3, got: 2 })));
    assert!(matches!(chain(vec![event(4)]).await, Err(StoreError::AuditSequence { expected: 3, .. })));
    // All or nothing: a bad entry in a batch keeps the good ones out too.
    assert!(chain(vec![event(3), event(5)]).await.is_err());
    assert_eq!(f.store.audit_head(w.org.id).await.unwrap().unwrap().seq, 2);
    chain(vec![event(3)]).await.unwrap();
    let listed = f.store.list_audit_events(&w.org_scope, 1, 10).await.unwrap();
    assert_eq!(listed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(listed[0], event(2));
}

/// A certificate's timeline sources: audit entries found by object id (only that object's), and
/// the log lines of its jobs by subject, within its project only.
pub async fn a_certificates_story_is_found_by_object_and_subject<S: Store>(f: &Fixture<S>) {
    let w = world(f).await;
    let secret = std::sync::Arc::new(crate::crypto::SecretBytes::new(vec![7; 32]));
    let now = f.clock.now_ts();
    let cert = certificate(&w.a, "story.example", now);
    let other = certificate(&w.a, "other.example", now);
    for (c, action) in [(&cert, "cert.requested"), (&other, "cert.requested"), (&cert, "cert.issued")] {
        let mut write = audit_write(&w, action);
        write.draft.object = Some(crate::model::AuditObject { kind: "certificate".into(), id: c.id.to_string() });
        f.store.append_audit(write).await.unwrap();
    }
    chained(f, &w, &secret).await;
    let filter = crate::store::AuditFilter {
        project_id: Some(w.a.project_id()),
        object_id: Some(cert.id.to_string()),
        ..Default::default()
    };
    let found = f.store.search_audit_events(&w.org_scope, &filter, 0, 100).await.unwrap();
    assert_eq!(found.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["cert.requested", "cert.issued"]);

    let job = NewJob::for_project(&w.a, JobKind::Issue, 3).subject(cert.id.to_string());
    f.store.enqueue_job(job).await.unwrap();
    let lease = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap()[0].lease().unwrap();
    f.store.append_job_log(&lease, LogLevel::Info, "order placed", serde_json::json!({})).await.unwrap();
    let lines = f.store.subject_job_logs(&w.a, &cert.id.to_string(), 100).await.unwrap();
    let messages: Vec<&str> = lines.iter().map(|(_, _, l)| l.message.as_str()).collect();
    assert_eq!(messages, ["queued", "claimed", "order placed"]);
    assert!(lines.iter().all(|(id, kind, _)| *id == lease.job_id && *kind == JobKind::Issue));
    assert!(
        f.store.subject_job_logs(&w.b, &cert.id.to_string(), 100).await.unwrap().is_empty(),
        "another project sees nothing"
    );
    assert!(f.store.subject_job_logs(&w.a, &other.id.to_string(), 100).await.unwrap().is_empty());
}
