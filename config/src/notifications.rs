//! `[notifications]`: how often the notification router re-reads every watched certificate's
//! health, how often a notification is tried before it is dead, and how long one send may take.
//! Invariant: every value is bounded; the defaults suit an installation of thousands of certificates.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::{Section, in_range};
use crate::error::ConfigError;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawNotifications {
    /// Every this many seconds the router recomputes the health of every certificate in projects
    /// with rules that watch health or expiry (changes the audit chain shows are seen at once).
    pub sweep_secs: u64,
    /// Attempts of one notification before it is dead (with the jobs' backoff between them).
    pub max_attempts: u32,
    /// One send (an SMTP conversation, an HTTP request) at most this long.
    pub send_timeout_secs: u64,
}

impl Default for RawNotifications {
    fn default() -> Self {
        RawNotifications { sweep_secs: 60, max_attempts: 12, send_timeout_secs: 15 }
    }
}

/// The validated `[notifications]` section.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotificationsConfig {
    pub sweep: Duration,
    pub max_attempts: u32,
    pub send_timeout: Duration,
}

impl RawNotifications {
    pub(crate) fn validate(self, prefix: Section<'_>) -> Result<NotificationsConfig, ConfigError> {
        Ok(NotificationsConfig {
            sweep: Duration::from_secs(in_range(prefix.key("sweep_secs"), self.sweep_secs, 1, 86_400)?),
            max_attempts: in_range(prefix.key("max_attempts"), u64::from(self.max_attempts), 1, 100)? as u32,
            send_timeout: Duration::from_secs(in_range(
                prefix.key("send_timeout_secs"),
                self.send_timeout_secs,
                1,
                300,
            )?),
        })
    }
}

impl From<&NotificationsConfig> for RawNotifications {
    fn from(c: &NotificationsConfig) -> Self {
        RawNotifications {
            sweep_secs: c.sweep.as_secs(),
            max_attempts: c.max_attempts,
            send_timeout_secs: c.send_timeout.as_secs(),
        }
    }
}
