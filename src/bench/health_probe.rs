//! `/healthz` probed every 20 ms while a flood runs, for the benches that attack the API: how many
//! probes answered 200 and their latency percentiles.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::service::call;
use super::{millis, percentile};

#[derive(Default)]
pub struct HealthProbe {
    probes: Mutex<Vec<(bool, Duration)>>,
}

impl HealthProbe {
    /// Probes `addr` until `running` turns false (run it on its own thread).
    pub fn run(&self, addr: SocketAddr, running: &AtomicBool) {
        while running.load(Ordering::Relaxed) {
            let sent = Instant::now();
            let ok = matches!(call(addr, "GET", "/healthz", &[], None), Ok((200, _)));
            let took = sent.elapsed();
            self.probes.lock().unwrap_or_else(|e| e.into_inner()).push((ok, took));
            std::thread::sleep(Duration::from_millis(20).saturating_sub(took));
        }
    }

    /// One line: probes, failures, p50, p99 and the slowest.
    pub fn summary(self, during: &str) -> String {
        let probes = self.probes.into_inner().unwrap_or_default();
        let failed = probes.iter().filter(|(ok, _)| !ok).count();
        let mut latencies: Vec<Duration> = probes.iter().map(|(_, took)| *took).collect();
        latencies.sort();
        format!(
            "  /healthz {during}: {} probes, {failed} not 200; p50 {} p99 {} max {}",
            latencies.len(),
            millis(percentile(&latencies, 50.0)),
            millis(percentile(&latencies, 99.0)),
            millis(latencies.last().copied().unwrap_or_default())
        )
    }
}
