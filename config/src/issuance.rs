//! `[issuance]`: the timings of ordering, DNS propagation, renewal scans and actor passivation.
//! Invariant: `IssuanceConfig` is the one definition of these timings and their defaults (the
//! actors' `IssuanceSettings` holds it), and its default is the validated default section.

use std::time::Duration;

use serde::Serialize;

use crate::check::{Section, in_range};
use crate::error::ConfigError;
use crate::raw::RawIssuance;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuanceConfig {
    pub acme_timeout: Duration,
    pub order_timeout: Duration,
    pub poll_initial: Duration,
    pub poll_max: Duration,
    pub dns_propagation_timeout: Duration,
    pub dns_query_timeout: Duration,
    pub renewal_scan: Duration,
    /// With no scheduler heartbeat for this long, every node reports the scheduler absent.
    pub scheduler_absent_after: Duration,
    pub passivate_after: Duration,
    pub rate_limit_pause: Duration,
    /// Transient CA failures retried inside one attempt, and the time they may take.
    pub acme_retries: u32,
    pub acme_retry_budget: Duration,
    /// New orders per ACME account per hour in this process; 0: no budget.
    pub orders_per_account_per_hour: u32,
    /// How often the scheduler scans every target for drift; `None`: never.
    pub scan_every: Option<Duration>,
}

impl Default for IssuanceConfig {
    /// The section as the configuration defaults it (`RawIssuance::default`), so the defaults are
    /// written once.
    fn default() -> Self {
        RawIssuance::default().validate(Section("issuance")).expect("the default [issuance] section is valid")
    }
}

impl RawIssuance {
    pub(crate) fn validate(self, prefix: Section<'_>) -> Result<IssuanceConfig, ConfigError> {
        let i = self;
        let poll_initial = in_range(prefix.key("poll_initial_ms"), i.poll_initial_ms, 1, 60_000)?;
        let poll_max = in_range(prefix.key("poll_max_ms"), i.poll_max_ms, 1, 600_000)?;
        if poll_max < poll_initial {
            return Err(ConfigError::invalid(
                prefix.key("poll_max_ms"),
                poll_max,
                format!("must be at least {} ({poll_initial})", prefix.key("poll_initial_ms")),
            ));
        }
        let secs = |name: &str, v: u64, max: u64| in_range(prefix.key(name), v, 1, max).map(Duration::from_secs);
        let renewal_scan = secs("renewal_scan_secs", i.renewal_scan_secs, 86_400)?;
        let scheduler_absent_after = secs("scheduler_absent_after_secs", i.scheduler_absent_after_secs, 7 * 86_400)?;
        // A scheduler beats once per scan: a threshold within two scans would call a slow one absent.
        if scheduler_absent_after < renewal_scan * 2 {
            return Err(ConfigError::invalid(
                prefix.key("scheduler_absent_after_secs"),
                i.scheduler_absent_after_secs,
                format!("must be at least twice {} ({})", prefix.key("renewal_scan_secs"), i.renewal_scan_secs),
            ));
        }
        Ok(IssuanceConfig {
            acme_timeout: secs("acme_timeout_secs", i.acme_timeout_secs, 600)?,
            order_timeout: secs("order_timeout_secs", i.order_timeout_secs, 86_400)?,
            poll_initial: Duration::from_millis(poll_initial),
            poll_max: Duration::from_millis(poll_max),
            dns_propagation_timeout: secs("dns_propagation_timeout_secs", i.dns_propagation_timeout_secs, 3_600)?,
            dns_query_timeout: Duration::from_millis(in_range(
                prefix.key("dns_query_timeout_ms"),
                i.dns_query_timeout_ms,
                10,
                60_000,
            )?),
            renewal_scan,
            scheduler_absent_after,
            passivate_after: secs("passivate_after_secs", i.passivate_after_secs, 86_400)?,
            rate_limit_pause: secs("rate_limit_pause_secs", i.rate_limit_pause_secs, 86_400)?,
            orders_per_account_per_hour: in_range(
                prefix.key("orders_per_account_per_hour"),
                u64::from(i.orders_per_account_per_hour),
                0,
                1_000_000,
            )? as u32,
            acme_retries: in_range(prefix.key("acme_retries"), u64::from(i.acme_retries), 0, 50)? as u32,
            acme_retry_budget: Duration::from_millis(in_range(
                prefix.key("acme_retry_budget_ms"),
                i.acme_retry_budget_ms,
                0,
                600_000,
            )?),
            scan_every: match in_range(prefix.key("scan_every_secs"), i.scan_every_secs, 0, 30 * 86_400)? {
                0 => None,
                n => Some(Duration::from_secs(n)),
            },
        })
    }
}
