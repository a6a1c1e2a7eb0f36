//! Conformance of the `LoginThrottle` concern: failures counted per account, address and pair.
//! Invariant: an attempt is counted in the same step as its decision, so bursts cannot outrun it.

use super::*;

const LOGIN_POLICY: crate::model::LoginPolicy = crate::model::LoginPolicy {
    slowdown_after: 3,
    slowdown_max: Duration::from_secs(2),
    lockout_after_per_account_address: 5,
    lockout_after_per_address: 8,
    lockout: Duration::from_secs(60),
};

fn login_keys() -> crate::model::LoginKeys {
    crate::model::LoginKeys::new(&crate::crypto::SecretBytes::new(vec![5; 32]))
}

/// Failed logins are counted per account, per address and per (account, address): the account's
/// failures slow every attempt on it down (capped) but refuse none, so another address still gets
/// through; the pair is refused until the lockout has passed since its last failure; a success
/// clears the account and the pair and gives the address its attempt back; an address trying many
/// accounts is refused for every account.
pub async fn failed_logins_slow_the_account_and_lock_the_pair_and_the_address<S: LoginThrottle>(f: &Fixture<S>) {
    use crate::model::LoginVerdict;
    let keys = login_keys();
    let attempt = |email: &str, address: Option<&str>| {
        let keys = keys.attempt(email, address);
        async move { f.store.reserve_login_attempt(&keys, &LOGIN_POLICY).await.unwrap() }
    };
    let proceed = |ms| LoginVerdict::Proceed { delay: Duration::from_millis(ms) };
    let refused = LoginVerdict::Refuse { retry_after: LOGIN_POLICY.lockout };
    let (victim, ip, other_ip) = ("victim@x.test", Some("192.0.2.1"), Some("192.0.2.2"));
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(attempt(victim, ip).await);
    }
    assert_eq!(verdicts, [proceed(0), proceed(0), proceed(0), proceed(500), proceed(1_000)]);
    assert_eq!(attempt(victim, ip).await, refused, "the pair is locked");
    assert_eq!(attempt(victim, other_ip).await, proceed(2_000), "the account is slowed, not locked");
    assert_eq!(attempt(victim, None).await, proceed(2_000), "the delay is capped");
    // A refused attempt is not a failure: the lockout runs from the last counted one.
    f.clock.advance(Duration::from_secs(59));
    assert_eq!(attempt(victim, ip).await, refused);
    f.clock.advance(Duration::from_secs(1));
    assert_eq!(attempt(victim, ip).await, proceed(0), "everything expired");
    f.store.login_succeeded(&keys.attempt(victim, ip)).await.unwrap();
    for _ in 0..4 {
        attempt(victim, ip).await;
    }
    assert_eq!(attempt(victim, ip).await, proceed(1_000), "a success cleared the account and the pair");

    // One address, many accounts: the address is refused, the accounts elsewhere are not.
    let spray = Some("192.0.2.3");
    for i in 0..8 {
        let verdict = attempt(&format!("user{i}@x.test"), spray).await;
        assert_eq!(verdict, proceed(0), "{i}");
    }
    assert_eq!(attempt("fresh@x.test", spray).await, refused);
    assert_eq!(attempt("fresh@x.test", other_ip).await, proceed(0));
    // A success from the address takes one attempt back: one more may be made, not two.
    f.store.login_succeeded(&keys.attempt("user0@x.test", spray)).await.unwrap();
    assert_eq!(attempt("next@x.test", spray).await, proceed(0));
    assert_eq!(attempt("last@x.test", spray).await, refused);
}

/// Attempts are counted when they start, in one step with the decision: a burst of concurrent
/// guesses is cut off at the limit although none has finished.
pub async fn concurrent_login_guesses_cannot_outrun_the_count<S: LoginThrottle>(f: &Fixture<S>) {
    let policy = crate::model::LoginPolicy { slowdown_after: 100, lockout_after_per_address: 1_000, ..LOGIN_POLICY };
    let keys = login_keys().attempt("victim@x.test", Some("192.0.2.9"));
    let guesses = (0..50).map(|_| f.store.reserve_login_attempt(&keys, &policy));
    let verdicts = futures_join_all(guesses).await;
    let admitted = verdicts.iter().filter(|v| matches!(v, Ok(crate::model::LoginVerdict::Proceed { .. }))).count();
    assert_eq!(admitted, 5);
}
