//! Prometheus metrics on their own listener (`metrics.listen`), never on the API port.
//! Request metrics are labelled by route pattern (not raw path) so label cardinality stays bounded;
//! no label or value ever carries a request body, a token or a secret.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_core::store::Store;

mod certificates;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Series {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

#[derive(Default)]
pub struct HttpMetrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl HttpMetrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let s = series.entry((method.to_owned(), route.to_owned(), status)).or_default();
        s.count += 1;
        s.sum_seconds += seconds;
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            s.buckets[i] += 1;
        }
    }

    fn render(&self, out: &mut String) {
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP certautopilot_http_requests_total HTTP requests answered, by route and status.\n");
        out.push_str("# TYPE certautopilot_http_requests_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "certautopilot_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP certautopilot_http_request_duration_seconds Time to answer, by route and status.\n");
        out.push_str("# TYPE certautopilot_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in series.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\",status=\"{status}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(s.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "certautopilot_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ =
                writeln!(out, "certautopilot_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
            let _ = writeln!(out, "certautopilot_http_request_duration_seconds_sum{{{labels}}} {}", s.sum_seconds);
            let _ = writeln!(out, "certautopilot_http_request_duration_seconds_count{{{labels}}} {}", s.count);
        }
    }
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The live SIEM forwarders' snapshots, read from the actor registry at scrape time.
#[derive(Debug, Clone, Default)]
pub struct SiemSnapshots(pub Vec<certautopilot_actors::siem_forwarder::ForwarderSnapshot>);

impl SiemSnapshots {
    pub fn from_registry(actors: &certautopilot_actors::ActorRegistry) -> Self {
        SiemSnapshots(certautopilot_actors::siem_forwarder::ForwarderSnapshot::all_in(actors))
    }
}

/// One series per live SIEM destination.
fn render_siem(out: &mut String, siem: &SiemSnapshots) {
    let snapshots = &siem.0;
    if snapshots.is_empty() {
        return;
    }
    type Snapshot = certautopilot_actors::siem_forwarder::ForwarderSnapshot;
    /// Metric name, type, help text, and the snapshot field it reads.
    type Series = (&'static str, &'static str, &'static str, fn(&Snapshot) -> u64);
    let series: [Series; 4] = [
        ("certautopilot_siem_sent_total", "counter", "Audit events delivered to the SIEM destination.", |s| s.sent),
        ("certautopilot_siem_failed_batches_total", "counter", "Batches the SIEM destination did not take.", |s| {
            s.failed_batches
        }),
        (
            "certautopilot_siem_backlog",
            "gauge",
            "Audit events committed and not yet delivered (the spool depth).",
            |s| s.backlog,
        ),
        ("certautopilot_siem_oldest_undelivered_seconds", "gauge", "Age of the oldest undelivered audit event.", |s| {
            s.oldest_undelivered_secs
        }),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in snapshots {
            let _ = writeln!(out, "{name}{{destination=\"{}\"}} {}", escape(&s.destination), value(s));
        }
    }
}

/// The whole exposition: request metrics, SIEM forwarding, and what the store reports at scrape
/// time (`scheduler` judges the heartbeats for `certautopilot_scheduler_up`).
pub async fn render(
    http: &HttpMetrics,
    store: Option<&Arc<dyn Store>>,
    siem: &SiemSnapshots,
    scheduler: crate::service::health::SchedulerWatch,
) -> String {
    let mut out = String::new();
    http.render(&mut out);
    render_siem(&mut out, siem);
    certautopilot_actors::issuance::propagation_metrics::render_prometheus(&mut out);
    if let Some(store) = store {
        // Before this scrape's own queries: they show in the next scrape.
        render_round_trips(&mut out, &store.round_trips());
        render_write_health(&mut out, store.write_health());
        out.push_str("# HELP certautopilot_jobs Jobs in the queue, by status.\n# TYPE certautopilot_jobs gauge\n");
        match store.job_counts().await {
            Ok(counts) => {
                for status in ["queued", "running", "succeeded", "failed", "dead"] {
                    let n = counts.iter().find(|(s, _)| s.as_str() == status).map(|(_, n)| *n).unwrap_or(0);
                    let _ = writeln!(out, "certautopilot_jobs{{status=\"{status}\"}} {n}");
                }
                out.push_str("# HELP certautopilot_store_up Whether the store answered the scrape.\n# TYPE certautopilot_store_up gauge\ncertautopilot_store_up 1\n");
                render_expiries(&mut out, store.as_ref()).await;
                certificates::render(&mut out, store.as_ref(), scheduler).await;
                render_deployments(&mut out, store.as_ref()).await;
                render_audit_outbox(&mut out, store.as_ref()).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: store did not answer");
                out.push_str("# TYPE certautopilot_store_up gauge\ncertautopilot_store_up 0\n");
            }
        }
    }
    out
}

/// The store's trips to its database since this process opened it, by operation.
fn render_round_trips(out: &mut String, trips: &std::collections::BTreeMap<String, u64>) {
    out.push_str(
        "# HELP certautopilot_store_round_trips_total Trips to the database (SQLite statements by verb, \
         MongoDB commands by name), by operation.\n# TYPE certautopilot_store_round_trips_total counter\n",
    );
    for (operation, n) in trips {
        let _ = writeln!(out, "certautopilot_store_round_trips_total{{operation=\"{}\"}} {n}", escape(operation));
    }
}

/// Whether the store can write, and the writes its storage refused, by reason (issue 16, item 6).
/// Read from what the store remembers, without I/O, so a scrape during a full disk still answers.
fn render_write_health(out: &mut String, health: certautopilot_core::store::WriteHealth) {
    out.push_str(
        "# HELP certautopilot_store_writable Whether the store's last write found room (0: storage full or read-only).\n\
         # TYPE certautopilot_store_writable gauge\n",
    );
    let _ = writeln!(out, "certautopilot_store_writable {}", u8::from(health.writable));
    out.push_str(
        "# HELP certautopilot_store_write_failures_total Writes the store's storage refused, by reason.\n\
         # TYPE certautopilot_store_write_failures_total counter\n",
    );
    let _ = writeln!(out, "certautopilot_store_write_failures_total{{reason=\"full\"}} {}", health.full_failures);
    let _ =
        writeln!(out, "certautopilot_store_write_failures_total{{reason=\"read_only\"}} {}", health.read_only_failures);
}

/// Audit events committed with their changes and not chained yet: near 0 while the AuditActors
/// keep up; growing means chaining fails (its error is on the `audit` actor's snapshot).
async fn render_audit_outbox(out: &mut String, store: &dyn Store) {
    let Ok(pending) = store.pending_audit_orgs().await else { return };
    out.push_str(
        "# HELP certautopilot_audit_outbox_events Audit events waiting to be chained.
# TYPE certautopilot_audit_outbox_events gauge
",
    );
    let _ = writeln!(out, "certautopilot_audit_outbox_events {}", pending.iter().map(|(_, n)| n).sum::<u64>());
    render_audit_marks(out, store).await;
}

/// How far the scheduler's verifier has verified each organization's chain (the mark as stored;
/// `audit verify` checks it is genuine before starting from it).
async fn render_audit_marks(out: &mut String, store: &dyn Store) {
    let Ok(orgs) = store.list_organizations().await else { return };
    out.push_str(
        "# HELP certautopilot_audit_verified_seq The last audit entry the scheduler's verifier has verified, by organization.\n\
         # TYPE certautopilot_audit_verified_seq gauge\n\
         # HELP certautopilot_audit_verified_timestamp_seconds When it verified up to there, Unix seconds.\n\
         # TYPE certautopilot_audit_verified_timestamp_seconds gauge\n",
    );
    for org in orgs {
        let Ok(Some(doc)) = store.audit_mark(org.id).await else { continue };
        let Some(mark) = certautopilot_core::audit::VerifiedMark::from_json(&doc) else { continue };
        let _ = writeln!(out, "certautopilot_audit_verified_seq{{org=\"{}\"}} {}", org.id, mark.seq);
        let seconds = mark.at.as_unix_millis() / 1_000;
        let _ = writeln!(out, "certautopilot_audit_verified_timestamp_seconds{{org=\"{}\"}} {seconds}", org.id);
    }
}

/// The deployment statuses in the order `certautopilot_deployments` lists them.
const DEPLOYMENT_STATUSES: [certautopilot_core::model::DeploymentStatus; 4] = {
    use certautopilot_core::model::DeploymentStatus as S;
    [S::Pending, S::Deployed, S::Failed, S::RevokedInPlace]
};

/// Deployments by status, how many drifted (what is served is not what was deployed), and how
/// many revoked certificates the last scan still found served.
async fn render_deployments(out: &mut String, store: &dyn Store) {
    use certautopilot_core::model::Deployment;
    use certautopilot_core::store::{PageRequest, RecordStore};
    let scope = certautopilot_core::SystemScope::new("metrics");
    let (mut counts, mut drifted, mut revoked_served) = ([0u64; DEPLOYMENT_STATUSES.len()], 0u64, 0u64);
    let mut page = PageRequest::first(1_000);
    // Bounded like the expiry series: a scrape reads at most 100,000 deployments.
    for _ in 0..100 {
        let Ok(batch) = store.list_all::<Deployment>(&scope, &page).await else { return };
        for d in &batch.items {
            if let Some(i) = DEPLOYMENT_STATUSES.iter().position(|s| *s == d.status) {
                counts[i] += 1;
            }
            drifted += u64::from(d.drift.is_some());
            revoked_served += u64::from(d.revoked_served == Some(true));
        }
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    out.push_str("# HELP certautopilot_deployments Certificate deployments to targets, by status.\n# TYPE certautopilot_deployments gauge\n");
    for (status, n) in DEPLOYMENT_STATUSES.iter().zip(counts) {
        let _ = writeln!(out, "certautopilot_deployments{{status=\"{}\"}} {n}", status.as_str());
    }
    out.push_str("# HELP certautopilot_deployments_drifted Deployments whose target no longer serves the deployed certificate.\n# TYPE certautopilot_deployments_drifted gauge\n");
    let _ = writeln!(out, "certautopilot_deployments_drifted {drifted}");
    out.push_str("# HELP certautopilot_deployments_revoked_served Revoked certificates the last scan found still served.\n# TYPE certautopilot_deployments_revoked_served gauge\n");
    let _ = writeln!(out, "certautopilot_deployments_revoked_served {revoked_served}");
}

/// Series per certificate are bounded: the soonest to expire are the ones that matter.
const MAX_EXPIRY_SERIES: usize = 10_000;

async fn render_expiries(out: &mut String, store: &dyn Store) {
    let scope = certautopilot_core::SystemScope::new("metrics");
    let Ok(expiries) = store.certificate_expiries(&scope, MAX_EXPIRY_SERIES).await else { return };
    out.push_str(
        "# HELP certautopilot_certificate_expiry_seconds Seconds until the certificate expires (negative once expired).\n\
         # TYPE certautopilot_certificate_expiry_seconds gauge\n",
    );
    let now = certautopilot_core::Timestamp::now().as_unix_millis();
    for e in expiries {
        let _ = writeln!(
            out,
            "certautopilot_certificate_expiry_seconds{{certificate_id=\"{}\",project_id=\"{}\",common_name=\"{}\",status=\"{}\"}} {}",
            e.id,
            e.project_id,
            e.common_name.replace('\\', "\\\\").replace('"', "\\\""),
            e.status,
            (e.not_after.as_unix_millis() - now) / 1_000
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writability series say what the store remembers: a gauge at 0 while writes are refused,
    /// and a counter per reason.
    #[test]
    fn write_health_is_a_gauge_and_a_counter_per_reason() {
        let mut out = String::new();
        let health =
            certautopilot_core::store::WriteHealth { writable: false, full_failures: 3, read_only_failures: 0 };
        render_write_health(&mut out, health);
        assert!(out.contains("certautopilot_store_writable 0\n"), "{out}");
        assert!(out.contains("certautopilot_store_write_failures_total{reason=\"full\"} 3\n"), "{out}");
        assert!(out.contains("certautopilot_store_write_failures_total{reason=\"read_only\"} 0\n"), "{out}");
        assert!(out.contains("# TYPE certautopilot_store_write_failures_total counter"), "{out}");
    }

    /// A store's round trips are a counter per operation, read from a real store that did some work.
    #[tokio::test]
    async fn round_trips_are_a_counter_per_operation() {
        let fixture = certautopilot_core::store::sqlite::SqliteStore::for_test().await;
        let store: Arc<dyn Store> = Arc::new(fixture.store);
        store.job_counts().await.expect("counts");
        let trips = store.round_trips();
        assert!(trips.get("select").copied().unwrap_or(0) >= 1, "{trips:?}");
        let mut out = String::new();
        render_round_trips(&mut out, &trips);
        assert!(out.contains("# TYPE certautopilot_store_round_trips_total counter"), "{out}");
        assert!(out.contains("certautopilot_store_round_trips_total{operation=\"select\"} "), "{out}");
    }

    /// Observations land in the right cumulative buckets and the count and sum add up.
    #[test]
    fn histogram_is_cumulative() {
        let m = HttpMetrics::default();
        m.observe("GET", "/api/v1/projects", 200, Duration::from_micros(300));
        m.observe("GET", "/api/v1/projects", 200, Duration::from_millis(20));
        let mut out = String::new();
        m.render(&mut out);
        assert!(
            out.contains(r#"certautopilot_http_requests_total{method="GET",route="/api/v1/projects",status="200"} 2"#),
            "{out}"
        );
        assert!(out.contains(r#"le="0.0005"} 1"#), "{out}");
        assert!(out.contains(r#"le="0.025"} 2"#), "{out}");
        assert!(out.contains(r#"le="+Inf"} 2"#), "{out}");
    }
}
