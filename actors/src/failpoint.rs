//! Failpoints for crash tests: `FAILPOINTS="issue.after_challenges=sleep(30000)"` (as the `fail` crate names it) makes
//! the process pause at that point, so a test can kill it exactly there. Unset (always, outside
//! tests) it costs one environment read per process.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Not under `CERTAUTOPILOT_`: that prefix is the configuration's, and unknown keys are errors there.
pub const ENV: &str = "FAILPOINTS";

fn points() -> &'static HashMap<String, Duration> {
    static POINTS: OnceLock<HashMap<String, Duration>> = OnceLock::new();
    POINTS.get_or_init(|| {
        let spec = std::env::var(ENV).unwrap_or_default();
        spec.split(';')
            .filter_map(|entry| {
                let (name, action) = entry.trim().split_once('=')?;
                let millis = action.strip_prefix("sleep(")?.strip_suffix(')')?.parse().ok()?;
                tracing::warn!(failpoint = name, millis, "failpoint armed");
                Some((name.to_owned(), Duration::from_millis(millis)))
            })
            .collect()
    })
}

/// Blocks the calling thread when the named failpoint is armed: for synchronous callbacks in
/// one-shot commands (a server's async code uses `hit`).
pub fn hit_blocking(name: &str) {
    if let Some(pause) = points().get(name) {
        std::thread::sleep(*pause);
    }
}

/// Pauses here when the named failpoint is armed.
pub async fn hit(name: &str) {
    if let Some(pause) = points().get(name) {
        tracing::warn!(failpoint = name, millis = pause.as_millis() as u64, "failpoint reached; pausing");
        tokio::time::sleep(*pause).await;
    }
}
