//! Raft-level faults (M1.7), on either store: SIGKILL, SIGSTOP and isolation of the leader, a worker
//! killed mid-job, full restarts and a minority partition. The store is only a bystander here; the
//! point of running them on MongoDB too is that fencing and the invariants hold when the fence and
//! the jobs live in a store every node reaches over TCP instead of one file.

use std::time::{Duration, Instant};

use certautopilot_chaos_tests::harness::{Backend, Cluster};
use certautopilot_chaos_tests::invariants;

use crate::{
    FAILOVER, SETTLE, healed_nodes_follow, node_running_a_job, options, status_of, wait_issued, wait_renewals,
};

/// Three nodes on SQLite (one host, one store file): see `three_nodes_through_raft_faults`.
#[test]
fn three_nodes_keep_one_scheduler_through_kills_pauses_partitions_and_restarts_on_sqlite() {
    three_nodes_through_raft_faults(Backend::Sqlite);
}

/// Three nodes on MongoDB, each on a host of its own: the same faults, with the store reached over
/// TCP and no file shared: see `three_nodes_through_raft_faults`.
#[test]
fn three_nodes_keep_one_scheduler_through_kills_pauses_partitions_and_restarts_on_mongodb() {
    three_nodes_through_raft_faults(Backend::Mongodb);
}

/// Five nodes on MongoDB: see `five_nodes_through_partition_and_leader_kills`.
#[test]
fn five_nodes_survive_a_minority_partition_with_the_leader_and_leader_kills_on_mongodb() {
    five_nodes_through_partition_and_leader_kills(Backend::Mongodb);
}

/// Three nodes: SIGKILL of the leader, SIGSTOP past the election timeout, a partition isolating the
/// leader, a worker killed mid-job and a full restart; one scheduler per term throughout, and every
/// job finished, the audit chain whole and Pebble's count equal to the recorded one at the end.
fn three_nodes_through_raft_faults(backend: Backend) {
    let started = Instant::now();
    let mut c = Cluster::start(options(3, backend));
    let certs = c.request_certificates(3);
    wait_issued(&c, &certs);
    let (leader, term) = c.wait_for_scheduler(0, FAILOVER);

    // 1. SIGKILL of the leader.
    c.kill(leader);
    let (next, next_term) = c.wait_for_scheduler(term, FAILOVER);
    assert_ne!(next, leader);
    c.restart(leader);
    invariants::one_scheduler_per_term(&c);

    // 2. SIGSTOP of the leader beyond the election timeout, then SIGCONT: it wakes up in the past,
    //    and must step down without its writes being accepted.
    c.pause(next);
    let (third, third_term) = c.wait_for_scheduler(next_term, FAILOVER);
    c.resume(next);
    c.wait_until("the paused leader steps down", FAILOVER, |c| {
        let s = status_of(c, next);
        s["scheduler_active"] == false && s["term"].as_u64() >= Some(third_term)
    });
    invariants::one_scheduler_per_term(&c);

    // 3. A partition that isolates the leader: the majority elects another, the isolated one stops
    //    scheduling on its own, and rejoins as a follower once the network heals.
    c.network.isolate(&[third]);
    let (fourth, fourth_term) = c.wait_for_scheduler(third_term, FAILOVER);
    assert_ne!(fourth, third);
    c.wait_until("the isolated leader stops scheduling", FAILOVER, |c| {
        status_of(c, third)["scheduler_active"] == false
    });
    c.network.heal();
    c.wait_until("the isolated node follows again", FAILOVER, |c| healed_nodes_follow(c, &[third]));
    invariants::one_scheduler_per_term(&c);
    assert!(c.network.refused() > 0, "the partition refused no connection");

    // 4. A worker killed mid-job: renew everything by hand and kill whichever node runs a job.
    let client = c.client(fourth);
    for id in &certs {
        let (status, body) = client.call("POST", &format!("/api/v1/certificates/{id}/renew"), None);
        assert!(status == 202 || status == 409, "renew {id}: {status} {body}");
    }
    let mut victim = None;
    c.wait_until("a job running", Duration::from_secs(30), |c| {
        victim = node_running_a_job(c);
        victim.is_some()
    });
    let victim = victim.unwrap();
    c.kill(victim);
    c.restart(victim);
    invariants::jobs_settle(&c, SETTLE);

    // 5. A full cluster restart.
    let last_term = c.fence_terms().last().map_or(fourth_term, |f| f.term);
    for id in 1..=3 {
        c.kill(id);
    }
    for id in 1..=3 {
        c.launch(id);
    }
    for id in 1..=3 {
        c.wait_ready(id);
    }
    // The node that led may come back leading in its own committed term (openraft restores a
    // committed vote of its own): the same (term, node) is not a second scheduler.
    c.wait_for_scheduler(last_term - 1, FAILOVER);

    // Renewals keep coming due (30 s certificates): each must be enqueued once and finish.
    wait_renewals(&c, &certs, 1);
    let report = invariants::check_all(&c, SETTLE);
    assert!(report.terms >= 4, "{report:?}");
    eprintln!("3-node chaos on {backend:?}: {report:?} in {:?}", started.elapsed());
}

/// Five nodes: the leader and a follower cut off from the other three, then two leaders killed in a
/// row; the majority keeps scheduling, the minority stops, and the invariants hold at the end.
fn five_nodes_through_partition_and_leader_kills(backend: Backend) {
    let started = Instant::now();
    let mut c = Cluster::start(options(5, backend));
    let certs = c.request_certificates(2);
    wait_issued(&c, &certs);
    let (leader, term) = c.wait_for_scheduler(0, FAILOVER);

    // The leader and one follower are cut off from the other three.
    let follower = (1..=5).find(|id| *id != leader).unwrap();
    c.network.isolate(&[leader, follower]);
    let (next, _) = c.wait_for_scheduler(term, FAILOVER);
    assert!(next != leader && next != follower);
    c.wait_until("the cut-off leader stops scheduling", FAILOVER, |c| {
        status_of(c, leader)["scheduler_active"] == false
    });
    c.network.heal();
    c.wait_until("the minority follows again", FAILOVER, |c| healed_nodes_follow(c, &[leader, follower]));
    invariants::one_scheduler_per_term(&c);

    // Two leaders killed in a row: with two of five gone the other three still elect. The healing
    // may have moved leadership on, so the first to go is whoever leads now.
    let (next, next_term) = c.wait_for_scheduler(term, FAILOVER);
    c.kill(next);
    let (third, third_term) = c.wait_for_scheduler(next_term, FAILOVER);
    c.kill(third);
    c.wait_for_scheduler(third_term, FAILOVER);
    c.restart(next);
    c.restart(third);

    wait_renewals(&c, &certs, 1);
    let report = invariants::check_all(&c, SETTLE);
    assert!(report.terms >= 3, "{report:?}");
    eprintln!("5-node chaos on {backend:?}: {report:?} in {:?}", started.elapsed());
}
