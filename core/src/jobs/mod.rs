//! Job-queue policy that is pure: retry backoff, and `JobSpec`, the one place each job kind's
//! subject, dedupe key and payload are defined. The queue itself lives in the store.

mod backoff;
mod spec;

pub use backoff::Backoff;
pub use spec::{DiscoveryScan, DistributeCause, JobSpec, JobSpecError, NotifyDelivery, RenewReason};

#[cfg(test)]
mod spec_tests;
