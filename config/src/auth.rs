//! `[auth]`: sessions, API tokens, failed-login throttling and password hashing.
//! Invariant: an `AuthConfig` only comes from `RawAuth::validate`, so every limit is in range and
//! the per-address login limit is never below the per-(account, address) one.

use std::time::Duration;

use serde::Serialize;

use crate::check::in_range;
use crate::error::ConfigError;
use crate::raw::RawAuth;

#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    pub session_ttl: Duration,
    pub api_token_max_days: u32,
    /// Failures of one account (from anywhere) before its answers are delayed.
    pub login_slowdown_after: u32,
    /// The longest delay.
    pub login_slowdown_max: Duration,
    /// Failures for one account from one address before that address is refused for it.
    pub login_lockout_after_per_account_address: u32,
    pub login_lockout: Duration,
    pub login_lockout_after_per_address: u32,
    /// Argon2 computations at once; 0 = decided by the process from its cores (validation stays
    /// pure: it does not look at the machine).
    pub password_hash_concurrency: u32,
    /// How long a request waits for a hashing slot before it is answered 503.
    pub password_hash_wait: Duration,
    /// A session younger than this proves its user's identity for an ownership transfer.
    pub reauth_window: Duration,
}

impl RawAuth {
    pub(crate) fn validate(self) -> Result<AuthConfig, ConfigError> {
        let count = |key, value: u32, max| Ok::<_, ConfigError>(in_range(key, u64::from(value), 1, max)? as u32);
        let per_pair =
            count("auth.login_lockout_after_per_account_address", self.login_lockout_after_per_account_address, 1_000)?;
        let per_address = count("auth.login_lockout_after_per_address", self.login_lockout_after_per_address, 100_000)?;
        if per_address < per_pair {
            return Err(ConfigError::invalid(
                "auth.login_lockout_after_per_address",
                per_address,
                format!("must be at least auth.login_lockout_after_per_account_address ({per_pair})"),
            ));
        }
        Ok(AuthConfig {
            session_ttl: Duration::from_secs(in_range("auth.session_ttl_secs", self.session_ttl_secs, 60, 7 * 86_400)?),
            api_token_max_days: count("auth.api_token_max_days", self.api_token_max_days, 3_650)?,
            login_slowdown_after: count("auth.login_slowdown_after", self.login_slowdown_after, 1_000)?,
            login_slowdown_max: Duration::from_millis(in_range(
                "auth.login_slowdown_max_ms",
                self.login_slowdown_max_ms,
                0,
                60_000,
            )?),
            login_lockout_after_per_account_address: per_pair,
            login_lockout: Duration::from_secs(in_range(
                "auth.login_lockout_secs",
                self.login_lockout_secs,
                1,
                86_400,
            )?),
            login_lockout_after_per_address: per_address,
            password_hash_concurrency: in_range(
                "auth.password_hash_concurrency",
                u64::from(self.password_hash_concurrency),
                0,
                256,
            )? as u32,
            password_hash_wait: Duration::from_millis(in_range(
                "auth.password_hash_wait_ms",
                self.password_hash_wait_ms,
                0,
                30_000,
            )?),
            reauth_window: Duration::from_secs(in_range("auth.reauth_window_secs", self.reauth_window_secs, 0, 3_600)?),
        })
    }
}

impl From<&AuthConfig> for RawAuth {
    fn from(c: &AuthConfig) -> Self {
        RawAuth {
            session_ttl_secs: c.session_ttl.as_secs(),
            api_token_max_days: c.api_token_max_days,
            login_slowdown_after: c.login_slowdown_after,
            login_slowdown_max_ms: c.login_slowdown_max.as_millis() as u64,
            login_lockout_after_per_account_address: c.login_lockout_after_per_account_address,
            login_lockout_secs: c.login_lockout.as_secs(),
            login_lockout_after_per_address: c.login_lockout_after_per_address,
            password_hash_concurrency: c.password_hash_concurrency,
            password_hash_wait_ms: c.password_hash_wait.as_millis() as u64,
            reauth_window_secs: c.reauth_window.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults validate, and what they validate into reads back as the same raw section.
    #[test]
    fn defaults_validate_and_round_trip() {
        let config = RawAuth::default().validate().unwrap();
        assert_eq!(config.login_lockout_after_per_account_address, 10);
        assert_eq!(config.password_hash_wait, Duration::from_secs(2));
        let back = RawAuth::from(&config);
        assert_eq!(toml::to_string(&back).unwrap(), toml::to_string(&RawAuth::default()).unwrap());
    }

    /// A per-address limit below the per-pair one would make the pair's limit meaningless: refused
    /// with both keys named; an old file's `login_lockout_after` still loads, as the pair's limit.
    #[test]
    fn limits_are_checked_and_the_old_key_still_loads() {
        let raw = RawAuth { login_lockout_after_per_address: 5, ..RawAuth::default() };
        let error = raw.validate().unwrap_err();
        assert_eq!(error.key(), Some("auth.login_lockout_after_per_address"));
        assert!(error.to_string().contains("auth.login_lockout_after_per_account_address"), "{error}");
        let too_long = RawAuth { password_hash_wait_ms: 60_000, ..RawAuth::default() }.validate().unwrap_err();
        assert_eq!(too_long.key(), Some("auth.password_hash_wait_ms"));
        let old: RawAuth = toml::from_str("login_lockout_after = 7").unwrap();
        assert_eq!(old.login_lockout_after_per_account_address, 7);
    }
}
