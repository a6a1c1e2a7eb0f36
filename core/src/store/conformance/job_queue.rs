//! Conformance of the `JobQueue` concern: dedupe, leases, heartbeats, retries with backoff, and
//! concurrent claimers. Invariant: a job runs under at most one lease at a time.

use super::*;

pub(super) fn claim(node: &str, kinds: &[JobKind], limit: usize) -> ClaimRequest {
    claim_as(node, "first-start", kinds, limit)
}

/// A claim by one start (`incarnation`) of `node`.
fn claim_as(node: &str, incarnation: &str, kinds: &[JobKind], limit: usize) -> ClaimRequest {
    ClaimRequest {
        node_id: node.into(),
        incarnation: incarnation.into(),
        kinds: kinds.to_vec(),
        limit,
        lease: Duration::from_secs(30),
    }
}

fn backoff() -> crate::jobs::Backoff {
    crate::jobs::Backoff { base: Duration::from_secs(5), max: Duration::from_secs(3_600) }
}

/// A second enqueue with the same dedupe key returns the first job and creates nothing.
pub async fn enqueue_dedupes_by_key<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let first =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2026")).await.unwrap();
    let second =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2026")).await.unwrap();
    assert!(first.created && !second.created);
    assert_eq!(first.job.id, second.job.id);
    let other =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key("renew:c1:2027")).await.unwrap();
    assert!(other.created);
    assert_eq!(f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items.len(), 2);
}

/// Claiming leases a job to one node; completing it records timings and a structured log.
pub async fn claim_leases_and_completion_is_logged<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let queued = f
        .store
        .enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).payload(serde_json::json!({"n": 1})))
        .await
        .unwrap()
        .job;
    assert_eq!((queued.status, queued.attempts), (JobStatus::Queued, 0));
    f.clock.advance(Duration::from_millis(250));
    let claimed = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 5)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let job = &claimed[0];
    let lease = job.lease().unwrap();
    assert_eq!((job.status, job.attempts, lease.node_id.as_str()), (JobStatus::Running, 1, "node-a"));
    assert_eq!(lease.expires_at, f.clock.now_ts().saturating_add(Duration::from_secs(30)));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 5)).await.unwrap().is_empty());
    f.store.append_job_log(&lease, LogLevel::Info, "order created", serde_json::json!({"order": "o1"})).await.unwrap();
    f.clock.advance(Duration::from_secs(2));
    let done = f.store.complete_job(&lease, "issued").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.payload, serde_json::json!({"n": 1}));
    assert_eq!(done.finished_at.unwrap().duration_since(done.started_at.unwrap()), Duration::from_secs(2));
    assert_eq!(done.started_at.unwrap().duration_since(done.queued_at), Duration::from_millis(250));
    let system = SystemScope::new("test");
    let logs = f.store.job_logs(&system, done.id).await.unwrap();
    let messages: Vec<&str> = logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(messages, ["queued", "claimed", "order created", "issued"]);
    assert_eq!(logs[2].fields, serde_json::json!({"order": "o1"}));
    assert!(matches!(f.store.complete_job(&lease, "again").await, Err(StoreError::LeaseLost { .. })));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 5)).await.unwrap().is_empty());
}

/// Workers only get the kinds they ask for, and delayed jobs only once due.
pub async fn claim_respects_kinds_and_run_at<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Scan, 3)).await.unwrap();
    let later =
        f.store.enqueue_job(NewJob::system(JobKind::RotateKek, 3).delay(Duration::from_secs(60))).await.unwrap().job;
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 5)).await.unwrap().is_empty());
    assert!(f.store.claim_jobs(&claim("n", &[], 5)).await.unwrap().is_empty());
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::RotateKek], 5)).await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(60));
    let got = f.store.claim_jobs(&claim("n", &[JobKind::RotateKek, JobKind::Issue], 5)).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![later.id]);
    assert_eq!(f.store.claim_jobs(&claim("n", &[JobKind::Scan], 5)).await.unwrap().len(), 1);
}

/// A lease nobody renews expires; another node takes the job as a new attempt, and the first node's
/// heartbeat, completion and failure are refused from then on.
pub async fn expired_lease_is_reclaimed_and_old_holder_fenced<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let id = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap().job.id;
    let first = f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap().remove(0).lease().unwrap();
    f.clock.advance(Duration::from_secs(29));
    assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    f.clock.advance(Duration::from_secs(1));
    let second = f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!((second[0].id, second[0].attempts), (id, 2));
    let failure = JobFailure { error: "x".into(), retryable: true, backoff: backoff() };
    assert!(matches!(f.store.heartbeat_job(&first, Duration::from_secs(30)).await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.complete_job(&first, "done").await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.fail_job(&first, &failure).await, Err(StoreError::LeaseLost { .. })));
    let done = f.store.complete_job(&second[0].lease().unwrap(), "done").await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    let logs = f.store.job_logs(&SystemScope::new("t"), id).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "lease of node node-a expired"), "{logs:?}");
}

