//! A worker on a second host (M2.3): a `serve --mode worker` process with its own host directory,
//! listening on 127.0.0.2, not in the Raft group, sharing nothing with the API node but the
//! MongoDB store (and a copy of the KEK, which is per-host configuration).

use std::time::{Duration, Instant};

use certautopilot_chaos_tests::harness::{Backend, Cluster, SECOND_HOST};
use certautopilot_chaos_tests::invariants;
use certautopilot_core::model::{JobKind, JobStatus};

use crate::{SETTLE, options, running_job_owner, wait_issued};

/// One node in `api` mode (it enqueues, it runs no job) and one worker-only node on the second
/// host: the issue jobs the API node enqueued are seen running under the worker's lease and all
/// succeed, the certificates are issued, and the invariants hold. Since the API node claims
/// nothing, every finished job is the worker's; seeing its lease on a running job shows it is the
/// worker process that claims them (not, say, a stray process on the store).
#[test]
fn worker_on_a_second_host_completes_jobs_an_api_node_enqueued() {
    let started = Instant::now();
    let mut opts = options(1, Backend::Mongodb);
    opts.cluster_mode = "api";
    opts.workers = 1;
    let c = Cluster::start(opts);
    let worker = c.node(2);
    assert_eq!(worker.api.ip(), SECOND_HOST);
    assert_eq!(worker.cluster_port, None);
    let worker_name = worker.name.clone();

    let certs = c.request_certificates(2);
    let mut owner = None;
    c.wait_until("an issue job running", Duration::from_secs(30), |c| {
        owner = running_job_owner(c);
        owner.is_some()
    });
    assert_eq!(owner.as_deref(), Some(worker_name.as_str()), "a job ran under another lease than the worker's");
    wait_issued(&c, &certs);

    let succeeded = invariants::jobs_settle(&c, SETTLE);
    let jobs = c.view().jobs().expect("jobs");
    let issued = jobs.iter().filter(|j| j.kind == JobKind::Issue && j.status == JobStatus::Succeeded).count();
    assert_eq!(issued, certs.len(), "issue jobs: {jobs:#?}");
    invariants::audit_verifies(&c);
    // Nothing shared but the store: no node keeps a store file of its own either (the Raft log is
    // the cluster member's only database).
    for id in [1, 2] {
        let files = c.data_files(id);
        eprintln!("host-{id} data: {files:?}");
        assert!(files.iter().all(|f| f.starts_with("raft.db")), "node {id} keeps more than its Raft log: {files:?}");
    }
    let (recorded, by_ca) = invariants::issued_matches_ca(&c, SETTLE);
    eprintln!(
        "second-host worker: {succeeded} jobs succeeded, {recorded} issued (CA {by_ca}) in {:?}",
        started.elapsed()
    );
}
