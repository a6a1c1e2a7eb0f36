//! Exponential backoff with "equal jitter": half the delay fixed, half random. The fixed half makes the
//! delays of successive attempts never shrink; the random half spreads retries of jobs that failed
//! together (a CA outage) so they do not return together.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The ceiling for `attempt` (1-based): `base · 2^(attempt−1)`, capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.base.saturating_mul(1u32 << doublings.min(31)).min(self.max)
    }

    /// The delay before the retry that follows failed `attempt`; `jitter` in [0, 1).
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    pub fn delay_with_random_jitter(&self, attempt: u32) -> Duration {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delays double per attempt, stay within [ceiling/2, ceiling], never shrink, and stop at `max`.
    #[test]
    fn delays_grow_within_jitter_bounds_and_cap() {
        let b = Backoff { base: Duration::from_secs(5), max: Duration::from_secs(300) };
        assert_eq!(b.ceiling(1), Duration::from_secs(5));
        assert_eq!(b.ceiling(2), Duration::from_secs(10));
        assert_eq!(b.ceiling(7), Duration::from_secs(300));
        assert_eq!(b.ceiling(1_000), Duration::from_secs(300));
        let mut previous_max = Duration::ZERO;
        for attempt in 1..12 {
            let low = b.delay(attempt, 0.0);
            let high = b.delay(attempt, 0.999_999);
            assert!(low >= previous_max.min(b.max / 2), "attempt {attempt}: {low:?} < {previous_max:?}");
            assert!(high <= b.ceiling(attempt));
            assert_eq!(low, b.ceiling(attempt) / 2);
            previous_max = high;
        }
    }
}
