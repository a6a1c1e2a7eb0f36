//! The engine's failure path: a failed step either falls back to the certificate's next issuer
//! (when the CA itself is the cause) or records the failure and ends the attempt (retried while
//! transient and attempts remain). An order that is abandoned has its challenge records removed
//! first; one that a retry resumes keeps them.
//! Invariant: nothing is recorded as failed while an untried issuer may still issue; a fallback
//! abandons the order only after its records are removed and saves the move before the next order;
//! the records of an order that may still be validated are never removed by the attempt that failed
//! (the CA may be reading them, or the job's next holder, when this worker lost its lease).

use serde_json::json;

use super::{AfterCleanup, CertificateEngine, Phase, finish};
use crate::lifecycle::effects::{Effect, Failure, Outcome, Request, TraceLine};
use crate::lifecycle::transition::{LifecycleEvent, transition};
use crate::model::{Certificate, LogLevel};

impl CertificateEngine {
    /// A failed awaited effect, by the phase it failed in.
    pub(super) fn failed(&mut self, phase: Phase, failure: Failure) -> Vec<Effect> {
        match phase {
            // Before the order work: the move itself could not be stored; the job says so as is.
            Phase::SavingExpired
            | Phase::SavingStart
            | Phase::SavingRevoked
            | Phase::MarkingRevoked
            | Phase::MarkingAlreadyRevoked => finish(Outcome::from_failure(&failure, true)),
            Phase::Revoking => {
                let may_retry = self.job.attempt < self.job.max_attempts;
                vec![
                    Effect::ReportError(failure.reason.clone()),
                    Effect::Log {
                        level: LogLevel::Warn,
                        message: "revocation failed",
                        fields: json!({ "reason": failure.reason }),
                    },
                    Effect::Finish(Outcome::from_failure(&failure, may_retry)),
                ]
            }
            // The cleanup's record is kept for the next attempt's cleanup; the run goes on.
            Phase::SavingCleanup(then) => {
                let mut effects = vec![Effect::Trace(TraceLine::CleanupNotRecorded { reason: failure.reason })];
                effects.extend(self.after_cleanup(then));
                effects
            }
            Phase::SavingFailure { retry } => {
                let mut effects = vec![Effect::Trace(TraceLine::FailureNotRecorded { reason: failure.reason })];
                effects.extend(self.end_failure(retry));
                effects
            }
            _ => self.begin_failure(failure),
        }
    }

    /// The failure path: fall back to the next issuer when the CA was the cause and one is left
    /// (never once the CSR went to the CA: it may issue still, and the stored order is resumed with
    /// it on the next attempt; another CA's certificate for the same key would be one nobody tracks
    /// or revokes), or record the failure. The challenge records go first when the order is
    /// abandoned. A retry resumes the order, so they stay: the CA may still be validating answered
    /// challenges, and a worker that lost its lease (`Interrupted`, transient) would otherwise remove
    /// the records of the same order under the job's next holder. The attempt that decides the
    /// order removes them.
    pub(super) fn begin_failure(&mut self, failure: Failure) -> Vec<Effect> {
        let obtaining = !matches!(self.job.request, Request::Revoke { .. });
        let finalized = self.cert.order.as_ref().is_some_and(|o| o.finalized);
        let fall_back = failure.another_ca_may_succeed && obtaining && !finalized && self.next_issuer().is_some();
        self.failure = Some(failure);
        if fall_back {
            return self.cleanup(AfterCleanup::FallingBack);
        }
        if self.retry() {
            return self.after_cleanup(AfterCleanup::Failing);
        }
        self.cleanup(AfterCleanup::Failing)
    }

    /// Abandons the order at the issuer that failed (its records are removed) and saves the move to
    /// the next issuer; the saved record places the next order. The order's key, if one was made,
    /// is kept for the next order.
    pub(super) fn fall_back(&mut self) -> Vec<Effect> {
        let reason = self.failure.take().map(|f| f.reason).unwrap_or_default();
        let (from, to) = (self.tried.last().copied(), self.next_issuer());
        self.cert.order = None;
        let details = json!({ "from_account_id": from, "to_account_id": to, "reason": reason });
        self.phase = Phase::SavingFallback;
        vec![
            Effect::Log {
                level: LogLevel::Warn,
                message: "the issuer could not issue; trying the next one",
                fields: details.clone(),
            },
            Effect::Save { action: "cert.issuer_fallback", details },
        ]
    }

    /// Whether the failure is retried: a transient one with attempts left keeps the status for the
    /// retry; anything else fails the certificate.
    fn retry(&self) -> bool {
        let last_attempt = self.job.attempt >= self.job.max_attempts;
        self.failure.as_ref().is_some_and(|f| f.transient) && !last_attempt
    }

    pub(super) fn report_failure(&mut self) -> Vec<Effect> {
        if self.tried.len() > 1
            && let Some(f) = self.failure.as_mut()
        {
            f.reason = format!("{} (the last of {} issuers tried)", f.reason, self.tried.len());
        }
        let reason = self.failure.as_ref().map(|f| f.reason.clone()).unwrap_or_default();
        let message = if self.retry() { "attempt failed; will retry" } else { "failed" };
        self.phase = Phase::Reloading;
        vec![
            Effect::Log { level: LogLevel::Warn, message, fields: json!({ "reason": reason }) },
            Effect::ReportError(reason),
            Effect::Reload,
        ]
    }

    /// Records the failure on the certificate as stored (the failed step may have left the copy in
    /// hand behind it).
    pub(super) fn record_failure(&mut self, fresh: Option<Box<Certificate>>) -> Vec<Effect> {
        if let Some(fresh) = fresh {
            self.cert = *fresh;
        }
        let reason = self.failure.as_ref().map(|f| f.reason.clone()).unwrap_or_default();
        let retry = self.retry();
        self.cert.last_error = Some(reason.clone());
        if retry {
            self.phase = Phase::SavingFailure { retry };
            let details = json!({ "reason": reason, "attempt": self.job.attempt });
            return vec![Effect::Save { action: "cert.retrying", details }];
        }
        // The order is abandoned: the next attempt (by hand) places a new one.
        self.cert.order = None;
        self.cert.pending_key = None;
        match transition(self.cert.status, LifecycleEvent::Failed, self.cert.chain_pem.is_some()) {
            Ok(t) => {
                self.cert.status = t.to;
                self.phase = Phase::SavingFailure { retry };
                vec![Effect::Save { action: t.audit.unwrap_or("cert.failed"), details: json!({ "reason": reason }) }]
            }
            Err(_) => self.end_failure(retry),
        }
    }

    pub(super) fn end_failure(&mut self, retry: bool) -> Vec<Effect> {
        let reason = self.failure.as_ref().map(|f| f.reason.clone()).unwrap_or_default();
        let outcome = if retry { Outcome::Retry(reason.clone()) } else { Outcome::Fail(reason.clone()) };
        vec![Effect::Trace(TraceLine::AttemptFailed { reason, retry }), Effect::Finish(outcome)]
    }
}
