//! The runtime of the certificate lifecycle engine (`certautopilot_core::lifecycle`): what the
//! certificate actor does for one job (issue, renew or revoke). The engine decides; this file runs its
//! effects (the store, the job log, the actor's probe) and feeds each result back as the next event;
//! `acme.rs` and `challenges.rs` run the CA and DNS effects.
//! Invariant: the runtime changes no field of the certificate the engine decides on; it writes the
//! engine's certificate as it is when a `Save` comes, so progress (the order URL, the challenge
//! records, the pending key) is stored before each step the CA or DNS could be left half-way through,
//! and once the job is asked to stop (its lease lost) it does no effect that may fail.

mod acme;
mod challenges;
mod propagation;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use certautopilot_core::ProjectScope;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::jobs::{DistributeCause, JobSpec, RenewReason};
use certautopilot_core::lifecycle::{CertificateEngine, Effect, Event, Failure, JobRun, Outcome, Request, TraceLine};
use certautopilot_core::model::{Certificate, Job, JobKind, LogLevel};
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::account::AccountHub;
use super::{IssuanceDeps, IssueError, OrgAudit};
use crate::job_pump::{JobContext, JobError};
use crate::registry::Probe;

pub(crate) struct Flow<'a> {
    pub deps: &'a IssuanceDeps,
    pub accounts: &'a AccountHub,
    pub probe: &'a Arc<Probe>,
    pub id: CertificateId,
    pub job: &'a Job,
    pub ctx: &'a JobContext,
}

/// What one run holds beside the engine: the scope, the audit writer, and the I/O state no record
/// keeps (the DNS providers of the challenges in flight, the CSR to finalize with).
struct Io {
    scope: ProjectScope,
    org: Arc<OrgAudit>,
    challenges: Vec<super::dns::ChallengeTarget>,
    csr_der: Option<Vec<u8>>,
}

