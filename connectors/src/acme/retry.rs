//! Retrying a CA call inside one job attempt: which failures are worth trying again at once (a
//! rejected nonce, RFC 8555 §6.5), which after a short wait (a reset connection, a 5xx, a proxy's
//! 408/429/5xx, honouring its `Retry-After` when it fits), and when to stop and give the job back
//! to the queue's backoff. Pure: the caller measures time and sleeps.
//! Invariant: at most `max_retries` retries, and never a wait that would end past `budget` counted
//! from the first failure; a `rateLimited` answer is never retried here (the account pauses).

use std::time::{Duration, SystemTime};

use super::{AcmeError, PROBLEM_RATE_LIMITED};

const BAD_NONCE: &str = "urn:ietf:params:acme:error:badNonce";
/// The first wait after a failure that is not a rejected nonce; doubled per retry …
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// … up to this.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// How far retrying inside an attempt may go (`[issuance] acme_retries`, `acme_retry_budget_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub budget: Duration,
}

/// What to do after a failed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Call again after `after`; `reason` says what failed (classified, no remote body).
    Retry { after: Duration, reason: String, retry: u32 },
    /// Give the failure back: not worth retrying, or the retries or the budget are spent.
    GiveUp,
}

/// The retries of one call.
#[derive(Debug)]
pub struct CallRetries {
    policy: RetryPolicy,
    done: u32,
}

impl CallRetries {
    pub fn new(policy: RetryPolicy) -> Self {
        CallRetries { policy, done: 0 }
    }

    /// After `error`, `elapsed` since the call first started, at `now` (for an HTTP-date
    /// `Retry-After`).
    pub fn next(&mut self, error: &AcmeError, elapsed: Duration, now: SystemTime) -> NextStep {
        let Some(wait) = self.wait_for(error, now) else { return NextStep::GiveUp };
        if self.done >= self.policy.max_retries || elapsed + wait > self.policy.budget {
            return NextStep::GiveUp;
        }
        self.done += 1;
        NextStep::Retry { after: wait, reason: reason(error), retry: self.done }
    }

    pub fn retries(&self) -> u32 {
        self.done
    }

    /// How long to wait before trying again, or `None` when trying again now cannot help.
    fn wait_for(&self, error: &AcmeError, now: SystemTime) -> Option<Duration> {
        let backoff = FIRST_WAIT.saturating_mul(1 << self.done.min(16)).min(MAX_WAIT);
        match error {
            // A fresh nonce is all it needs (the next request fetches one).
            AcmeError::Problem { kind, .. } if kind == BAD_NONCE => Some(Duration::ZERO),
            AcmeError::Problem { kind, .. } if kind == PROBLEM_RATE_LIMITED => None,
            AcmeError::Status { retry_after, .. } => {
                Some(retry_after.and_then(|at| at.duration_since(now).ok()).unwrap_or(backoff))
            }
            AcmeError::Unreachable(_) => Some(backoff),
            error if error.is_transient() => Some(backoff),
            _ => None,
        }
    }
}

/// The failure in a few words for the job log: the problem type's last part, or the error.
fn reason(error: &AcmeError) -> String {
    match error {
        AcmeError::Problem { kind, status, .. } => {
            let short = kind.rsplit(':').next().unwrap_or(kind);
            status.map_or_else(|| short.to_owned(), |s| format!("{short} (http {s})"))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { max_retries: 3, budget: Duration::from_secs(10) };

    fn problem(kind: &str, status: u16) -> AcmeError {
        AcmeError::Problem { kind: kind.into(), detail: "d".into(), status: Some(status) }
    }

    #[test]
    fn a_rejected_nonce_is_retried_at_once_until_the_retries_are_spent() {
        let mut retries = CallRetries::new(POLICY);
        let now = SystemTime::now();
        for n in 1..=3 {
            let next = retries.next(&problem(BAD_NONCE, 400), Duration::from_millis(5), now);
            assert_eq!(next, NextStep::Retry { after: Duration::ZERO, reason: "badNonce (http 400)".into(), retry: n });
        }
        assert_eq!(retries.next(&problem(BAD_NONCE, 400), Duration::from_millis(5), now), NextStep::GiveUp);
        assert_eq!(retries.retries(), 3);
    }

    #[test]
    fn transient_failures_back_off_and_honour_retry_after_within_the_budget() {
        let now = SystemTime::now();
        let mut retries = CallRetries::new(POLICY);
        let reset = AcmeError::Unreachable("connection reset".into());
        let waits: Vec<_> = (0..3)
            .map(|_| match retries.next(&reset, Duration::ZERO, now) {
                NextStep::Retry { after, .. } => after,
                NextStep::GiveUp => panic!("retried"),
            })
            .collect();
        assert_eq!(waits, [Duration::from_millis(100), Duration::from_millis(200), Duration::from_millis(400)]);

        let mut retries = CallRetries::new(POLICY);
        let busy = AcmeError::Status { status: 503, retry_after: Some(now + Duration::from_secs(2)) };
        let next = retries.next(&busy, Duration::from_secs(1), now);
        assert_eq!(next, NextStep::Retry { after: Duration::from_secs(2), reason: busy.to_string(), retry: 1 });
        // The same wait would end past the budget.
        assert_eq!(retries.next(&busy, Duration::from_secs(9), now), NextStep::GiveUp);
        let internal = problem("urn:ietf:params:acme:error:serverInternal", 500);
        assert!(matches!(CallRetries::new(POLICY).next(&internal, Duration::ZERO, now), NextStep::Retry { .. }));
    }

    #[test]
    fn permanent_failures_and_rate_limits_are_not_retried_here() {
        let now = SystemTime::now();
        for error in [
            problem(PROBLEM_RATE_LIMITED, 429),
            problem("urn:ietf:params:acme:error:rejectedIdentifier", 400),
            AcmeError::Config("bad".into()),
            AcmeError::Protocol("odd".into()),
        ] {
            assert_eq!(CallRetries::new(POLICY).next(&error, Duration::ZERO, now), NextStep::GiveUp, "{error}");
        }
        let off = RetryPolicy { max_retries: 0, budget: Duration::from_secs(10) };
        assert_eq!(CallRetries::new(off).next(&problem(BAD_NONCE, 400), Duration::ZERO, now), NextStep::GiveUp);
    }
}
