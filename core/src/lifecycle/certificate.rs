//! `CertificateEngine`: one job's decisions for one certificate, as `(state, event) -> (state,
//! Vec<Effect>)`. Issue and renew walk start → order → challenges → finalize → download; revoke
//! walks check → revoke → mark deployments; a failure walks cleanup → fall back to the next issuer,
//! or record → retry or fail.
//! Invariant: the engine does no I/O and reads no clock (times arrive in events); the certificate it
//! holds is the one the next `Save` writes, and after `Saved` it is the stored record.

use serde_json::json;

mod failure;
mod revoke;

use super::effects::{
    Effect, Event, Failure, JobRun, OrderState, OrderView, Outcome, PendingChallenge, PollUntil, Request,
};
use super::record::apply_issuance;
use super::transition::{LifecycleEvent, transition};
use crate::ids::AcmeAccountId;
use crate::model::{Certificate, CertificateStatus, LogLevel, OrderProgress, OrderPurpose, PublishedRecord};

/// The engine's state: the certificate, the job, and which awaited effect the runtime is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateEngine {
    cert: Certificate,
    job: JobRun,
    phase: Phase,
    /// The failure being recorded, once the failure path has begun.
    failure: Option<Failure>,
    /// The issuers this run has ordered from, in order; the last is the current one.
    tried: Vec<AcmeAccountId>,
}

/// What the engine waits for: named after the awaited effect in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    NotStarted,
    SavingExpired,
    SavingStart,
    Ordering,
    SavingOrder(OrderView),
    Resolving(OrderView),
    SavingIntent { order: OrderView, targets: Vec<(String, PublishedRecord)> },
    Publishing { order: OrderView, targets: Vec<(String, PublishedRecord)> },
    Propagating { order: OrderView, targets: Vec<(String, PublishedRecord)> },
    Answering(OrderView),
    Validating,
    Cleaning { then: AfterCleanup, removed: usize },
    SavingCleanup(AfterCleanup),
    PreparingKey(OrderView),
    SavingFinalizing(OrderView),
    Finalizing,
    Processing,
    Downloading,
    SavingIssued { details: serde_json::Value, summary: String },
    Reloading,
    SavingFailure { retry: bool },
    SavingFallback,
    MarkingAlreadyRevoked,
    Revoking,
    SavingRevoked,
    MarkingRevoked,
    Finished,
}

/// Where the run goes once the challenge records are removed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterCleanup {
    Validated(OrderView),
    Failing,
    /// The CA was the cause and another issuer is left: the order is abandoned for a new one there.
    FallingBack,
}

impl CertificateEngine {
    pub fn new(cert: Certificate, job: JobRun) -> Self {
        CertificateEngine { cert, job, phase: Phase::NotStarted, failure: None, tried: Vec::new() }
    }

    /// The certificate as the engine holds it: what the next `Save` writes.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// Whether the job has ended (`Finish` was returned).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The engine's one step: the state after `event` and the effects to run, in order.
    pub fn step(mut self, event: Event) -> (Self, Vec<Effect>) {
        let effects = self.handle(event);
        debug_assert!(
            effects.last().is_some_and(|e| e.awaits_event() || matches!(e, Effect::Finish(_)))
                && effects[..effects.len() - 1].iter().all(|e| !e.awaits_event() && !matches!(e, Effect::Finish(_))),
            "a batch ends with its one awaited effect: {effects:?}"
        );
        (self, effects)
    }

    fn renewing(&self) -> bool {
        matches!(self.job.request, Request::Renew { .. })
    }

