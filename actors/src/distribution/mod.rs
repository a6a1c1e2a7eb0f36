//! Distribution: where an issued certificate goes. One `TargetActor` per distribution target (the
//! only code that deploys to it or reads it back), the `distribute` and `scan` job handlers that
//! route to those actors, the drift scan, and the connector factory
//! that turns a stored target into a connector (an SSH host, a Kubernetes secret, a file, ...).
//! Invariant: every deployment and scan of one target runs inside that target's actor, so they never
//! overlap on one destination; its outcome is written with its audit entry in the certificate's trail.

mod actor;
mod connector;
mod jobs;
mod scan;

pub use actor::{TargetActor, TargetHub};
pub use connector::DeployFailure;
pub use jobs::{DistributeJobs, ScanJobs};
