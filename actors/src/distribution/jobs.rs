//! The two job kinds of distribution: `distribute` (a certificate to its targets, one `Deploy` per
//! target, concurrently) and `scan` (a target read back for drift), each routed to the target's
//! actor. Invariant: a deployment or scan only ever runs inside its target's actor, so two never
//! overlap on one destination.

use async_trait::async_trait;
use certautopilot_core::StoreError;
use certautopilot_core::ids::TargetId;
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::model::{Certificate, CertificateStatus, Deployment, DeploymentStatus, Job, JobKind};
use certautopilot_core::store::RecordStore;

use super::actor::{Deploy, Scan, TargetHub};
use crate::job_pump::{JobContext, JobError, JobHandler};

/// Runs `distribute` jobs: one `Deploy` per target, concurrently, so one renewal fans out to many
/// targets in the time of the slowest rather than the sum.
pub struct DistributeJobs {
    pub hub: TargetHub,
}

#[async_trait]
impl JobHandler for DistributeJobs {
    fn kind(&self) -> JobKind {
        JobKind::Distribute
    }

    async fn run(&self, job: &Job, _ctx: JobContext) -> Result<String, JobError> {
        let (Ok(JobSpec::Distribute { certificate_id, target_ids: asked, force, .. }), Some(project_id)) =
            (JobSpec::decode(job), job.project_id)
        else {
            return Err(JobError::permanent("the job names no certificate or project"));
        };
        let deps = &self.hub.deps;
        let scope = deps.project_scope(project_id).await.map_err(|e| {
            if e.is_transient() { JobError::retryable(e.to_string()) } else { JobError::permanent(e.to_string()) }
        })?;
        let cert: Certificate = match deps.store.get(&scope, &certificate_id).await {
            Ok(cert) => cert,
            Err(StoreError::NotFound { .. }) => return Ok("the certificate was deleted".into()),
            Err(e) => return Err(e.into()),
        };
        if cert.status == CertificateStatus::Revoked {
            return Ok("the certificate is revoked: nothing to deploy".into());
        }
        let mut targets: Vec<TargetId> = if asked.is_empty() {
            cert.target_ids.clone()
        } else {
            asked.into_iter().filter(|t| cert.target_ids.contains(t)).collect()
        };
        if !force {
            // Already there with this serial: nothing to redo.
            let mut page = certautopilot_core::store::PageRequest::first(1_000);
            let mut done = Vec::new();
            loop {
                let batch = deps.store.list_by_lookup::<Deployment>(&scope, &cert.id.to_string(), &page).await?;
                done.extend(
                    batch
                        .items
                        .into_iter()
                        .filter(|d| d.status == DeploymentStatus::Deployed && d.serial == cert.serial)
                        .map(|d| d.target_id),
                );
                match batch.next_cursor {
                    Some(cursor) => page = certautopilot_core::store::PageRequest::after(1_000, cursor),
                    None => break,
                }
            }
            targets.retain(|t| !done.contains(t));
        }
        if targets.is_empty() {
            return Ok("nothing to deploy".into());
        }
        let last_attempt = job.attempts >= job.max_attempts;
        let mut running = tokio::task::JoinSet::new();
        for target in targets {
            let (actor, scope) = (self.hub.actor(target), scope.clone());
            running.spawn(async move {
                let outcome = actor.send(Deploy { scope, certificate_id, last_attempt }).await;
                (target, outcome)
            });
        }
        let (mut deployed, mut failed, mut retry) = (0, Vec::new(), Vec::new());
        while let Some(joined) = running.join_next().await {
            let Ok((target, outcome)) = joined else { continue };
            match outcome {
                Ok(Ok(_)) => deployed += 1,
                Ok(Err(e)) if e.transient => retry.push(format!("{target}: {}", e.message)),
                Ok(Err(e)) => failed.push(format!("{target}: {}", e.message)),
                Err(e) => retry.push(format!("{target}: {e}")),
            }
        }
        let summary = format!("{deployed} deployed, {} failed, {} to retry", failed.len(), retry.len());
        if !retry.is_empty() {
            // The retry skips what is already deployed.
            return Err(JobError::retryable(format!("{summary}: {}", retry.join("; "))));
        }
        // Permanent failures are on each target's deployment record (and the timeline).
        Ok(if failed.is_empty() { summary } else { format!("{summary}: {}", failed.join("; ")) })
    }
}

/// Runs `scan` jobs in the target's actor.
pub struct ScanJobs {
    pub hub: TargetHub,
}

#[async_trait]
impl JobHandler for ScanJobs {
    fn kind(&self) -> JobKind {
        JobKind::Scan
    }

    async fn run(&self, job: &Job, _ctx: JobContext) -> Result<String, JobError> {
        let (Ok(JobSpec::Scan { target_id, .. }), Some(project_id)) = (JobSpec::decode(job), job.project_id) else {
            return Err(JobError::permanent("the job names no target or project"));
        };
        let scope = self.hub.deps.project_scope(project_id).await.map_err(|e| {
            if e.is_transient() { JobError::retryable(e.to_string()) } else { JobError::permanent(e.to_string()) }
        })?;
        match self.hub.actor(target_id).send(Scan { scope }).await {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(e)) if e.transient => Err(JobError::retryable(e.message)),
            Ok(Err(e)) => Err(JobError::permanent(e.message)),
            Err(e) => Err(JobError::retryable(format!("{e}; the job will run again"))),
        }
    }
}
