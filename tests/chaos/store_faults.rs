//! Faults of the store itself, on MongoDB (M2.3): the store server SIGKILLed for 10 s and restarted
//! with its data, once mid-issuance and once mid-renewal, and the leader's link to the store cut by
//! its proxy while it leads (the rest of the cluster keeps its links). Afterwards every job and
//! audit entry written before each fault is still there, and the usual invariants hold.

use std::time::{Duration, Instant};

use certautopilot_chaos_tests::harness::{Backend, Cluster};
use certautopilot_chaos_tests::invariants;
use certautopilot_core::model::JobStatus;

use crate::{FAILOVER, SETTLE, options, running_job_owner, wait_issued, wait_renewals};

/// How long the store stays down: longer than the job lease (4 s) and the driver's server
/// selection timeout's share of it, so leases lapse and writes fail rather than wait it out.
const STORE_DOWN: Duration = Duration::from_secs(10);

/// Holds the store down for `STORE_DOWN`, checking throughout that no node exits over it (a node
/// that cannot reach its store must wait, not die), then restarts it with its data.
fn store_outage(c: &mut Cluster) {
    c.kill_store();
    eprintln!("store server killed at {}", certautopilot_core::Timestamp::now());
    let start = Instant::now();
    while start.elapsed() < STORE_DOWN {
        let exited = c.exited_nodes();
        assert!(exited.is_empty(), "nodes {exited:?} exited while the store was down\n{}", c.diagnostics());
        std::thread::sleep(Duration::from_millis(250));
    }
    c.restart_store();
}

/// Asks node `via` to renew one of `certs` now (one not already being renewed); returns the job's id.
/// Certificates with no running job are asked first: a job the cut leader was recording when its
/// link went may stay held by that unfinished transaction until the server expires it (60 s on
/// mongod), and its certificate's next job waits for it, by the one-job-per-certificate rule.
fn renew_through(c: &Cluster, via: u64, certs: &[String]) -> String {
    let client = c.client(via);
    let running: Vec<String> = c
        .view()
        .jobs()
        .map(|jobs| jobs.into_iter().filter(|j| j.status == JobStatus::Running).filter_map(|j| j.subject).collect())
        .unwrap_or_default();
    let mut certs: Vec<&String> = certs.iter().collect();
    certs.sort_by_key(|cert| running.contains(cert));
    for cert in certs {
        let (status, body) = client.call("POST", &format!("/api/v1/certificates/{cert}/renew"), None);
        if status == 202 {
            return body["job"]["id"].as_str().expect("the queued job's id").to_owned();
        }
        assert_eq!(status, 409, "renew {cert} through node {via}: {body}");
    }
    panic!("every certificate is being renewed already");
}

/// Three nodes on MongoDB, two store crashes and a cut link: the store server is SIGKILLed for 10 s
/// while issue jobs run (a failpoint holds each after its challenges) and again once renewals are
/// coming due (30 s certificates), then restarted on its data; later the leading node's own proxy
/// to the store is cut for 10 s while the others keep theirs, and a renewal asked of another node
/// must complete meanwhile. After each fault nothing written before it is gone; at the end one
/// scheduler per term, every renewal enqueued once, no job lost, `audit verify` passes and Pebble's
/// count equals ours.
#[test]
fn mongodb_store_killed_and_leader_cut_from_store_lose_nothing() {
    let started = Instant::now();
    let mut c = Cluster::start(options(3, Backend::Mongodb));
    let certs = c.request_certificates(3);

    // 1. The store server killed mid-issuance.
    c.wait_until("an issue job running", Duration::from_secs(30), |c| running_job_owner(c).is_some());
    let before = invariants::written(&c);
    store_outage(&mut c);
    wait_issued(&c, &certs);
    invariants::nothing_lost_since(&c, &before);
    invariants::one_scheduler_per_term(&c);

    // 2. The store server killed while renewals are due and running.
    wait_renewals(&c, &certs, 1);
    c.wait_until("a renewal running", SETTLE, |c| running_job_owner(c).is_some());
    let before = invariants::written(&c);
    store_outage(&mut c);
    wait_renewals(&c, &certs, 2);
    invariants::nothing_lost_since(&c, &before);
    invariants::one_scheduler_per_term(&c);

    // 3. The leader's link to the store cut while it leads: its scheduler can write nothing, the
    //    other nodes' workers go on (a renewal asked of a follower completes), and once the link is
    //    back scheduling resumes with fencing intact.
    let (leader, _) = c.wait_for_scheduler(0, FAILOVER);
    let before = invariants::written(&c);
    c.store_links().cut(leader);
    eprintln!("node {leader}'s link to the store cut at {}", certautopilot_core::Timestamp::now());
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let cut_at = Instant::now();
    let job = renew_through(&c, follower, &certs);
    eprintln!("renewal job {job} asked of node {follower} at {}", certautopilot_core::Timestamp::now());
    c.wait_until("the renewal asked of a follower completes while the leader is cut off", SETTLE, |c| {
        c.view().jobs().is_ok_and(|jobs| jobs.iter().any(|j| j.id.to_string() == job && j.status.is_terminal()))
    });
    // Keep the cut for a renewal scan or more (one a second), so the leader's scheduler meets it.
    while cut_at.elapsed() < STORE_DOWN {
        assert!(c.exited_nodes().is_empty(), "a node exited while the leader was cut off\n{}", c.diagnostics());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(c.store_links().refused(leader) > 0, "the cut leader never tried to reach the store");
    c.store_links().restore(leader);
    wait_renewals(&c, &certs, 3);
    invariants::nothing_lost_since(&c, &before);

    let report = invariants::check_all(&c, SETTLE);
    eprintln!("MongoDB store faults: {report:?} in {:?}", started.elapsed());
}