    fn handle(&mut self, event: Event) -> Vec<Effect> {
        let phase = std::mem::replace(&mut self.phase, Phase::Finished);
        match (phase, event) {
            (Phase::NotStarted, Event::Start { now }) => match self.job.request.clone() {
                Request::Revoke { reason, serial } => self.start_revoke(reason, serial),
                _ => self.start_obtain(now),
            },
            (phase, Event::Saved(stored)) => {
                self.cert = *stored;
                self.saved(phase)
            }
            (phase, Event::Failed(failure)) => self.failed(phase, failure),
            (Phase::Ordering, Event::OrderFetched(order)) => {
                let fields = json!({ "order_url": order.url, "status": order.status });
                let mut effects = vec![Effect::Log { level: LogLevel::Info, message: "resuming order", fields }];
                effects.extend(self.after_order(order));
                effects
            }
            (Phase::Ordering, Event::OrderPlaced { order, at }) => {
                self.cert.order = Some(OrderProgress {
                    url: order.url.clone(),
                    purpose: if self.renewing() { OrderPurpose::Renew } else { OrderPurpose::Issue },
                    started_at: at,
                    published: Vec::new(),
                    finalized: false,
                    account_id: self.tried.last().copied(),
                });
                let details = json!({ "order_url": order.url });
                self.phase = Phase::SavingOrder(order);
                vec![Effect::Save { action: "cert.order_placed", details }]
            }
            (Phase::Resolving(order), Event::ChallengesResolved(targets)) => self.challenges_resolved(order, targets),
            (Phase::Publishing { order, targets }, Event::TxtPublished) => {
                let records = targets.iter().map(|(_, r)| r.clone()).collect();
                self.phase = Phase::Propagating { order, targets };
                vec![Effect::Step("waiting for DNS"), Effect::AwaitPropagation { records }]
            }
            (Phase::Propagating { order, targets }, Event::Propagated { waited_ms }) => {
                let names: Vec<&str> = targets.iter().map(|(_, r)| r.name.as_str()).collect();
                let fields = json!({ "records": names, "waited_ms": waited_ms });
                let identifiers = targets.iter().map(|(i, _)| i.clone()).collect();
                let effects = vec![
                    Effect::Log {
                        level: LogLevel::Info,
                        message: "challenge records visible at the authoritative servers",
                        fields,
                    },
                    Effect::Step("answering challenges"),
                    Effect::AnswerChallenges { order_url: order.url.clone(), identifiers },
                ];
                self.phase = Phase::Answering(order);
                effects
            }
            (Phase::Answering(order), Event::ChallengesAnswered) => self.await_validation(&order),
            (Phase::Validating, Event::OrderPolled(order)) => self.cleanup(AfterCleanup::Validated(order)),
            (Phase::Cleaning { then, removed }, Event::TxtRemoved) => {
                if let Some(progress) = self.cert.order.as_mut() {
                    progress.published.clear();
                }
                self.phase = Phase::SavingCleanup(then);
                vec![Effect::Save { action: "cert.challenges_removed", details: json!({ "records": removed }) }]
            }
            (Phase::PreparingKey(order), Event::KeyReady { sealed }) => {
                if sealed.is_some() {
                    self.cert.pending_key = sealed;
                }
                if let Some(progress) = self.cert.order.as_mut() {
                    progress.finalized = true;
                }
                let details = json!({ "key_type": self.cert.key_type });
                self.phase = Phase::SavingFinalizing(order);
                vec![Effect::Save { action: "cert.finalizing", details }]
            }
            (Phase::Finalizing, Event::OrderFinalized(order)) => {
                let fields = json!({ "status": order.status });
                let mut effects = vec![Effect::Log { level: LogLevel::Info, message: "order finalized", fields }];
                effects.extend(self.after_finalize(order));
                effects
            }
            (Phase::Processing, Event::OrderPolled(order)) => self.check_valid(order),
            (Phase::Downloading, Event::Downloaded { issuance, at }) => self.downloaded(*issuance, at),
            (Phase::Reloading, Event::Reloaded(fresh)) => self.record_failure(fresh),
            (Phase::Revoking, Event::Revoked { at }) => self.revoked(at),
            (Phase::Revoking, Event::Unrevocable(reason)) => finish(Outcome::Fail(reason)),
            (Phase::MarkingAlreadyRevoked, Event::MarkedRevokedInPlace) => {
                finish(Outcome::Done("already revoked".into()))
            }
            (Phase::MarkingRevoked, Event::MarkedRevokedInPlace) => {
                let serial = self.cert.serial.clone().unwrap_or_default();
                vec![Effect::Step("idle"), Effect::Finish(Outcome::Done(format!("revoked serial {serial}")))]
            }
            (phase, event) => finish(Outcome::Fail(format!("the certificate engine got {event:?} while in {phase:?}"))),
        }
    }

