//! The chaos scenarios: 3 and 5 real nodes issuing and renewing through Pebble and BIND 9 while
//! the test kills, pauses, partitions and restarts them. After every fault a new scheduler must be
//! active within the deadline and the invariants must hold; at the end every job has finished, the
//! audit chain verifies and Pebble issued exactly what the system recorded.
//!
//! They live in this package (not in `certautopilot-chaos-tests`, which holds the harness) so that
//! cargo builds the binary under test for them and names it: the nodes run exactly
//! `CARGO_BIN_EXE_certautopilot`, never whatever an earlier build left in `target/`.

use std::time::{Duration, Instant};

use certautopilot_chaos_tests::harness::{Cluster, Options};
use certautopilot_chaos_tests::invariants;
use serde_json::Value;

/// A new scheduler must be active this soon after a fault (the benchmark measures the real figure).
const FAILOVER: Duration = Duration::from_secs(15);
const SETTLE: Duration = Duration::from_secs(120);

fn options(nodes: u64) -> Options {
    Options {
        binary: env!("CARGO_BIN_EXE_certautopilot").into(),
        nodes,
        validity: Duration::from_secs(30),
        // Long enough challenges that a kill lands mid-job.
        env: vec![("FAILPOINTS".into(), "issue.after_challenges=sleep(1000)".into())],
    }
}

fn wait_issued(c: &Cluster, certs: &[String]) {
    for id in certs {
        c.any_client().wait_for(&format!("/api/v1/certificates/{id}"), SETTLE, "certificate issued", |cert| {
            cert["status"] == "issued"
        });
    }
}

/// Waits until the scheduler has renewed every certificate at least `rounds` times.
fn wait_renewals(c: &Cluster, certs: &[String], rounds: u64) {
    c.wait_until("renewals by the scheduler", SETTLE, |c| {
        invariants::renewal_windows(c) >= certs.len() as u64 * rounds
    });
}

/// The node holding a running job's lease, if any (its `node.id` is `node-<n>`).
fn node_running_a_job(c: &Cluster) -> Option<u64> {
    c.store()
        .query_row("SELECT lease_owner FROM jobs WHERE status = 'running' LIMIT 1", [], |r| r.get::<_, String>(0))
        .ok()
        .and_then(|owner| owner.strip_prefix("node-")?.parse().ok())
}

fn status_of(c: &Cluster, id: u64) -> Value {
    c.status(id).unwrap_or(Value::Null)
}

/// Whether every node of `healed` follows a leader from outside it that names itself leader. Not
/// "the leader elected during the partition": a node rejoining with a higher term may start
/// another election, and then the majority's new leader is the one to follow.
fn healed_nodes_follow(c: &Cluster, healed: &[u64]) -> bool {
    healed.iter().all(|id| {
        status_of(c, *id)["leader"]
            .as_u64()
            .is_some_and(|l| !healed.contains(&l) && status_of(c, l)["leader"].as_u64() == Some(l))
    })
}

/// Three nodes: SIGKILL of the leader, SIGSTOP past the election timeout, a partition isolating the
/// leader, a worker killed mid-job and a full restart; one scheduler per term throughout, and every
/// job finished, the audit chain whole and Pebble's count equal to the recorded one at the end.
#[test]
fn three_nodes_keep_one_scheduler_through_kills_pauses_partitions_and_restarts() {
    let started = Instant::now();
    let mut c = Cluster::start(options(3));
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
    let last_term = c.fence_terms().last().map(|f| f.term).unwrap_or(fourth_term);
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
    eprintln!("3-node chaos: {report:?} in {:?}", started.elapsed());
}

/// Five nodes: the leader and a follower cut off from the other three, then two leaders killed in a
/// row; the majority keeps scheduling, the minority stops, and the invariants hold at the end.
#[test]
fn five_nodes_survive_a_minority_partition_with_the_leader_and_leader_kills() {
    let started = Instant::now();
    let mut c = Cluster::start(options(5));
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
    eprintln!("5-node chaos: {report:?} in {:?}", started.elapsed());
}
