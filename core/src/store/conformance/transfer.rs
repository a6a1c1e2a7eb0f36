//! Conformance of `StoreTransfer` (`store copy`): a store holding rows of every part copies into an
//! empty store of any backend and reads back equal, through the transfer API and through the
//! service's own reads; a non-empty target is refused and left as it was.
//! Invariant: what one backend exports, another imports unchanged, sealed values as ciphertext.

use std::sync::Arc;

use super::job_queue::claim;
use super::*;
use crate::crypto::SecretBytes;
use crate::store::{COPY_BATCH, CopyError, StoreTransfer, TransferPart, TransferRow, copy_store};

/// The audit secret the filled store's chain is sealed with (a test value, never a real key).
pub fn chain_secret() -> Arc<SecretBytes> {
    Arc::new(SecretBytes::new(vec![7; 32]))
}

/// What `fill_every_part` made, for checks on the copy.
pub struct Filled {
    pub world: World,
    pub certificate: Certificate,
    pub jobs: Vec<JobId>,
}

/// Fills an empty store with rows of every part: the organization with its sealed keys, records of
/// every kind (sealed fields included), jobs in every state with their logs (one still leased),
/// a chained audit trail with more events waiting in the outbox, scheduler fences over two terms,
/// and a SIEM cursor.
pub async fn fill_every_part<S: Store>(f: &Fixture<S>) -> Filled {
    let w = world(f).await;
    let now = f.clock.now_ts();
    let mut org = f.store.get_organization(w.org.id).await.unwrap();
    org.jwt_signing_key = Some(sealed(1, "jwt"));
    org.audit_secret = Some(sealed(2, "audit"));
    f.store.update_organization(&org, None).await.unwrap();

    let mut set = one_of_each(&w.a, "copied", now);
    set.account.account_key = Some(sealed(1, "account"));
    set.account.eab_hmac_key = Some(sealed(2, "eab"));
    set.credential.secret = Some(sealed(2, "credential"));
    set.target.credential = Some(sealed(1, "target"));
    set.certificate.private_key = Some(sealed(2, "private-key"));
    insert_set(&f.store, &w.a, &set).await;
    insert_set(&f.store, &w.b, &one_of_each(&w.b, "other", now)).await;
    let deployment = Deployment::new(w.a.project_id(), set.certificate.id, set.target.id, now);
    f.store.insert(&w.a, &deployment).await.unwrap();
    let approval =
        ApprovalRequest::new(w.a.project_id(), set.certificate.id, ApprovalAction::Renew, w.owner.id, vec![], 24, now);
    f.store.insert(&w.a, &approval).await.unwrap();
    fill_notifications(f, &w, &set.certificate, now).await;
    let expires_at = now.saturating_add(Duration::from_secs(3_600));
    let session = Session {
        id: SessionId::new(),
        org_id: w.org.id,
        user_id: w.owner.id,
        csrf_token_sha256: "00".repeat(32),
        expires_at,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &session).await.unwrap();
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: w.org.id,
        user_id: w.owner.id,
        name: "ci".into(),
        secret_sha256: "11".repeat(32),
        expires_at: Some(expires_at),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.org_scope, &token).await.unwrap();
    // A second version of a record, so versions and update times are copied, not reset.
    let mut certificate = f.store.get::<Certificate>(&w.a, &set.certificate.id).await.unwrap();
    f.clock.advance(Duration::from_secs(5));
    certificate.common_name = "renamed.copied.example".into();
    let certificate = f.store.update(&w.a, &certificate).await.unwrap();

    f.store.fence_claim(&Fence::new(3, "node-1")).await.unwrap();
    f.store.fence_claim(&Fence::new(5, "node-2")).await.unwrap();
    let jobs = fill_jobs(f, &w).await;

    for i in 0..5 {
        f.store.append_audit(audit_write(&w, &format!("chained.{i}"))).await.unwrap();
    }
    crate::audit::ChainWriter::new(w.org.id, chain_secret()).drain(&f.store).await.unwrap();
    for i in 0..2 {
        f.store.append_audit(audit_write(&w, &format!("waiting.{i}"))).await.unwrap();
    }
    f.store.advance_siem_cursor("splunk", w.org.id, 3).await.unwrap();
    f.store.advance_audit_mark(w.org.id, 2, "{\"seq\":2}").await.unwrap();
    Filled { world: w, certificate, jobs }
}

