//! What must hold after every fault, read from the store (through the store traits, so SQLite and
//! MongoDB alike: `store_view.rs`), the audit chain and Pebble's log: one scheduler per term,
//! fencing obeyed, every due renewal enqueued once and finished, no job lost or stuck, the audit
//! chain intact, as many certificates issued by the CA as recorded, and nothing written before a
//! fault missing after it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use certautopilot_core::Timestamp;
use certautopilot_core::model::{FenceRecord, JobKind, JobStatus};

use crate::harness::Cluster;
use crate::store_view::AuditSnapshot;

/// What the checks saw, for the test's own assertions and its output.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub terms: usize,
    pub scheduler_renewals: u64,
    pub jobs_succeeded: u64,
    pub issued_recorded: u64,
    pub issued_by_ca: u64,
}

/// Never two nodes accepted in one term, and no write of a term accepted after a newer term's
/// first write.
pub fn one_scheduler_per_term(cluster: &Cluster) -> usize {
    let rows = cluster.fence_terms();
    let mut by_term: BTreeMap<u64, Vec<&FenceRecord>> = BTreeMap::new();
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
                "term {} wrote at {} after a newer term first wrote at {}: fencing failed ({rows:?})",
                row.term,
                row.last_write_at.as_unix_millis(),
                newer.as_unix_millis()
            );
        }
    }
    by_term.len()
}

/// Every renewal window the scheduler saw produced exactly one job, and every certificate whose
/// window has been open longer than `slack` has its job.
pub fn renewals_enqueued_once(cluster: &Cluster, slack: Duration) -> u64 {
    let windows = renewal_windows(cluster);
    let view = cluster.view();
    let overdue = view.certificates_due(Timestamp::now().saturating_sub(slack)).expect("certificates due");
    let jobs = view.jobs().expect("jobs");
    for cert in overdue {
        let (id, due_at) = (cert.id.to_string(), cert.renew_at.expect("a due certificate has its window"));
        let queued = jobs
            .iter()
            .any(|j| j.kind == JobKind::Renew && j.subject.as_deref() == Some(id.as_str()) && j.queued_at >= due_at);
        assert!(queued, "certificate {id} came due at {due_at:?} and no renewal was enqueued within {slack:?}");
    }
    windows
}

/// How many renewal windows the scheduler has enqueued a job for, each exactly once (asserted: a
/// second job for one window is never right, even mid-fault). Safe to poll while the cluster
/// recovers: unlike `renewals_enqueued_once`, a window left open by downtime is no failure here.
pub fn renewal_windows(cluster: &Cluster) -> u64 {
    let jobs = cluster.view().jobs().expect("jobs");
    let mut groups: BTreeMap<(String, String), u64> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.kind == JobKind::Renew && j.payload["reason"] == "renewal window open") {
        let key = (job.subject.clone().unwrap_or_default(), job.payload["not_after"].to_string());
        *groups.entry(key).or_default() += 1;
    }
    for ((cert, not_after), count) in &groups {
        assert_eq!(*count, 1, "certificate {cert}'s renewal for not_after {not_after} was enqueued {count} times");
    }
    groups.len() as u64
}

/// Waits until no job is queued or running, then checks none failed for good.
pub fn jobs_settle(cluster: &Cluster, deadline: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let counts = job_counts(cluster);
        let open = [JobStatus::Queued, JobStatus::Running, JobStatus::Failed]
            .iter()
            .map(|s| counts.get(s).copied().unwrap_or(0))
            .sum::<u64>();
        if open == 0 {
            assert_eq!(counts.get(&JobStatus::Dead), None, "jobs died: {counts:?}\n{}", dead_jobs(cluster));
            return counts.get(&JobStatus::Succeeded).copied().unwrap_or(0);
        }
        assert!(
            start.elapsed() < deadline,
            "jobs still open after {deadline:?}: {counts:?}\n{}",
            cluster.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn job_counts(cluster: &Cluster) -> BTreeMap<JobStatus, u64> {
    cluster.view().job_counts().expect("job counts")
}

fn dead_jobs(cluster: &Cluster) -> String {
    let jobs = cluster.view().jobs().expect("jobs");
    let dead: Vec<_> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Dead)
        .map(|j| (j.id.to_string(), j.kind, j.last_error.clone()))
        .collect();
    format!("{dead:#?}")
}

/// What the store holds at one moment, to compare with what it holds after a fault.
#[derive(Debug, Clone)]
pub struct Written {
    /// Job id -> what it was (kind, status), for the message if it goes missing.
    pub jobs: BTreeMap<String, String>,
    pub audit: AuditSnapshot,
}

/// Every job (by id) and every chained audit entry (by organization and seq, with its MAC).
pub fn written(cluster: &Cluster) -> Written {
    let view = cluster.view();
    let jobs = view.jobs().expect("jobs");
    let jobs = jobs
        .into_iter()
        .map(|j| (j.id.to_string(), format!("{:?} {:?} queued at {}", j.kind, j.status, j.queued_at)))
        .collect();
    Written { jobs, audit: view.audit_snapshot().expect("audit chain") }
}

/// Everything in `before` is still there, unchanged (a chained entry keeps its MAC): a fault may
/// delay writes, never take back one that was acknowledged.
pub fn nothing_lost_since(cluster: &Cluster, before: &Written) {
    let now = written(cluster);
    let lost_jobs: Vec<_> = before.jobs.iter().filter(|(id, _)| !now.jobs.contains_key(*id)).collect();
    assert!(lost_jobs.is_empty(), "jobs written before the fault are gone: {lost_jobs:?}");
    for (key, hmac) in &before.audit {
        assert_eq!(now.audit.get(key), Some(hmac), "audit entry {key:?} changed or vanished after the fault");
    }
}

/// `certautopilot audit verify` over the store exits 0 (with the first node's configuration).
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
        let recorded = cluster.view().recorded_actions(&["cert.issued", "cert.renewed"]).expect("audit events");
        let by_ca = cluster.env.pebble.certificates_issued() as u64;
        if recorded == Some(by_ca) {
            return (by_ca, by_ca);
        }
        assert!(
            start.elapsed() < deadline,
            "Pebble issued {by_ca} certificates, the system recorded {recorded:?} after {deadline:?}"
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
