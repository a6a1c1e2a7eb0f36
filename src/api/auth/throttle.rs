//! Failed-login throttling, per account and per client address: after `slowdown_after` failures the
//! answer is delayed (doubling, capped), after `lockout_after` further attempts are refused with 429
//! until `lockout` has passed since the last failure. A success clears the account's record.
//! Kept in memory per process: a restart forgets, and each API node counts on its own.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub slowdown_after: u32,
    pub lockout_after: u32,
    pub lockout_after_per_address: u32,
    pub lockout: Duration,
}

#[derive(Debug, Default)]
struct Failures {
    count: u32,
    last: Option<Instant>,
}

/// What to do with a login attempt before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed { delay: Duration },
    Refuse { retry_after: Duration },
}

/// Entries past this many are pruned of expired ones, so a flood of made-up e-mails cannot grow
/// the map without bound.
const PRUNE_ABOVE: usize = 10_000;

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    accounts: Mutex<HashMap<String, Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        LoginThrottle { policy, accounts: Mutex::default(), addresses: Mutex::default() }
    }

    /// Decides on an attempt and, if it may proceed, counts it as a failure at once; a success takes
    /// it back. Counting before the password check means concurrent guesses cannot all slip past a
    /// count that has not been raised yet.
    pub fn check_and_reserve(&self, account: &str, address: Option<IpAddr>, now: Instant) -> Verdict {
        let verdict = self.check(account, address, now);
        if matches!(verdict, Verdict::Proceed { .. }) {
            self.record_failure(account, address, now);
        }
        verdict
    }

    pub fn check(&self, account: &str, address: Option<IpAddr>, now: Instant) -> Verdict {
        let account_count = current(&self.accounts, account, self.policy.lockout, now);
        let address_count = address.map(|a| current(&self.addresses, &a, self.policy.lockout, now)).unwrap_or(0);
        if account_count >= self.policy.lockout_after || address_count >= self.policy.lockout_after_per_address {
            return Verdict::Refuse { retry_after: self.policy.lockout };
        }
        let over = account_count.saturating_sub(self.policy.slowdown_after.saturating_sub(1));
        if over == 0 {
            return Verdict::Proceed { delay: Duration::ZERO };
        }
        Verdict::Proceed { delay: Duration::from_millis(250u64 << over.min(4)) }
    }

    pub fn record_failure(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        bump(&self.accounts, account.to_owned(), self.policy.lockout, now);
        if let Some(a) = address {
            bump(&self.addresses, a, self.policy.lockout, now);
        }
    }

    /// Clears the account's record and takes back the attempt reserved for this address.
    pub fn record_success(&self, account: &str, address: Option<IpAddr>) {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner()).remove(account);
        if let Some(a) = address
            && let Some(f) = self.addresses.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&a)
        {
            f.count = f.count.saturating_sub(1);
        }
    }
}

fn current<K: std::hash::Hash + Eq + ?Sized, Q>(
    map: &Mutex<HashMap<Q, Failures>>,
    key: &K,
    lockout: Duration,
    now: Instant,
) -> u32
where
    Q: std::borrow::Borrow<K> + std::hash::Hash + Eq,
{
    let map = map.lock().unwrap_or_else(|p| p.into_inner());
    match map.get(key) {
        Some(f) if f.last.is_some_and(|t| now.duration_since(t) < lockout) => f.count,
        _ => 0,
    }
}

fn bump<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, Failures>>, key: K, lockout: Duration, now: Instant) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() > PRUNE_ABOVE {
        map.retain(|_, f| f.last.is_some_and(|t| now.duration_since(t) < lockout));
    }
    let entry = map.entry(key).or_default();
    if entry.last.is_some_and(|t| now.duration_since(t) >= lockout) {
        entry.count = 0;
    }
    entry.count += 1;
    entry.last = Some(now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy {
            slowdown_after: 3,
            lockout_after: 5,
            lockout_after_per_address: 8,
            lockout: Duration::from_secs(60),
        })
    }

    /// Failures first pass freely, then are slowed, then refused until the lockout passes; a
    /// success clears the account.
    #[test]
    fn failures_slow_then_lock_then_expire() {
        let t = throttle();
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(t.check("a", Some(ip), now), Verdict::Proceed { delay: Duration::ZERO });
            t.record_failure("a", Some(ip), now);
        }
        let Verdict::Proceed { delay } = t.check("a", Some(ip), now) else { panic!("refused too early") };
        assert!(delay > Duration::ZERO);
        for _ in 0..2 {
            t.record_failure("a", Some(ip), now);
        }
        assert_eq!(t.check("a", Some(ip), now), Verdict::Refuse { retry_after: Duration::from_secs(60) });
        assert_eq!(t.check("a", None, now + Duration::from_secs(61)), Verdict::Proceed { delay: Duration::ZERO });
        t.record_success("a", None);
        assert_eq!(t.check("a", None, now), Verdict::Proceed { delay: Duration::ZERO });
    }

    /// Many accounts tried from one address lock that address out, not the accounts elsewhere.
    #[test]
    fn one_address_trying_many_accounts_is_refused() {
        let t = throttle();
        let now = Instant::now();
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        for i in 0..8 {
            t.record_failure(&format!("user{i}"), Some(ip), now);
        }
        assert!(matches!(t.check("fresh", Some(ip), now), Verdict::Refuse { .. }));
        assert_eq!(
            t.check("fresh", Some("192.0.2.10".parse().unwrap()), now),
            Verdict::Proceed { delay: Duration::ZERO }
        );
    }
}

#[cfg(test)]
mod reservation_tests {
    use super::*;

    /// Attempts are counted when they start: a burst of concurrent guesses is cut off at the limit
    /// even though none of them has finished yet.
    #[test]
    fn concurrent_guesses_cannot_outrun_the_count() {
        let t = LoginThrottle::new(ThrottlePolicy {
            slowdown_after: 100,
            lockout_after: 5,
            lockout_after_per_address: 1_000,
            lockout: Duration::from_secs(60),
        });
        let now = Instant::now();
        let admitted =
            (0..50).filter(|_| matches!(t.check_and_reserve("victim", None, now), Verdict::Proceed { .. })).count();
        assert_eq!(admitted, 5);
    }
}