impl Flow<'_> {
    /// Runs the job; the text is the job's summary.
    pub async fn run(&self) -> Result<String, JobError> {
        let project_id = self.job.project_id.ok_or_else(|| JobError::permanent("the job names no project"))?;
        let scope = self.deps.project_scope(project_id).await.map_err(|e| job_error(&e, true))?;
        let org = self.deps.org().await.map_err(|e| job_error(&e, true))?;
        let cert: Certificate = match self.deps.store.get(&scope, &self.id).await {
            Ok(cert) => cert,
            Err(certautopilot_core::StoreError::NotFound { .. }) => return Ok("the certificate was deleted".into()),
            Err(e) => return Err(e.into()),
        };
        let request = self.request()?;
        let run =
            JobRun { job_id: self.job.id, request, attempt: self.job.attempts, max_attempts: self.job.max_attempts };
        let mut engine = CertificateEngine::new(cert, run);
        let mut io = Io { scope, org, challenges: Vec::new(), csr_der: None };
        let mut event = Event::Start { now: Timestamp::now() };
        loop {
            let (next, effects) = engine.step(event);
            engine = next;
            let mut answer = None;
            for effect in effects {
                if let Effect::Finish(outcome) = effect {
                    return match outcome {
                        Outcome::Done(summary) => Ok(summary),
                        Outcome::Retry(reason) => Err(JobError::retryable(reason)),
                        Outcome::Fail(reason) => Err(JobError::permanent(reason)),
                    };
                }
                if let Some(next) = self.execute(engine.certificate(), &mut io, effect).await {
                    answer = Some(next);
                }
            }
            event = answer.ok_or_else(|| JobError::permanent("the certificate engine stopped without an outcome"))?;
        }
    }

    /// The engine's request, from the job's typed spec.
    fn request(&self) -> Result<Request, JobError> {
        let spec = match self.job.kind {
            JobKind::Issue | JobKind::Renew | JobKind::Revoke => {
                JobSpec::decode(self.job).map_err(|e| JobError::permanent(e.to_string()))?
            }
            other => {
                return Err(JobError::permanent(format!("the certificate actor does not run {} jobs", other.as_str())));
            }
        };
        match spec {
            JobSpec::Renew { reason, .. } => {
                let for_not_after = match reason {
                    RenewReason::Requested => None,
                    RenewReason::WindowOpen { not_after } => not_after,
                };
                Ok(Request::Renew { by_hand: reason.is_by_hand(), for_not_after })
            }
            JobSpec::Revoke { reason, serial, .. } => Ok(Request::Revoke { reason, serial }),
            _ => Ok(Request::Issue),
        }
    }

    /// Runs one effect; an awaited one answers with the next event.
    async fn execute(&self, cert: &Certificate, io: &mut Io, effect: Effect) -> Option<Event> {
        // A job asked to stop has lost its lease (or the node is shutting down): its next holder
        // may be running the same order, so nothing more goes to the store, the CA or DNS.
        if effect.may_fail() && self.ctx.is_cancelled() {
            return Some(Event::Failed(failure(&IssueError::Interrupted)));
        }
        let answer = match effect {
            Effect::Step(step) => {
                self.probe.set_state(step);
                return None;
            }
            Effect::Log { level, message, fields } => {
                self.log(level, message, fields).await;
                return None;
            }
            Effect::ReportError(reason) => {
                self.probe.set_error(reason);
                return None;
            }
            Effect::Trace(line) => {
                self.trace(line);
                return None;
            }
            Effect::Failpoint(name) => {
                crate::failpoint::hit(name).await;
                return None;
            }
            Effect::QueueDistribution => {
                self.queue_distribution(cert, io).await;
                return None;
            }
            Effect::Finish(_) => return None,
            Effect::Save { action, details } => self.save(io, cert, action, details).await.map(Event::Saved),
            Effect::Reload => {
                return Some(Event::Reloaded(self.deps.store.get(&io.scope, &self.id).await.ok().map(Box::new)));
            }
            Effect::MarkRevokedInPlace => {
                self.mark_revoked_in_place(io, cert).await.map(|()| Event::MarkedRevokedInPlace)
            }
            Effect::ResolveChallenges { challenges } => self.resolve_challenges(io, challenges).await,
            Effect::PublishTxt { records } => self.publish_txt(io, &records).await,
            Effect::AwaitPropagation { records } => self.await_propagation(io, &records).await,
            Effect::RemoveTxt { records } => return Some(self.remove_txt(io, &records).await),
            effect => self.acme(cert, io, effect).await,
        };
        Some(answer.unwrap_or_else(|e| Event::Failed(failure(&e))))
    }

    async fn log(&self, level: LogLevel, message: &str, fields: serde_json::Value) {
        if let Err(e) = self.ctx.log(level, message, fields).await {
            tracing::warn!(certificate_id = %self.id, error = %e, "could not write to the job log");
        }
    }

    fn trace(&self, line: TraceLine) {
        if self.ctx.is_cancelled() {
            // Not a fault: the runtime refused the write because the job was asked to stop.
            tracing::info!(certificate_id = %self.id, ?line, "the job was asked to stop; its next holder goes on");
            return;
        }
        match line {
            TraceLine::CleanupNotRecorded { reason } => {
                tracing::warn!(certificate_id = %self.id, error = %reason, "could not record the challenge cleanup");
            }
            TraceLine::FailureNotRecorded { reason } => {
                tracing::error!(certificate_id = %self.id, error = %reason, "could not record the failure");
            }
            TraceLine::AttemptFailed { reason, retry } => {
                tracing::warn!(certificate_id = %self.id, %reason, retry, "certificate attempt failed");
            }
        }
    }

    /// Writes the engine's certificate with an audit entry named `action`; the stored record comes back.
    async fn save(
        &self,
        io: &Io,
        cert: &Certificate,
        action: &str,
        details: serde_json::Value,
    ) -> Result<Box<Certificate>, IssueError> {
        let mut cert = cert.clone();
        cert.updated_at = Timestamp::now();
        let audit = io.org.write(
            &self.deps.actor_name(),
            action,
            ("certificate", self.id.to_string()),
            io.scope.project_id(),
            details,
        );
        Ok(Box::new(self.deps.store.update_audited(&io.scope, &cert, audit).await?))
    }

    /// Asks the certificate's targets to deploy it (one `distribute` job that fans out to them). The
    /// certificate is issued whatever happens here; a deployment that could not be queued is logged
    /// and can be asked for again (`POST …/distribute`).
    async fn queue_distribution(&self, cert: &Certificate, io: &Io) {
        let serial = cert.serial.clone().unwrap_or_default();
        let cause = DistributeCause::Issued { serial };
        let spec = JobSpec::Distribute { certificate_id: self.id, target_ids: Vec::new(), force: false, cause };
        match self.deps.store.enqueue_job(spec.into_job(&io.scope, self.job.max_attempts)).await {
            Ok(_) => {
                self.log(LogLevel::Info, "deployment queued", json!({ "targets": cert.target_ids })).await;
                self.deps.wake_workers();
            }
            Err(e) => {
                self.log(LogLevel::Warn, "could not queue the deployment", json!({ "reason": e.to_string() })).await
            }
        }
    }

    /// Its deployments stay where they are: each one becomes `revoked_in_place` (a failure here
    /// retries the job, which finds the certificate revoked and marks what is left).
    async fn mark_revoked_in_place(&self, io: &Io, cert: &Certificate) -> Result<(), IssueError> {
        let marked =
            super::revoked::mark_revoked_in_place(self.deps, &io.scope, &io.org, &self.deps.actor_name(), cert).await?;
        if marked > 0 {
            self.log(LogLevel::Warn, "revoked certificate still deployed", json!({ "deployments": marked })).await;
        }
        Ok(())
    }
}

/// What the engine needs of an error: its text, whether a retry may work, and whether another
/// issuer may succeed.
fn failure(e: &IssueError) -> Failure {
    Failure { reason: e.to_string(), transient: e.is_transient(), another_ca_may_succeed: e.another_ca_may_succeed() }
}

fn job_error(e: &IssueError, may_retry: bool) -> JobError {
    if may_retry && e.is_transient() { JobError::retryable(e.to_string()) } else { JobError::permanent(e.to_string()) }
}