    // --- issue and renew ------------------------------------------------------------------------

    /// Decides whether the job has anything to do, records an expiry that came first, then starts.
    fn start_obtain(&mut self, now: crate::Timestamp) -> Vec<Effect> {
        let renewing = self.renewing();
        match (self.cert.status, &self.job.request) {
            (CertificateStatus::Issued, Request::Issue) => return finish(Outcome::Done("already issued".into())),
            (CertificateStatus::Revoked, Request::Renew { .. }) => {
                return finish(Outcome::Done("revoked: nothing to renew".into()));
            }
            (CertificateStatus::Issued, Request::Renew { by_hand, for_not_after }) => {
                // Queued by the scheduler before a pause: paused means no automatic renewal. A
                // renewal asked for by hand still runs.
                if self.cert.paused && !by_hand {
                    return finish(Outcome::Done("paused: the scheduled renewal was skipped".into()));
                }
                // A scheduled renewal names the certificate it was for; a newer one needs none yet.
                let current = self.cert.not_after.map(|t| t.as_unix_millis());
                if for_not_after.is_some_and(|e| Some(e) != current) {
                    return finish(Outcome::Done("already renewed".into()));
                }
                // The CSR policy asks for a new CSR for each renewal and none was given yet.
                if self.cert.waiting_for_csr() {
                    return finish(Outcome::Fail(NEEDS_NEW_CSR.into()));
                }
                // However the job came to be queued, a scheduled renewal of a certificate issued
                // moments ago would be a loop against the CA (issue 21): only a person forces one.
                if !by_hand && self.cert.too_young_to_renew(now) {
                    return finish(Outcome::Done("issued too recently to renew; renewing by hand forces it".into()));
                }
            }
            _ => {}
        }
        // A renewal that comes after expiry (the service was down, renewals kept failing) records it.
        if renewing && self.cert.status == CertificateStatus::Issued && self.cert.not_after.is_some_and(|t| t <= now) {
            let details = json!({ "not_after": self.cert.not_after });
            return self.move_to(LifecycleEvent::Expired, details, Phase::SavingExpired).unwrap_or_else(|e| e);
        }
        self.start()
    }

    fn start(&mut self) -> Vec<Effect> {
        let event = if self.renewing() { LifecycleEvent::StartRenew } else { LifecycleEvent::StartIssue };
        let details = json!({ "job_id": self.job.job_id, "attempt": self.job.attempt });
        match self.move_to(event, details, Phase::SavingStart) {
            Ok(effects) if !effects.is_empty() => effects,
            Ok(_) => self.begin_order(),
            Err(effects) => effects,
        }
    }

    /// The move `event`, saved with its audit action; `Ok(vec![])` for a resume, which changes
    /// nothing; `Err(finish)` when the move is not allowed.
    fn move_to(
        &mut self,
        event: LifecycleEvent,
        details: serde_json::Value,
        then: Phase,
    ) -> Result<Vec<Effect>, Vec<Effect>> {
        let t = transition(self.cert.status, event, self.cert.chain_pem.is_some())
            .map_err(|e| finish(Outcome::Fail(e.to_string())))?;
        let Some(action) = t.audit else { return Ok(Vec::new()) };
        self.cert.status = t.to;
        self.phase = then;
        Ok(vec![Effect::Save { action, details }])
    }

