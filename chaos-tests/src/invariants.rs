//! What must hold after every fault, read from the shared store, the audit chain and Pebble's log:
//! one scheduler per term, fencing obeyed, every due renewal enqueued once and finished, no job lost
//! or stuck, the audit chain intact, and as many certificates issued by the CA as recorded.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::Cluster;

/// What the checks saw, for the test's own assertions and its output.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub terms: usize,
    pub scheduler_renewals: u64,
    pub jobs_succeeded: u64,
    pub issued_recorded: u64,
    pub issued_by_ca: u64,
}

fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Never two nodes accepted in one term, and no write of a term accepted after a newer term's
/// first write.
pub fn one_scheduler_per_term(cluster: &Cluster) -> usize {
    let rows = cluster.fence_terms();
    let mut by_term: BTreeMap<u64, Vec<&crate::harness::FenceRow>> = BTreeMap::new();
    for row in &rows {
        by_term.entry(row.term).or_default().push(row);
    }
    for (term, writers) in &by_term {
        assert_eq!(writers.len(), 1, "two schedulers had writes accepted in term {term}: {writers:?}");
    }
    for row in &rows {
        if let Some(newer) = rows.iter().filter(|r| r.term > row.term).map(|r| r.first_write_at).min() {
            assert!(
                row.last_write_at <= newer,
                "term {} wrote at {} after a newer term first wrote at {newer}: fencing failed ({rows:?})",
                row.term,
                row.last_write_at
            );
        }
    }
    by_term.len()
}

/// Every renewal window the scheduler saw produced exactly one job, and every certificate whose
/// window has been open longer than `slack` has its job.
pub fn renewals_enqueued_once(cluster: &Cluster, slack: Duration) -> u64 {
    let windows = renewal_windows(cluster);
    let conn = cluster.store();
    let overdue: Vec<(String, i64)> = conn
        .prepare("SELECT id, due_at FROM certificates WHERE due_at IS NOT NULL AND due_at < ?1")
        .unwrap()
        .query_map([now_millis() - slack.as_millis() as i64], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (cert, due_at) in overdue {
        let queued: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'renew' AND subject = ?1 AND queued_at >= ?2",
                rusqlite::params![cert, due_at],
                |r| r.get(0),
            )
            .unwrap();
        assert!(queued > 0, "certificate {cert} came due at {due_at} and no renewal was enqueued within {slack:?}");
    }
    windows
}

/// How many renewal windows the scheduler has enqueued a job for, each exactly once (asserted: a
/// second job for one window is never right, even mid-fault). Safe to poll while the cluster
/// recovers: unlike `renewals_enqueued_once`, a window left open by downtime is no failure here.
pub fn renewal_windows(cluster: &Cluster) -> u64 {
    let conn = cluster.store();
    let mut stmt = conn
        .prepare(
            "SELECT subject, json_extract(payload, '$.not_after'), COUNT(*) FROM jobs
             WHERE kind = 'renew' AND json_extract(payload, '$.reason') = 'renewal window open'
             GROUP BY 1, 2",
        )
        .unwrap();
    let groups: Vec<(String, Option<i64>, i64)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap();
    for (cert, not_after, count) in &groups {
        assert_eq!(*count, 1, "certificate {cert}'s renewal for not_after {not_after:?} was enqueued {count} times");
    }
    groups.len() as u64
}

/// Waits until no job is queued or running, then checks none failed for good.
pub fn jobs_settle(cluster: &Cluster, deadline: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let counts = job_counts(cluster);
        let open = counts.get("queued").copied().unwrap_or(0)
            + counts.get("running").copied().unwrap_or(0)
            + counts.get("failed").copied().unwrap_or(0);
        if open == 0 {
            assert_eq!(counts.get("dead"), None, "jobs died: {counts:?}\n{}", dead_jobs(cluster));
            return counts.get("succeeded").copied().unwrap_or(0);
        }
        assert!(
            start.elapsed() < deadline,
            "jobs still open after {deadline:?}: {counts:?}\n{}",
            cluster.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn job_counts(cluster: &Cluster) -> BTreeMap<String, u64> {
    let conn = cluster.store();
    let mut stmt = conn.prepare("SELECT status, COUNT(*) FROM jobs GROUP BY status").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))).unwrap().collect::<Result<_, _>>().unwrap()
}

fn dead_jobs(cluster: &Cluster) -> String {
    let conn = cluster.store();
    let mut stmt = conn.prepare("SELECT id, kind, last_error FROM jobs WHERE status = 'dead'").unwrap();
    let rows: Vec<(String, String, Option<String>)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap();
    format!("{rows:#?}")
}

/// `certautopilot audit verify` over the shared store exits 0.
pub fn audit_verifies(cluster: &Cluster) {
    let id = cluster.nodes[0].id;
    let out = cluster.run(Some(id), &["audit", "verify"]);
    assert!(
        out.status.success(),
        "audit verify failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The CA issued exactly as many certificates as the system recorded (none twice, none lost).
/// Recorded means committed: chained, or in the outbox waiting for an AuditActor. Renewals go on
/// while this runs (30 s certificates), and the CA logs an issuance before the node records it, so
/// the two must come to agree within `deadline`, not at one instant.
pub fn issued_matches_ca(cluster: &Cluster, deadline: Duration) -> (u64, u64) {
    let start = Instant::now();
    loop {
        let recorded = cluster
            .store()
            .query_row(
                "SELECT (SELECT COUNT(*) FROM audit_events WHERE action IN ('cert.issued', 'cert.renewed'))
                      + (SELECT COUNT(*) FROM audit_outbox
                         WHERE json_extract(draft, '$.action') IN ('cert.issued', 'cert.renewed'))",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as u64;
        let by_ca = cluster.env.pebble.certificates_issued() as u64;
        if by_ca == recorded {
            return (recorded, by_ca);
        }
        assert!(
            start.elapsed() < deadline,
            "Pebble issued {by_ca} certificates, the system recorded {recorded} after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every check, after the jobs have settled.
pub fn check_all(cluster: &Cluster, settle: Duration) -> Report {
    let jobs_succeeded = jobs_settle(cluster, settle);
    let terms = one_scheduler_per_term(cluster);
    let scheduler_renewals = renewals_enqueued_once(cluster, Duration::from_secs(10));
    audit_verifies(cluster);
    let (issued_recorded, issued_by_ca) = issued_matches_ca(cluster, settle);
    Report { terms, scheduler_renewals, jobs_succeeded, issued_recorded, issued_by_ca }
}
