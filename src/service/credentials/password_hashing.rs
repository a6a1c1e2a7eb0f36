//! Bounds the password hashing the API does at once (login, setup, user creation). Each argon2
//! computation takes 19 MiB and tens of milliseconds of a core, so unbounded, a flood of logins
//! from anyone exhausted memory and starved every other route (issue 14, item 3).
//! Invariant: at most `slots` computations run at once in this process, each on the blocking pool
//! holding a permit until it ends (even if its request was dropped meanwhile); a request that
//! cannot get a permit within `wait` is answered 503 `service_unavailable` with `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::service::credentials::password;
use crate::service::error::{ApiError, ErrorCode};

/// The most slots chosen from the cores: each is 19 MiB at peak, and logins beyond what a few
/// cores can hash only queue up anyway.
const MAX_AUTO_SLOTS: usize = 8;

/// Seconds a refused client is told to wait: a slot frees within a hash or two.
const RETRY_AFTER_SECS: u64 = 1;

/// At most one "busy" warning per this long, with the count since the last one: a flood must not
/// also flood the log.
const WARN_EVERY: Duration = Duration::from_secs(10);

pub struct PasswordHashing {
    permits: Arc<Semaphore>,
    slots: usize,
    wait: Duration,
    started: Instant,
    refused: AtomicU64,
    /// Milliseconds since `started` of the last warning, +1 (0 = never warned).
    last_warned: AtomicU64,
}

impl PasswordHashing {
    /// `configured` slots (0 = one per core, at most `MAX_AUTO_SLOTS`); requests wait up to `wait`.
    pub fn new(configured: u32, wait: Duration) -> PasswordHashing {
        let slots = match configured {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_AUTO_SLOTS),
            n => n as usize,
        };
        PasswordHashing {
            permits: Arc::new(Semaphore::new(slots)),
            slots,
            wait,
            started: Instant::now(),
            refused: AtomicU64::new(0),
            last_warned: AtomicU64::new(0),
        }
    }

    /// Takes every slot until the permit is dropped: a flood's effect, without timing.
    #[cfg(test)]
    pub async fn occupy_every_slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.permits.clone().acquire_many_owned(self.slots as u32).await.expect("the semaphore is never closed")
    }

    /// A PHC string for a new password.
    pub async fn hash(&self, candidate: String) -> Result<String, ApiError> {
        let candidate = Zeroizing::new(candidate);
        self.run(move || password::hash(&candidate)).await
    }

    /// Whether `candidate` matches `stored` (`None`: an account without a hash, checked against a
    /// decoy so it takes as long as a wrong password).
    pub async fn verify(&self, candidate: String, stored: Option<String>) -> Result<bool, ApiError> {
        let candidate = Zeroizing::new(candidate);
        self.run(move || password::verify(&candidate, stored.as_deref())).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, password::PasswordError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            // Timed out, or (never here) the semaphore was closed.
            _ => return Err(self.busy()),
        };
        let done = tokio::task::spawn_blocking(move || {
            // Held until argon2 ends, even if the request went away: the bound is on work, not on
            // requests.
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| ApiError::internal("password hashing", &e))?;
        done.map_err(|e| match e {
            password::PasswordError::Memory(_) => {
                tracing::warn!(error = %e, "no memory for password hashing");
                self.busy()
            }
            other => ApiError::internal("password hashing", &other),
        })
    }

    fn busy(&self) -> ApiError {
        let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_warned.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self.last_warned.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(
                refused_total = refused,
                slots = self.slots,
                wait_ms = self.wait.as_millis() as u64,
                "password hashing busy; answering 503"
            );
        }
        let mut e = ApiError::new(ErrorCode::ServiceUnavailable, "too many logins at once; retry shortly");
        e.retry_after = Some(RETRY_AFTER_SECS);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every slot taken, a request waits its bounded time and is answered 503 with
    /// Retry-After; once a slot frees, hashing works again. No timing is asserted: the wait is 0.
    #[tokio::test]
    async fn a_full_gate_answers_503_with_retry_after_then_recovers() {
        let gate = PasswordHashing::new(1, Duration::ZERO);
        let held = gate.permits.clone().acquire_owned().await.unwrap();
        let refused = gate.verify("guess".into(), None).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::ServiceUnavailable);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECS));
        drop(held);
        let phc = gate.hash("a long enough password".into()).await.unwrap();
        assert!(gate.verify("a long enough password".into(), Some(phc)).await.unwrap());
        assert_eq!(gate.permits.available_permits(), 1, "every permit came back");
    }
}