    /// The order: resumed from its stored URL, or placed (and stored before anything else).
    fn begin_order(&mut self) -> Vec<Effect> {
        self.phase = Phase::Ordering;
        let mut effects = vec![Effect::Step(if self.renewing() { "renewing" } else { "issuing" })];
        match &self.cert.order {
            Some(progress) => {
                let url = progress.url.clone();
                if let Some(account) = self.cert.order_account()
                    && !self.tried.contains(&account)
                {
                    self.tried.push(account);
                }
                effects.push(Effect::Step("resuming order"));
                effects.push(Effect::FetchOrder { url });
            }
            None => {
                let Some(account_id) = self.next_issuer() else {
                    return self.begin_failure(Failure::permanent("the certificate has no issuer left to try"));
                };
                self.tried.push(account_id);
                effects.push(Effect::Step("placing order"));
                effects.push(Effect::PlaceOrder { sans: self.cert.sans.clone(), account_id });
            }
        }
        effects
    }

    /// The first of the certificate's issuers this run has not ordered from.
    fn next_issuer(&self) -> Option<AcmeAccountId> {
        self.cert.issuers().into_iter().find(|id| !self.tried.contains(id))
    }

    /// A pending order gets its challenges answered; any other goes on to cleanup and finalizing.
    fn after_order(&mut self, order: OrderView) -> Vec<Effect> {
        if order.status != OrderState::Pending {
            return self.cleanup(AfterCleanup::Validated(order));
        }
        let challenges: Vec<PendingChallenge> = order.pending.clone();
        self.phase = Phase::Resolving(order);
        vec![Effect::Step("publishing challenges"), Effect::ResolveChallenges { challenges }]
    }

    /// Records the intent before publishing: a crash after adding leaves records the next attempt
    /// knows to remove.
    fn challenges_resolved(&mut self, order: OrderView, targets: Vec<(String, PublishedRecord)>) -> Vec<Effect> {
        if targets.is_empty() {
            return self.await_validation(&order);
        }
        if let Some(progress) = self.cert.order.as_mut() {
            for (_, record) in &targets {
                if !progress.published.contains(record) {
                    progress.published.push(record.clone());
                }
            }
        }
        let names: Vec<&str> = targets.iter().map(|(_, r)| r.name.as_str()).collect();
        let details = json!({ "records": names });
        self.phase = Phase::SavingIntent { order, targets };
        vec![Effect::Save { action: "cert.challenges_published", details }]
    }

    fn await_validation(&mut self, order: &OrderView) -> Vec<Effect> {
        self.phase = Phase::Validating;
        vec![
            Effect::Failpoint("issue.after_challenges"),
            Effect::Step("waiting for validation"),
            Effect::PollOrder { url: order.url.clone(), until: PollUntil::NotPending },
        ]
    }

    /// Removes every challenge record this order published (nothing to do when there are none).
    fn cleanup(&mut self, then: AfterCleanup) -> Vec<Effect> {
        let published = self.cert.order.as_ref().map(|o| o.published.clone()).unwrap_or_default();
        if published.is_empty() {
            return self.after_cleanup(then);
        }
        self.phase = Phase::Cleaning { then, removed: published.len() };
        vec![Effect::RemoveTxt { records: published }]
    }

    fn after_cleanup(&mut self, then: AfterCleanup) -> Vec<Effect> {
        match then {
            AfterCleanup::Failing => self.report_failure(),
            AfterCleanup::FallingBack => self.fall_back(),
            AfterCleanup::Validated(order) if order.status == OrderState::Invalid => self.refused(&order),
            AfterCleanup::Validated(order) if order.status == OrderState::Ready => {
                // The key is stored (sealed) before the CSR leaves, so a crash cannot lose it.
                let effects = vec![
                    Effect::Step("finalizing"),
                    Effect::PrepareKey { pending: self.cert.pending_key.clone(), sans: self.cert.sans.clone() },
                ];
                self.phase = Phase::PreparingKey(order);
                effects
            }
            AfterCleanup::Validated(order) => self.after_finalize(order),
        }
    }

    fn after_finalize(&mut self, order: OrderView) -> Vec<Effect> {
        if order.status == OrderState::Processing {
            self.phase = Phase::Processing;
            return vec![
                Effect::Step("waiting for finalization"),
                Effect::PollOrder { url: order.url, until: PollUntil::NotProcessing },
            ];
        }
        self.check_valid(order)
    }