/// Jobs in every state: queued (deduped, fenced), running under a lease with log lines, succeeded,
/// and dead.
async fn fill_jobs<S: Store>(f: &Fixture<S>, w: &World) -> Vec<JobId> {
    let queued = NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:copied").subject("cert-1");
    let mut fenced = NewJob::system(JobKind::Scan, 3);
    fenced.fence = Some(Fence::new(5, "node-2"));
    let mut ids =
        vec![f.store.enqueue_job(queued).await.unwrap().job.id, f.store.enqueue_job(fenced).await.unwrap().job.id];
    for (kind, payload) in [(JobKind::Issue, 1), (JobKind::Distribute, 2), (JobKind::Revoke, 3)] {
        let job = NewJob::for_project(&w.a, kind, 1).payload(serde_json::json!({ "n": payload, "$odd.key": [1] }));
        ids.push(f.store.enqueue_job(job).await.unwrap().job.id);
    }
    let kinds = [JobKind::Issue, JobKind::Distribute, JobKind::Revoke];
    let leased = f.store.claim_jobs(&claim("worker-1", &kinds, 3)).await.unwrap();
    assert_eq!(leased.len(), 3);
    let lease = |i: usize| leased[i].lease().expect("a claimed job has a lease");
    f.store.append_job_log(&lease(0), LogLevel::Info, "working", serde_json::json!({ "step": 1 })).await.unwrap();
    f.store.complete_job(&lease(1), "done").await.unwrap();
    let failure = JobFailure {
        error: "refused by the CA".into(),
        retryable: false,
        backoff: crate::jobs::Backoff { base: Duration::from_secs(5), max: Duration::from_secs(60) },
    };
    f.store.fail_job(&lease(2), &failure).await.unwrap();
    ids
}

