//! Failed-login throttling policy: after `slowdown_after` failures within `lockout` the answer is
//! delayed (doubling, capped), after `lockout_after` (per account) or `lockout_after_per_address`
//! (per client address) attempts are refused until `lockout` has passed since the last failure.
//! The counts live in the store, so every process serving the API shares them.

use std::time::Duration;

use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub slowdown_after: u32,
    pub lockout_after: u32,
    pub lockout_after_per_address: u32,
    pub lockout: Duration,
}

/// What to do with a login attempt before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVerdict {
    Proceed { delay: Duration },
    Refuse { retry_after: Duration },
}

/// The longest delay before answering an attempt that may proceed.
const MAX_DELAY_STEPS: u32 = 4;

impl LoginPolicy {
    /// The verdict on an attempt, given the failures already counted within the lockout.
    pub fn decide(&self, account_failures: u32, address_failures: u32) -> LoginVerdict {
        if account_failures >= self.lockout_after || address_failures >= self.lockout_after_per_address {
            return LoginVerdict::Refuse { retry_after: self.lockout };
        }
        let over = account_failures.saturating_sub(self.slowdown_after.saturating_sub(1));
        if over == 0 {
            return LoginVerdict::Proceed { delay: Duration::ZERO };
        }
        LoginVerdict::Proceed { delay: Duration::from_millis(250u64 << over.min(MAX_DELAY_STEPS)) }
    }
}

/// The key an account's failures are counted under. A digest, not the text: what people type into
/// the e-mail field is sometimes a password.
pub fn account_key(email: &str) -> String {
    digest("account", email)
}

/// The key a client address's failures are counted under.
pub fn address_key(address: &str) -> String {
    digest("address", address)
}

fn digest(kind: &str, value: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(kind.as_bytes());
    hash.update([0]);
    hash.update(value.as_bytes());
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: LoginPolicy = LoginPolicy {
        slowdown_after: 3,
        lockout_after: 5,
        lockout_after_per_address: 8,
        lockout: Duration::from_secs(60),
    };

    /// Failures first pass freely, then are slowed with a doubling, capped delay, then refused.
    #[test]
    fn failures_pass_then_slow_then_are_refused() {
        let proceed = |ms| LoginVerdict::Proceed { delay: Duration::from_millis(ms) };
        assert_eq!([0, 1, 2].map(|n| POLICY.decide(n, 0)), [proceed(0), proceed(0), proceed(0)]);
        assert_eq!([3, 4].map(|n| POLICY.decide(n, 0)), [proceed(500), proceed(1_000)]);
        let refused = LoginVerdict::Refuse { retry_after: Duration::from_secs(60) };
        assert_eq!(POLICY.decide(5, 0), refused);
        assert_eq!(POLICY.decide(0, 8), refused, "an address trying many accounts");
        assert_eq!(POLICY.decide(0, 7), proceed(0));
        let lenient = LoginPolicy { slowdown_after: 1, lockout_after: 100, ..POLICY };
        assert_eq!(lenient.decide(50, 0), proceed(4_000), "the delay is capped");
    }

    /// Keys do not carry what was typed, and an account and an address never share one.
    #[test]
    fn keys_are_digests_apart_by_kind() {
        let key = account_key("hunter2");
        assert!(!key.contains("hunter2") && key.len() == 64);
        assert_ne!(account_key("192.0.2.1"), address_key("192.0.2.1"));
        assert_eq!(account_key("a@b.test"), account_key("a@b.test"));
    }
}