/// Heartbeats push the lease forward, so a live worker keeps its job past the first lease.
pub async fn heartbeat_keeps_the_lease<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap();
    let mut lease =
        f.store.claim_jobs(&claim("node-a", &[JobKind::Issue], 1)).await.unwrap().remove(0).lease().unwrap();
    for _ in 0..4 {
        f.clock.advance(Duration::from_secs(20));
        lease = f.store.heartbeat_job(&lease, Duration::from_secs(30)).await.unwrap();
        assert!(f.store.claim_jobs(&claim("node-b", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    }
    assert_eq!(lease.expires_at, f.clock.now_ts().saturating_add(Duration::from_secs(30)));
    f.store.complete_job(&lease, "done").await.unwrap();
}

/// Each failure schedules a retry further out than the last, within the jitter bounds; the last
/// allowed attempt's failure makes the job dead and unclaimable.
pub async fn backoff_grows_then_job_is_dead<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let id = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 5)).await.unwrap().job.id;
    let failure = JobFailure { error: "ca unavailable".into(), retryable: true, backoff: backoff() };
    let mut previous = Duration::ZERO;
    for attempt in 1..=5u32 {
        let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
        assert_eq!(job.attempts, attempt);
        let failed = f.store.fail_job(&job.lease().unwrap(), &failure).await.unwrap();
        assert_eq!(failed.last_error.as_deref(), Some("ca unavailable"));
        if attempt == 5 {
            assert_eq!(failed.status, JobStatus::Dead);
            assert!(failed.finished_at.is_some());
            break;
        }
        assert_eq!(failed.status, JobStatus::Failed);
        let delay = failed.run_at.duration_since(f.clock.now_ts());
        let ceiling = backoff().ceiling(attempt);
        assert!(
            delay >= ceiling / 2 && delay <= ceiling,
            "attempt {attempt}: {delay:?} outside [{:?}, {ceiling:?}]",
            ceiling / 2
        );
        assert!(delay >= previous, "attempt {attempt}: {delay:?} < {previous:?}");
        previous = delay;
        // Not claimable before its retry time, claimable at it.
        f.clock.advance(delay - Duration::from_millis(1));
        assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().is_empty());
        f.clock.advance(Duration::from_millis(1));
    }
    f.clock.advance(Duration::from_secs(86_400));
    assert!(f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().is_empty());
    assert_eq!(f.store.get_job(&SystemScope::new("t"), id).await.unwrap().status, JobStatus::Dead);
}

/// A failure that no retry can fix ends the job at once, whatever attempts remain.
pub async fn permanent_failure_is_dead_at_once<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 8)).await.unwrap();
    let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    let failure = JobFailure { error: "rejected identifier".into(), retryable: false, backoff: backoff() };
    let dead = f.store.fail_job(&job.lease().unwrap(), &failure).await.unwrap();
    assert_eq!((dead.status, dead.attempts), (JobStatus::Dead, 1));
}

/// Two jobs on one certificate never run together: the second waits until the first finishes.
pub async fn one_running_job_per_subject<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let first = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject("cert-1")).await.unwrap().job;
    let second =
        f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Distribute, 3).subject("cert-1")).await.unwrap().job;
    let other = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject("cert-2")).await.unwrap().job;
    let got = f.store.claim_jobs(&claim("n", &JobKind::ALL, 10)).await.unwrap();
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![first.id, other.id]);
    assert!(f.store.claim_jobs(&claim("m", &JobKind::ALL, 10)).await.unwrap().is_empty());
    f.store.complete_job(&got[0].lease().unwrap(), "done").await.unwrap();
    let next = f.store.claim_jobs(&claim("m", &JobKind::ALL, 10)).await.unwrap();
    assert_eq!(next.iter().map(|j| j.id).collect::<Vec<_>>(), vec![second.id]);
}

/// Releasing (graceful shutdown) puts the job back at once without spending an attempt, and the
/// released lease stays dead even when the same node claims the job again with the same attempt
/// number: the lease sequence, not the attempt count, is the fencing token.
pub async fn release_gives_the_attempt_back<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 1)).await.unwrap();
    let job = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    let released = f.store.release_job(&job.lease().unwrap(), "node shutting down").await.unwrap();
    assert_eq!((released.status, released.attempts, released.lease_owner.clone()), (JobStatus::Queued, 0, None));
    let again = f.store.claim_jobs(&claim("n", &[JobKind::Issue], 1)).await.unwrap().remove(0);
    assert_eq!((again.attempts, again.lease_owner.as_deref()), (1, Some("n")));
    assert!(again.lease_seq > job.lease_seq);
    let stale = job.lease().unwrap();
    assert!(matches!(f.store.release_job(&stale, "late").await, Err(StoreError::LeaseLost { .. })));
    assert!(matches!(f.store.complete_job(&stale, "late").await, Err(StoreError::LeaseLost { .. })));
    f.store.complete_job(&again.lease().unwrap(), "done").await.unwrap();
}

