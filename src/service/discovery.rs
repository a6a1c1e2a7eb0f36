//! Discovery scans: an admin asks for the certificates served at a project's endpoints and ranges
//! (a `discover` job, which records what it finds; see `actors::discovery`).
//! Invariant: a scan refused here (an endpoint that is not `host:port`, a range too wide, more than
//! `MAX_PROBES` endpoints) queues nothing; the egress policy still decides, per address, at scan time.

use certautopilot_connectors::discovery::probes;
use certautopilot_core::jobs::{DiscoveryScan, JobSpec};
use certautopilot_core::store::ScopeArg;
use serde_json::json;

use crate::api::views::{JobQueued, StartDiscoveryScan};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;

/// Queues a discovery scan of the project's endpoints.
pub async fn start(auth: &Authorized, input: StartDiscoveryScan) -> Result<JobQueued, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let scan = DiscoveryScan {
        endpoints: input.endpoints,
        cidrs: input.cidrs,
        ports: input.ports,
        server_name: input.server_name.map(|n| n.to_ascii_lowercase()),
    };
    let endpoints = probes(&scan).map_err(|e| ApiError::invalid(e.field, e.reason))?;
    let details =
        json!({ "endpoints": scan.endpoints, "cidrs": scan.cidrs, "ports": scan.ports, "probes": endpoints.len() });
    let job = JobSpec::Discover { project_id: scope.project_id(), scan }.into_job(&scope, state.max_job_attempts);
    let audit = auth.audit("discovery.requested", None, Some(scope.project_id()), details).await?;
    let enqueued = state.store()?.insert_raw_and_enqueue(&scope.record_scope(), Vec::new(), job, Some(audit)).await?;
    state.wake_workers();
    Ok(JobQueued { job: enqueued.job.into(), created: enqueued.created })
}
