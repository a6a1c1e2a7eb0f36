//! Failed-login throttling policy (docs/api.md, "Failed logins"). Failures are counted under three
//! keys: the account, the client address, and the (account, address) pair. The account's count only
//! slows answers down (a delay that doubles, capped); refusals come from the pair's and the address's
//! counts, so guesses from elsewhere can slow the rightful user down but never lock them out.
//! Invariant: `decide` refuses on the pair or the address only, never on the account alone.
//! The counts live in the store, so every process serving the API shares them.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::SecretBytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failures of one account (from anywhere) before its attempts are delayed.
    pub slowdown_after: u32,
    /// The longest delay, however many failures: the price an attack can make the rightful user pay.
    pub slowdown_max: Duration,
    /// Failures for one account from one address before that address is refused for that account.
    pub lockout_after_per_account_address: u32,
    /// Failures from one address (whatever the accounts) before that address is refused.
    pub lockout_after_per_address: u32,
    /// Failures are forgotten, and refusals end, this long after the last counted failure.
    pub lockout: Duration,
}

/// The failures already counted within the lockout for the keys of one attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub account: u32,
    pub account_address: u32,
    pub address: u32,
}

/// What to do with a login attempt before checking the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVerdict {
    Proceed { delay: Duration },
    Refuse { retry_after: Duration },
}

/// The first delay; each further failure doubles it up to `slowdown_max`.
const FIRST_DELAY: Duration = Duration::from_millis(500);

impl LoginPolicy {
    /// The verdict on an attempt, given the failures already counted within the lockout.
    pub fn decide(&self, failures: LoginFailures) -> LoginVerdict {
        if failures.account_address >= self.lockout_after_per_account_address
            || failures.address >= self.lockout_after_per_address
        {
            return LoginVerdict::Refuse { retry_after: self.lockout };
        }
        let Some(over) = failures.account.checked_sub(self.slowdown_after) else {
            return LoginVerdict::Proceed { delay: Duration::ZERO };
        };
        // Past 2^16 the cap has long been reached; the shift stays in range.
        let delay = FIRST_DELAY.saturating_mul(1u32 << over.min(16)).min(self.slowdown_max);
        LoginVerdict::Proceed { delay }
    }
}

/// The keys one login attempt is counted under (see `LoginKeys`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAttemptKeys {
    pub account: String,
    /// Absent when the client's address is unknown; then only the account is counted.
    pub address: Option<AddressKeys>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressKeys {
    pub address: String,
    pub account_address: String,
}

impl LoginAttemptKeys {
    /// Every key, the account's first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.account.as_str())
            .chain(self.address.iter().flat_map(|a| [a.account_address.as_str(), a.address.as_str()]))
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

    /// The (account, address) pair. An address never holds a NUL, so the last one splits the two.
    pub fn account_address(&self, email: &str, address: &str) -> String {
        hex(&Self::mac(&self.key, "account+address", &format!("{email}\0{address}")))
    }

    /// Every key an attempt for `email` from `address` is counted under.
    pub fn attempt(&self, email: &str, address: Option<&str>) -> LoginAttemptKeys {
        LoginAttemptKeys {
            account: self.account(email),
            address: address
                .map(|a| AddressKeys { address: self.address(a), account_address: self.account_address(email, a) }),
        }
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
        slowdown_max: Duration::from_secs(4),
        lockout_after_per_account_address: 5,
        lockout_after_per_address: 8,
        lockout: Duration::from_secs(60),
    };

    fn failures(account: u32, account_address: u32, address: u32) -> LoginFailures {
        LoginFailures { account, account_address, address }
    }

    /// An account's failures pass, then are slowed with a doubling delay up to the cap, and are
    /// never refused on their own: that is what keeps the rightful user able to log in.
    #[test]
    fn account_failures_slow_down_but_never_refuse() {
        let proceed = |ms| LoginVerdict::Proceed { delay: Duration::from_millis(ms) };
        assert_eq!([0, 1, 2].map(|n| POLICY.decide(failures(n, 0, 0))), [proceed(0); 3]);
        assert_eq!(
            [3, 4, 5, 6].map(|n| POLICY.decide(failures(n, 0, 0))),
            [proceed(500), proceed(1_000), proceed(2_000), proceed(4_000)]
        );
        assert_eq!(POLICY.decide(failures(7, 0, 0)), proceed(4_000), "the delay is capped");
        assert_eq!(POLICY.decide(failures(u32::MAX, 0, 0)), proceed(4_000), "however many failures");
    }

    /// The pair and the address are refused at their limits, whatever the account's count.
    #[test]
    fn the_pair_and_the_address_are_refused_at_their_limits() {
        let refused = LoginVerdict::Refuse { retry_after: Duration::from_secs(60) };
        assert_eq!(POLICY.decide(failures(5, 5, 5)), refused, "one address guessing one account");
        assert_eq!(POLICY.decide(failures(0, 0, 8)), refused, "an address trying many accounts");
        assert_eq!(POLICY.decide(failures(0, 4, 7)), LoginVerdict::Proceed { delay: Duration::ZERO });
    }

    /// Keys do not carry what was typed, depend on the secret, and an account, an address and a
    /// pair never share one.
    #[test]
    fn keys_are_keyed_digests_apart_by_kind() {
        let keys = LoginKeys::new(&SecretBytes::new(vec![7; 32]));
        let key = keys.account("hunter2");
        assert!(!key.contains("hunter2") && key.len() == 64);
        assert_eq!(keys.account("a@b.test"), keys.account("a@b.test"));
        assert_ne!(keys.account("192.0.2.1"), keys.address("192.0.2.1"));
        assert_ne!(LoginKeys::new(&SecretBytes::new(vec![8; 32])).account("hunter2"), key);
        let attempt = keys.attempt("a@b.test", Some("192.0.2.1"));
        let pair = attempt.address.as_ref().map(|a| a.account_address.clone()).unwrap();
        assert_eq!(attempt.all().collect::<std::collections::HashSet<_>>().len(), 3);
        assert_ne!(pair, keys.attempt("a@b.test", Some("192.0.2.2")).address.unwrap().account_address);
        assert_ne!(pair, keys.attempt("b@b.test", Some("192.0.2.1")).address.unwrap().account_address);
        assert_eq!(keys.attempt("a@b.test", None).all().collect::<Vec<_>>(), [keys.account("a@b.test")]);
    }
}
