//! The histogram of DNS propagation waits, by provider and strategy, for `/metrics`: how long each
//! challenge record took from published to visible (or to the wait's end when it was not).
//! Invariant: labels come from closed sets (`DnsProvider`, `PropagationStrategy`, the outcome), so
//! the series stay bounded. Process-wide, like the workers that observe it: the metrics listener
//! of the same process renders it (`render_prometheus`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds): a DNS server of our own answers in milliseconds, a cloud fleet in tens
/// of seconds to minutes, the longest allowed wait is an hour.
pub const BUCKETS: [f64; 13] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3_600.0];

const NAME: &str = "certautopilot_dns_propagation_seconds";

#[derive(Debug, Default, Clone)]
struct Series {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// (provider, strategy, outcome) → series.
static WAITS: Mutex<BTreeMap<(String, &'static str, &'static str), Series>> = Mutex::new(BTreeMap::new());

/// Records one wait; `outcome` is `visible`, `timeout` or `unreachable`.
pub fn observe(provider: &str, strategy: &'static str, outcome: &'static str, waited: Duration) {
    let seconds = waited.as_secs_f64();
    let mut waits = WAITS.lock().unwrap_or_else(|p| p.into_inner());
    let s = waits.entry((provider.to_owned(), strategy, outcome)).or_default();
    s.count += 1;
    s.sum_seconds += seconds;
    if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
        s.buckets[i] += 1;
    }
}

/// The histogram in Prometheus' text format (nothing before the first wait).
pub fn render_prometheus(out: &mut String) {
    let waits = WAITS.lock().unwrap_or_else(|p| p.into_inner());
    if waits.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP {NAME} Time from publishing a DNS-01 record to seeing it where the zone checks, by provider, strategy and outcome.\n# TYPE {NAME} histogram"
    );
    for ((provider, strategy, outcome), s) in waits.iter() {
        let labels = format!("provider=\"{provider}\",strategy=\"{strategy}\",outcome=\"{outcome}\"");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(s.buckets) {
            cumulative += n;
            let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{NAME}_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
        let _ = writeln!(out, "{NAME}_sum{{{labels}}} {}", s.sum_seconds);
        let _ = writeln!(out, "{NAME}_count{{{labels}}} {}", s.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buckets are cumulative and the series is labelled by provider, strategy and outcome.
    #[test]
    fn waits_render_as_a_cumulative_histogram() {
        observe("test-provider", "authoritative", "visible", Duration::from_millis(200));
        observe("test-provider", "authoritative", "visible", Duration::from_secs(3));
        let mut out = String::new();
        render_prometheus(&mut out);
        let labels = "provider=\"test-provider\",strategy=\"authoritative\",outcome=\"visible\"";
        assert!(out.contains(&format!("{NAME}_bucket{{{labels},le=\"0.25\"}} 1")), "{out}");
        assert!(out.contains(&format!("{NAME}_bucket{{{labels},le=\"5\"}} 2")), "{out}");
        assert!(out.contains(&format!("{NAME}_count{{{labels}}} 2")), "{out}");
        assert!(out.contains(&format!("# TYPE {NAME} histogram")), "{out}");
    }
}