/// Every row of `part`, page by page.
pub async fn export_all<S: StoreTransfer>(store: &S, part: TransferPart) -> Vec<TransferRow> {
    let scope = SystemScope::new("conformance");
    let mut rows = Vec::new();
    let mut after = None;
    loop {
        // A small page, so paging itself is exercised.
        let page = store.export_rows(&scope, part, after.take(), 3).await.unwrap();
        rows.extend(page.rows);
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

/// Every part holds the same rows in both stores (in the same key order: both backends order
/// their keys by bytes).
pub async fn assert_same_rows<A: StoreTransfer, B: StoreTransfer>(a: &A, b: &B) {
    for part in TransferPart::all() {
        let (left, right) = (export_all(a, part).await, export_all(b, part).await);
        assert!(!left.is_empty(), "{}: the filled store has rows of every part", part.name());
        assert_eq!(left, right, "{}", part.name());
    }
}

/// The copy answers the service's reads as the source does: the organization with its sealed keys,
/// records with their sealed fields and versions, jobs with their leases and logs, the chain (which
/// verifies with its secret) and the outbox, fences and the SIEM cursor.
pub async fn assert_reads_equal<A: Store, B: Store>(a: &A, b: &B, filled: &Filled) {
    let w = &filled.world;
    assert_eq!(a.get_organization(w.org.id).await.unwrap(), b.get_organization(w.org.id).await.unwrap());
    let cert = filled.certificate.id;
    let (ca, cb) = (a.get::<Certificate>(&w.a, &cert).await.unwrap(), b.get::<Certificate>(&w.a, &cert).await.unwrap());
    assert_eq!(ca, cb);
    assert_eq!(cb.version, 2, "versions are copied, not reset");
    assert!(cb.private_key.is_some(), "sealed fields come back with their record");
    let page = PageRequest::first(100);
    assert_eq!(
        a.list::<AcmeAccount>(&w.a, &page).await.unwrap().items,
        b.list::<AcmeAccount>(&w.a, &page).await.unwrap().items
    );
    assert_eq!(
        a.list::<Session>(&w.org_scope, &page).await.unwrap(),
        b.list::<Session>(&w.org_scope, &page).await.unwrap()
    );
    assert_eq!(a.kek_usage().await.unwrap(), b.kek_usage().await.unwrap());
    let system = SystemScope::new("conformance");
    for id in &filled.jobs {
        assert_eq!(a.get_job(&system, *id).await.unwrap(), b.get_job(&system, *id).await.unwrap());
        assert_eq!(a.job_logs(&system, *id).await.unwrap(), b.job_logs(&system, *id).await.unwrap());
    }
    assert_eq!(a.job_counts().await.unwrap(), b.job_counts().await.unwrap());
    assert_eq!(a.fence_history().await.unwrap(), b.fence_history().await.unwrap());
    assert!(matches!(b.fence_claim(&Fence::new(4, "node-old")).await, Err(StoreError::Fenced { newest: 5, .. })));
    assert_eq!(a.siem_cursor("splunk", w.org.id).await.unwrap(), 3);
    assert_eq!(b.siem_cursor("splunk", w.org.id).await.unwrap(), 3);
    assert_eq!(b.audit_mark(w.org.id).await.unwrap(), a.audit_mark(w.org.id).await.unwrap());
    let secret = chain_secret();
    let va = crate::audit::verify_chain(a, &w.org_scope, &secret, drop).await.unwrap();
    let vb = crate::audit::verify_chain(b, &w.org_scope, &secret, drop).await.unwrap();
    assert_eq!((va.entries, va.head), (5, vb.head));
    assert_eq!(vb.entries, 5);
    assert_eq!(pending(a, w.org.id).await, pending(b, w.org.id).await);
    assert_eq!(pending(b, w.org.id).await.len(), 2);
}

/// The outbox as `pending_audit` returns it: ids, times and actions.
async fn pending(store: &dyn Store, org: OrgId) -> Vec<(u64, Timestamp, String)> {
    let rows = store.pending_audit(org, 100).await.unwrap();
    rows.into_iter().map(|p| (p.id, p.at, p.draft.unwrap().action)).collect()
}

/// The target after a copy: setup refuses to run again, and the chain continues where the source's
/// left off (the waiting outbox rows chain as `seq` 6 and 7).
pub async fn assert_copy_carries_on<B: Store>(b: &B, filled: &Filled) {
    let w = &filled.world;
    let owner = User::new(w.org.id, "second-owner@example.com", OrgRole::Owner, Timestamp::from_unix_millis(0));
    let again = b.create_first_organization(&Organization::new("again", owner.created_at), &owner, None).await;
    assert!(matches!(again, Err(StoreError::AlreadyExists { .. })), "setup ran on a copy: {again:?}");
    crate::audit::ChainWriter::new(w.org.id, chain_secret()).drain(b).await.unwrap();
    let summary = crate::audit::verify_chain(b, &w.org_scope, &chain_secret(), drop).await.unwrap();
    assert_eq!(summary.entries, 7);
}

/// A copy into an empty store of the target's backend: every part arrives with its count, reads
/// back equal through both APIs, and a second copy into the now non-empty target is refused
/// before it writes anything.
pub async fn copies_every_part_into_an_empty_store<A, B>(a: &Fixture<A>, b: &Fixture<B>)
where
    A: Store + StoreTransfer,
    B: Store + StoreTransfer,
{
    let filled = fill_every_part(a).await;
    let mut seen = Vec::new();
    let report = copy_store(&a.store, &b.store, COPY_BATCH, |p| seen.push(p)).await.unwrap();
    assert_eq!(report.parts.len(), TransferPart::all().len());
    assert!(report.parts.iter().all(|(_, n)| *n > 0), "every part had rows: {report:?}");
    assert!(seen.iter().any(|p| p.copied == p.total && p.total > 0), "progress reaches each total");
    assert_same_rows(&a.store, &b.store).await;
    assert_reads_equal(&a.store, &b.store, &filled).await;

    let before = export_all(&b.store, TransferPart::Records(RecordKind::Certificate)).await;
    let again = copy_store(&a.store, &b.store, COPY_BATCH, drop).await;
    assert!(matches!(again, Err(CopyError::TargetNotEmpty { .. })), "{again:?}");
    assert_eq!(export_all(&b.store, TransferPart::Records(RecordKind::Certificate)).await, before);
    assert_copy_carries_on(&b.store, &filled).await;
}

/// A channel (its secret sealed), a rule sending to it, and the watch of `cert`.
async fn fill_notifications<S: Store>(f: &Fixture<S>, w: &World, cert: &Certificate, now: Timestamp) {
    use crate::ids::{ChannelId, RuleId};
    use crate::model::{
        CertificateHealth, CertificateWatch, ChannelSettings, EventKind, NotificationChannel, NotificationRule,
    };
    let channel = NotificationChannel {
        id: ChannelId::new(),
        project_id: w.a.project_id(),
        name: "on call".into(),
        settings: ChannelSettings::Slack {},
        secret: Some(sealed(1, "hook")),
        created_by: w.owner.id,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.a, &channel).await.unwrap();
    let rule = NotificationRule {
        id: RuleId::new(),
        project_id: w.a.project_id(),
        name: "failing".into(),
        enabled: true,
        events: vec![EventKind::Health(CertificateHealth::RenewalFailing)],
        channel_ids: vec![channel.id],
        expiry: None,
        digest_minutes: None,
        created_by: w.owner.id,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.a, &rule).await.unwrap();
    let watch = CertificateWatch {
        id: cert.id,
        project_id: w.a.project_id(),
        health: CertificateHealth::Ok,
        since: now,
        warned: vec![(rule.id, 1)],
        cert_version: 3,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    f.store.insert(&w.a, &watch).await.unwrap();
}
