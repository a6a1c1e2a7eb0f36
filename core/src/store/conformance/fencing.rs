//! Conformance of the `Fencing` concern: a write under an older scheduler term changes nothing.
//! Invariant: once term N has written, no write under a term below N lands.

use super::*;

/// The fencing rule: once term N has written, a write under a term below N changes nothing (neither
/// a claim nor a job, not even a dedupe hit), while N itself and newer terms go on being accepted.
pub async fn scheduler_writes_from_an_older_term_are_refused<S: Organizations + Records + JobQueue + Fencing>(
    f: &Fixture<S>,
) {
    let w = world(f).await;
    let renew =
        |key: &str, fence: Fence| NewJob::for_project(&w.a, JobKind::Renew, 3).dedupe_key(key).fenced(Some(fence));
    f.store.fence_claim(&Fence::new(4, "node-1")).await.unwrap();
    assert!(f.store.enqueue_job(renew("renew:a", Fence::new(4, "node-1"))).await.unwrap().created);
    f.clock.advance(Duration::from_millis(10));
    f.store.fence_claim(&Fence::new(5, "node-2")).await.unwrap();

    // The paused old leader wakes up: its claim, its new job and its repeat of an old one all fail.
    for attempt in [
        f.store.fence_claim(&Fence::new(4, "node-1")).await.err(),
        f.store.enqueue_job(renew("renew:b", Fence::new(4, "node-1"))).await.err(),
        f.store.enqueue_job(renew("renew:a", Fence::new(4, "node-1"))).await.err(),
        f.store.enqueue_job(renew("renew:c", Fence::new(3, "node-3"))).await.err(),
    ] {
        assert!(matches!(attempt, Some(StoreError::Fenced { newest: 5, .. })), "{attempt:?}");
    }
    let jobs = f.store.list_project_jobs(&w.a, &PageRequest::default()).await.unwrap().items;
    assert_eq!(jobs.len(), 1, "a refused write created a job");

    assert!(f.store.enqueue_job(renew("renew:b", Fence::new(5, "node-2"))).await.unwrap().created);
    assert!(f.store.enqueue_job(renew("renew:c", Fence::new(6, "node-3"))).await.unwrap().created);
    // Unfenced writes (the API, a single node) are not the scheduler's and are never refused.
    assert!(f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3)).await.unwrap().created);

    let history = f.store.fence_history().await.unwrap();
    let summary: Vec<(u64, &str, u64)> = history.iter().map(|r| (r.term, r.node.as_str(), r.writes)).collect();
    assert_eq!(summary, vec![(4, "node-1", 2), (5, "node-2", 2), (6, "node-3", 1)]);
    assert!(history[1].first_write_at > history[0].first_write_at);
}

/// No beat before a scheduler ticked; then the newest of any node's, each node's later beat
/// replacing its earlier one.
pub async fn the_newest_scheduler_beat_is_kept_per_node<S: Fencing>(f: &Fixture<S>) {
    assert_eq!(f.store.last_scheduler_beat().await.unwrap(), None);
    let at = |ms: i64| Timestamp::from_unix_millis(1_800_000_000_000 + ms);
    let beat = |node: &str, term: Option<u64>, ms: i64| SchedulerBeat { node: node.into(), term, at: at(ms) };
    f.store.scheduler_beat(&beat("node-1", Some(3), 0)).await.unwrap();
    f.store.scheduler_beat(&beat("node-2", None, 5)).await.unwrap();
    assert_eq!(f.store.last_scheduler_beat().await.unwrap(), Some(beat("node-2", None, 5)));
    f.store.scheduler_beat(&beat("node-1", Some(4), 9)).await.unwrap();
    assert_eq!(f.store.last_scheduler_beat().await.unwrap(), Some(beat("node-1", Some(4), 9)));
}
