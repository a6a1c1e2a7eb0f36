//! Failed-login throttling policy: after `slowdown_after` failures within `lockout` the answer is
//! delayed (doubling, capped), after `lockout_after` (per account) or `lockout_after_per_address`
//! (per client address) attempts are refused until `lockout` has passed since the last failure.
//! The counts live in the store, so every process serving the API shares them.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::SecretBytes;

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

/// Turns what a login attempt names (an e-mail, a client address) into the keys its failures are
/// counted under: HMAC-SHA256 under a key derived from a secret the store holds only sealed (the
/// organization's JWT key), so a copy of the database file neither shows what was typed into the
/// e-mail field (sometimes a password) nor lets a dictionary recover it.
pub struct LoginKeys {
    key: Hmac<Sha256>,
}

impl LoginKeys {
    pub fn new(secret: &SecretBytes) -> LoginKeys {
        // A key of its own, apart from what the secret signs elsewhere.
        let derived = Self::mac(&new_mac(secret.expose()), "derive", "certautopilot login throttle v1");
        LoginKeys { key: new_mac(&derived) }
    }

    pub fn account(&self, email: &str) -> String {
        hex(&Self::mac(&self.key, "account", email))
    }

    pub fn address(&self, address: &str) -> String {
        hex(&Self::mac(&self.key, "address", address))
    }

    fn mac(key: &Hmac<Sha256>, kind: &str, value: &str) -> Vec<u8> {
        let mut mac = key.clone();
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    /// Keys do not carry what was typed, depend on the secret, and an account and an address never
    /// share one.
    #[test]
    fn keys_are_keyed_digests_apart_by_kind() {
        let keys = LoginKeys::new(&SecretBytes::new(vec![7; 32]));
        let key = keys.account("hunter2");
        assert!(!key.contains("hunter2") && key.len() == 64);
        assert_eq!(keys.account("a@b.test"), keys.account("a@b.test"));
        assert_ne!(keys.account("192.0.2.1"), keys.address("192.0.2.1"));
        assert_ne!(LoginKeys::new(&SecretBytes::new(vec![8; 32])).account("hunter2"), key);
    }
}