    fn check_valid(&mut self, order: OrderView) -> Vec<Effect> {
        if order.status != OrderState::Valid {
            return self.refused(&order);
        }
        self.phase = Phase::Downloading;
        vec![
            Effect::Step("downloading"),
            Effect::Download { order_url: order.url, pending_key: self.cert.pending_key.clone() },
        ]
    }

    fn refused(&mut self, order: &OrderView) -> Vec<Effect> {
        let failure = Failure::permanent(format!("the CA refused: {}", order.refusal));
        self.begin_failure(if order.refused_by_policy { failure.at_the_ca() } else { failure })
    }

    fn downloaded(&mut self, issuance: super::Issuance, at: crate::Timestamp) -> Vec<Effect> {
        let (serial, not_before, not_after, fp) =
            (issuance.serial.clone(), issuance.not_before, issuance.not_after, issuance.fingerprint_sha256.clone());
        let ari = issuance.ari_window.is_some();
        let t = match apply_issuance(&mut self.cert, issuance, at) {
            Ok(t) => t,
            Err(e) => return self.begin_failure(Failure::permanent(e.to_string())),
        };
        let details = json!({
            "serial": serial, "not_before": not_before, "not_after": not_after,
            "fingerprint_sha256": fp, "renew_at": self.cert.renew_at, "ari": ari,
            "issued_by": self.cert.issued_by,
        });
        let verb = if self.renewing() { "renewed:" } else { "issued:" };
        let summary = format!("{verb} serial {serial} valid until {not_after}");
        self.phase = Phase::SavingIssued { details: details.clone(), summary };
        vec![Effect::Save { action: t.audit.unwrap_or("cert.issued"), details }]
    }

    /// What follows a `Save` that landed, by the phase that asked for it.
    fn saved(&mut self, phase: Phase) -> Vec<Effect> {
        match phase {
            Phase::SavingExpired => self.start(),
            Phase::SavingStart => self.begin_order(),
            Phase::SavingOrder(order) => {
                let fields = json!({ "order_url": order.url });
                let mut effects = vec![Effect::Log { level: LogLevel::Info, message: "order placed", fields }];
                effects.extend(self.after_order(order));
                effects
            }
            Phase::SavingIntent { order, targets } => {
                let records = targets.iter().map(|(_, r)| r.clone()).collect();
                self.phase = Phase::Publishing { order, targets };
                vec![Effect::PublishTxt { records }]
            }
            Phase::SavingCleanup(then) => self.after_cleanup(then),
            Phase::SavingFinalizing(order) => {
                self.phase = Phase::Finalizing;
                vec![Effect::Finalize { order_url: order.url }]
            }
            Phase::SavingIssued { details, summary } => {
                let message = if self.renewing() { "renewed" } else { "issued" };
                let mut effects = vec![Effect::Log { level: LogLevel::Info, message, fields: details }];
                if !self.cert.target_ids.is_empty() {
                    effects.push(Effect::QueueDistribution);
                }
                effects.extend([Effect::Step("idle"), Effect::Finish(Outcome::Done(summary))]);
                effects
            }
            Phase::SavingFailure { retry } => self.end_failure(retry),
            Phase::SavingFallback => self.begin_order(),
            Phase::SavingRevoked => {
                let fields = json!({ "serial": self.cert.serial });
                self.phase = Phase::MarkingRevoked;
                vec![Effect::Log { level: LogLevel::Info, message: "revoked", fields }, Effect::MarkRevokedInPlace]
            }
            other => finish(Outcome::Fail(format!("the certificate engine got a save while in {other:?}"))),
        }
    }
}

/// Why a certificate whose CSR policy is `new` does not renew with the CSR it was issued from.
pub const NEEDS_NEW_CSR: &str =
    "the CSR policy asks for a new CSR for each renewal: give one (PATCH csr_pem), then renew";

fn finish(outcome: Outcome) -> Vec<Effect> {
    vec![Effect::Finish(outcome)]
}
