//! Conformance of the `StoreHealth` concern: the consistency check and the writability signal.
//! Invariant: a store whose writes succeed reports itself writable, and its probe writes no data.

use super::*;

/// A fresh store passes its own consistency check, reports itself writable with no refused
/// writes, its probe succeeds, and the probe changes no data (the job counts stay as they were).
pub async fn a_fresh_store_is_consistent_and_writable<S: Organizations + Records + JobQueue + StoreHealth>(
    f: &Fixture<S>,
) {
    f.store.integrity_check().await.unwrap();
    let health = f.store.write_health();
    assert!(health.writable, "{health:?}");
    assert_eq!((health.full_failures, health.read_only_failures), (0, 0));
    let w = world(f).await;
    f.store.enqueue_job(NewJob::for_project(&w.a, JobKind::Issue, 3)).await.unwrap();
    let before = f.store.job_counts().await.unwrap();
    f.store.probe_writable().await.unwrap();
    assert!(f.store.write_health().writable);
    assert_eq!(f.store.job_counts().await.unwrap(), before, "the probe writes no data");
    assert_eq!(f.store.list_organizations().await.unwrap().len(), 1);
}
