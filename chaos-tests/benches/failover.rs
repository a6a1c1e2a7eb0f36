//! Failover benchmark (M1.7): SIGKILL the leader of a 3-node cluster again and again and time the
//! gap from the kill to the first write the store accepted from the new scheduler. Then idle
//! overhead: CPU per node and bytes per second on the cluster port. On SQLite (the default) or,
//! with `CHAOS_STORE=mongodb`, on MongoDB (a SecantusDB server of the bench's own; each node on a
//! host directory of its own).
//!
//! `cargo build --release && CERTAUTOPILOT_BIN=target/release/certautopilot [CHAOS_STORE=mongodb] \
//!  cargo bench -p certautopilot-chaos-tests --bench failover [-- KILLS]`

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use certautopilot_chaos_tests::harness::{Backend, Cluster, Options};

fn main() {
    let kills: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(50);
    // A benchmark measures a build the caller names (a release build, typically): no guessing.
    let binary = std::env::var_os("CERTAUTOPILOT_BIN")
        .expect("CERTAUTOPILOT_BIN names the certautopilot binary to measure (see the comment at the top)");
    let backend = Backend::from_env();
    let mut c = Cluster::start(Options::new(binary.into(), 3, backend, Duration::from_secs(3600)));
    let (mut leader, mut term) = c.wait_for_scheduler(0, Duration::from_secs(30));
    let mut gaps = Vec::with_capacity(kills);
    for i in 0..kills {
        let killed_at = now_millis();
        c.kill(leader);
        let (next, next_term) = c.wait_for_scheduler(term, Duration::from_secs(30));
        let first_write =
            c.fence_terms().into_iter().find(|f| f.term == next_term).expect("claimed").first_write_at.as_unix_millis();
        gaps.push(Duration::from_millis((first_write - killed_at).max(0) as u64));
        c.restart(leader);
        // The restarted node must be caught up before the next kill, or the cluster is down to two.
        c.wait_until("the restarted node follows", Duration::from_secs(30), |c| {
            c.status(leader).is_some_and(|s| s["leader"].as_u64() == Some(next))
        });
        (leader, term) = (next, next_term);
        eprint!("\rkill {}/{kills}: {:?}        ", i + 1, gaps.last().unwrap());
    }
    eprintln!();
    gaps.sort();
    let pct = |p: f64| gaps[((gaps.len() as f64 * p).ceil() as usize).clamp(1, gaps.len()) - 1];
    println!(
        "failover on {backend:?} over {kills} SIGKILLs of the leader (kill -> first accepted write of the new scheduler): p50 {:?}  p99 {:?}  max {:?}",
        pct(0.50),
        pct(0.99),
        gaps.last().unwrap()
    );

    // Idle overhead: 20 s with nothing to schedule.
    let window = Duration::from_secs(20);
    let before: Vec<(u64, u64, u64)> =
        c.running().into_iter().map(|id| (id, cpu_ticks(&c, id), port_bytes(&c, id))).collect();
    let start = Instant::now();
    std::thread::sleep(window);
    let secs = start.elapsed().as_secs_f64();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    for (id, cpu, bytes) in before {
        let cpu_pct = (cpu_ticks(&c, id) - cpu) as f64 / hz / secs * 100.0;
        let rate = (port_bytes(&c, id) - bytes) as f64 / secs;
        println!("idle node {id}: CPU {cpu_pct:.2}% of one core, cluster port {rate:.0} bytes/s (in + out)");
    }
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// utime + stime of the node's process, in clock ticks.
fn cpu_ticks(c: &Cluster, id: u64) -> u64 {
    let pid = c.node(id).pid().expect("running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn port_bytes(c: &Cluster, id: u64) -> u64 {
    let s = c.status(id).expect("status");
    s["transport"]["bytes_in"].as_u64().unwrap() + s["transport"]["bytes_out"].as_u64().unwrap()
}
