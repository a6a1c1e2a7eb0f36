//! `[jobs]`: leases, heartbeats, retries and concurrency of the job queue's workers.
//! Invariant: two heartbeats fit in one lease, and the backoff's ceiling is not below its base.

use std::time::Duration;

use serde::Serialize;

use crate::check::{Section, in_range};
use crate::error::ConfigError;
use crate::raw::RawJobs;

#[derive(Debug, Clone, Serialize)]
pub struct JobsConfig {
    pub lease: Duration,
    pub heartbeat: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub concurrency: usize,
    pub poll_interval: Duration,
}

impl RawJobs {
    pub(crate) fn validate(self, prefix: Section<'_>) -> Result<JobsConfig, ConfigError> {
        let j = self;
        let lease_secs = in_range(prefix.key("lease_secs"), j.lease_secs, 2, 86_400)?;
        let heartbeat_secs = in_range(prefix.key("heartbeat_secs"), j.heartbeat_secs, 1, 86_400)?;
        // Two heartbeats must fit in one lease, so one lost heartbeat does not lose the job.
        if heartbeat_secs * 2 > lease_secs {
            return Err(ConfigError::invalid(
                prefix.key("heartbeat_secs"),
                heartbeat_secs,
                format!("must be at most half of {} ({lease_secs})", prefix.key("lease_secs")),
            ));
        }
        let backoff_base_secs = in_range(prefix.key("backoff_base_secs"), j.backoff_base_secs, 1, 86_400)?;
        let backoff_max_secs = in_range(prefix.key("backoff_max_secs"), j.backoff_max_secs, 1, 7 * 86_400)?;
        if backoff_max_secs < backoff_base_secs {
            return Err(ConfigError::invalid(
                prefix.key("backoff_max_secs"),
                backoff_max_secs,
                format!("must be at least {} ({backoff_base_secs})", prefix.key("backoff_base_secs")),
            ));
        }
        Ok(JobsConfig {
            lease: Duration::from_secs(lease_secs),
            heartbeat: Duration::from_secs(heartbeat_secs),
            max_attempts: in_range(prefix.key("max_attempts"), u64::from(j.max_attempts), 1, 100)? as u32,
            backoff_base: Duration::from_secs(backoff_base_secs),
            backoff_max: Duration::from_secs(backoff_max_secs),
            concurrency: in_range(prefix.key("concurrency"), u64::from(j.concurrency), 1, 1_024)? as usize,
            poll_interval: Duration::from_millis(in_range(
                prefix.key("poll_interval_ms"),
                j.poll_interval_ms,
                10,
                600_000,
            )?),
        })
    }
}
