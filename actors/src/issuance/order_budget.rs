//! The new orders one ACME account placed in the last hour, against `[issuance]
//! orders_per_account_per_hour`: the account actor asks before each new order, so a runaway loop
//! (a renewal policy longer than the certificates live, a bug) is stopped here with a clear reason
//! before the CA's rate limits stop it for every certificate of the account.
//! Invariant: never more than `per_hour` orders taken in any hour; a refusal takes nothing.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

const HOUR: Duration = Duration::from_secs(3_600);

#[derive(Debug, Default)]
pub struct OrderBudget {
    placed: VecDeque<Instant>,
}

impl OrderBudget {
    /// Takes one order at `now` when the budget allows (`per_hour` 0: always); otherwise how long
    /// until the oldest order of the hour frees one.
    pub fn take(&mut self, now: Instant, per_hour: u32) -> Result<(), Duration> {
        while self.placed.front().is_some_and(|t| now.saturating_duration_since(*t) >= HOUR) {
            self.placed.pop_front();
        }
        if per_hour > 0 && self.placed.len() >= per_hour as usize {
            let oldest = self.placed.front().copied().unwrap_or(now);
            return Err(HOUR.saturating_sub(now.saturating_duration_since(oldest)));
        }
        self.placed.push_back(now);
        Ok(())
    }

    /// Orders taken in the hour before `now`.
    pub fn used(&self, now: Instant) -> usize {
        self.placed.iter().filter(|t| now.saturating_duration_since(**t) < HOUR).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_past_its_hour_and_frees_as_orders_age() {
        let t0 = Instant::now();
        let mut budget = OrderBudget::default();
        for i in 0..3 {
            assert_eq!(budget.take(t0 + Duration::from_secs(i * 60), 3), Ok(()));
        }
        let later = t0 + Duration::from_secs(600);
        assert_eq!(budget.take(later, 3), Err(Duration::from_secs(3_000)), "until the first is an hour old");
        assert_eq!(budget.used(later), 3, "a refusal takes nothing");
        assert_eq!(budget.take(t0 + HOUR, 3), Ok(()), "the first order aged out");
        assert_eq!(budget.take(t0 + HOUR, 3), Err(Duration::from_secs(60)));
        let mut unlimited = OrderBudget::default();
        assert!((0..1_000).all(|_| unlimited.take(t0, 0).is_ok()));
    }
}