/// Project job listings show only that project's jobs, never system jobs.
pub async fn project_jobs_are_scoped<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let mine = f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3)).await.unwrap().job;
    f.store.enqueue_job(NewJob::for_project(&w.b, JobKind::Issue, 3)).await.unwrap();
    f.store.enqueue_job(NewJob::system(JobKind::RotateKek, 3)).await.unwrap();
    let listed = f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap();
    assert_eq!(listed.items.iter().map(|j| j.id).collect::<Vec<_>>(), vec![mine.id]);
    assert_eq!(f.store.get_project_job(&w.a, mine.id).await.unwrap().project_id, Some(w.a.project_id()));
}

/// Many tasks claiming at once from one store: every job is claimed exactly once.
pub async fn concurrent_claimers_never_share_a_job<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    for i in 0..200 {
        f.store
            .enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3).subject(format!("c{}", i % 150)))
            .await
            .unwrap();
    }
    let store = &f.store;
    let claimers = (0..8).map(|n| async move {
        let mut mine = Vec::new();
        loop {
            let got = store.claim_jobs(&claim(&format!("node-{n}"), &[JobKind::Issue], 3)).await.unwrap();
            if got.is_empty() {
                return mine;
            }
            for job in got {
                mine.push(job.id);
                store.complete_job(&job.lease().unwrap(), "done").await.unwrap();
            }
        }
    });
    let all: Vec<JobId> = futures_join_all(claimers).await.into_iter().flatten().collect();
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 200);
    assert_eq!(unique.len(), 200);
}

/// Many tasks enqueueing the same dedupe key at once make exactly one job.
pub async fn concurrent_enqueue_with_one_key_makes_one_job<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let store = &f.store;
    let scope = &w.a;
    let results = futures_join_all((0..50).map(|_| async move {
        store.enqueue_job(NewJob::for_project(scope, JobKind::Renew, 3).dedupe_key("renew:x")).await.unwrap()
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.created).count(), 1);
    assert!(results.iter().all(|r| r.job.id == results[0].job.id));
}

/// A restarted node ends the leases its former start still holds, at once and not after they
/// expire (the clock never moves here): each attempt counts as an expired lease's would (claimable
/// again, or dead when it was the last), the log says why, and the old lease is refused. Leases of
/// the node's current start and of other nodes are left alone, and a second call ends nothing.
pub async fn restarted_node_reclaims_its_former_leases<S: Organizations + Records + JobQueue>(f: &Fixture<S>) {
    let w = world(f).await;
    let enqueue = |kind, max_attempts| f.store.enqueue_job(NewJob::for_project(&w.a, kind, max_attempts));
    let retried = enqueue(JobKind::Issue, 3).await.unwrap().job.id;
    let last_try = enqueue(JobKind::Renew, 1).await.unwrap().job.id;
    let other_node = enqueue(JobKind::Distribute, 3).await.unwrap().job.id;
    let current = enqueue(JobKind::Scan, 3).await.unwrap().job.id;
    let old = f.store.claim_jobs(&claim_as("node-a", "start-1", &[JobKind::Issue, JobKind::Renew], 2)).await.unwrap();
    assert_eq!(old.len(), 2);
    f.store.claim_jobs(&claim_as("node-b", "start-1", &[JobKind::Distribute], 1)).await.unwrap();
    f.store.claim_jobs(&claim_as("node-a", "start-2", &[JobKind::Scan], 1)).await.unwrap();

    assert_eq!(f.store.reclaim_own_leases("node-a", "start-2").await.unwrap(), 2);
    let system = SystemScope::new("test");
    let status = |id| async move { f.store.get_job(&SystemScope::new("test"), id).await.unwrap() };
    assert_eq!(status(last_try).await.status, JobStatus::Dead);
    assert_eq!(status(other_node).await.lease_owner.as_deref(), Some("node-b"));
    assert_eq!(status(current).await.status, JobStatus::Running);
    let again = f.store.claim_jobs(&claim_as("node-a", "start-2", &[JobKind::Issue], 1)).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (retried, 2));
    let stale = old.iter().find(|j| j.id == retried).unwrap().lease().unwrap();
    assert!(matches!(f.store.complete_job(&stale, "late").await, Err(StoreError::LeaseLost { .. })));
    let logs = f.store.job_logs(&system, retried).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "lease of node node-a ended: the node restarted"), "{logs:?}");
    assert_eq!(f.store.reclaim_own_leases("node-a", "start-2").await.unwrap(), 0);
}
