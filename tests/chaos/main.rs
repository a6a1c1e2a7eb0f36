//! The chaos scenarios: 3 and 5 real nodes issuing and renewing through Pebble and BIND 9 while
//! the test kills, pauses, partitions and restarts them, on SQLite (one host, one store file) and
//! on MongoDB (each node in a host directory of its own, sharing nothing but the store server and
//! the cluster CA), where the store server itself is killed and a leader's link to it is cut. After
//! every fault a new scheduler must be active within the deadline and the invariants must hold; at
//! the end every job has finished, the audit chain verifies, Pebble issued exactly what the system
//! recorded, and nothing written before a store fault is missing after it.
//!
//! They live in this package (not in `certautopilot-chaos-tests`, which holds the harness) so that
//! cargo builds the binary under test for them and names it: the nodes run exactly
//! `CARGO_BIN_EXE_certautopilot`, never whatever an earlier build left in `target/`.

mod raft_faults;
mod second_host;
mod store_faults;

use std::time::Duration;

use certautopilot_chaos_tests::harness::{Backend, Cluster, Options};
use certautopilot_chaos_tests::invariants;
use certautopilot_core::model::JobStatus;
use serde_json::Value;

/// A new scheduler must be active this soon after a fault (the benchmark measures the real figure).
const FAILOVER: Duration = Duration::from_secs(15);
const SETTLE: Duration = Duration::from_secs(120);

fn options(nodes: u64, backend: Backend) -> Options {
    let mut options = Options::new(env!("CARGO_BIN_EXE_certautopilot").into(), nodes, backend, Duration::from_secs(30));
    // Long enough challenges that a kill lands mid-job.
    options.env = vec![("FAILPOINTS".into(), "issue.after_challenges=sleep(1000)".into())];
    options
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

/// The owner (`node.id`) of a running job's lease, if any job is running.
fn running_job_owner(c: &Cluster) -> Option<String> {
    let jobs = c.view().jobs().ok()?;
    jobs.into_iter().find(|j| j.status == JobStatus::Running).and_then(|j| j.lease_owner)
}

/// The cluster node holding a running job's lease, if any (its `node.id` is `node-<n>`).
fn node_running_a_job(c: &Cluster) -> Option<u64> {
    running_job_owner(c)?.strip_prefix("node-")?.parse().ok()
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
