//! The engine's vocabulary: what a job asks (`Request`), what the runtime reports (`Event`), what the
//! engine asks the runtime to do (`Effect`) and how a job ends (`Outcome`).
//! Invariant: every batch of effects the engine returns ends with exactly one effect the runtime
//! answers with the next event (`Effect::awaits_event`) or with `Finish`; the effects before it
//! report progress and produce no event.

use serde::Serialize;

use crate::ids::{AcmeAccountId, JobId};
use crate::model::{Certificate, LogLevel, PublishedRecord, SealedSecret};
use crate::timestamp::Timestamp;

/// What the job asks of the certificate, decoded from its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Issue,
    /// `by_hand`: asked for through the API (it runs even when the certificate is paused).
    /// `for_not_after`: the expiry (Unix ms) of the certificate a scheduled renewal was queued for.
    Renew {
        by_hand: bool,
        for_not_after: Option<i64>,
    },
    /// `serial`: the serial that was current when the revocation was asked for.
    Revoke {
        reason: Option<u8>,
        serial: Option<String>,
    },
}

/// The job the engine runs for, and where it stands in its attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub job_id: JobId,
    pub request: Request,
    /// Attempts started so far, this one included.
    pub attempt: u32,
    pub max_attempts: u32,
}

/// An ACME order's status, as the engine decides on it (names as RFC 8555 and the job log spell them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

/// What the engine needs of an order the CA answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderView {
    pub url: String,
    pub status: OrderState,
    /// The authorizations still pending, with their DNS-01 value when the CA offers one.
    pub pending: Vec<PendingChallenge>,
    /// The CA's reasons, for when the order ends invalid (or not valid).
    pub refusal: String,
    /// The refusal is the CA's own (its CAA or issuance policy), not the names' or the DNS's.
    pub refused_by_policy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingChallenge {
    pub identifier: String,
    pub dns_value: Option<String>,
}

/// A certificate the CA issued, checked against the order's key by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    pub chain_pem: String,
    /// The order's key sealed again as `private_key`; `None` when the order finalized with the
    /// operator's own CSR (the key stays with them).
    pub private_key: Option<SealedSecret>,
    /// The CA's renewal window (RFC 9773), when it offers one.
    pub ari_window: Option<(Timestamp, Timestamp)>,
}

/// A step that did not work; `transient` says whether trying again later may work, and
/// `another_ca_may_succeed` whether the cause is the CA's own (down, rate-limiting, its policy), so a
/// fallback issuer is worth trying now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: String,
    pub transient: bool,
    pub another_ca_may_succeed: bool,
}

impl Failure {
    pub fn permanent(reason: impl Into<String>) -> Self {
        Failure { reason: reason.into(), transient: false, another_ca_may_succeed: false }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        Failure { reason: reason.into(), transient: true, another_ca_may_succeed: false }
    }

    /// The same failure, marked as the CA's own.
    pub fn at_the_ca(self) -> Self {
        Failure { another_ca_may_succeed: true, ..self }
    }
}

/// What the runtime reports: the start, or the result of the last awaited effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The job begins, with the certificate as stored.
    Start {
        now: Timestamp,
    },
    /// `Save` landed; the stored record (new version) comes back.
    Saved(Box<Certificate>),
    /// The awaited effect failed.
    Failed(Failure),
    OrderPlaced {
        order: OrderView,
        at: Timestamp,
    },
    /// The stored order, fetched again to resume it.
    OrderFetched(OrderView),
    /// Where each pending challenge's TXT value goes, in the order of the challenges.
    ChallengesResolved(Vec<(String, PublishedRecord)>),
    TxtPublished,
    Propagated {
        waited_ms: u64,
    },
    ChallengesAnswered,
    OrderPolled(OrderView),
    /// The challenge records are removed (failures were logged by the runtime; the values are single-use).
    TxtRemoved,
    /// The order's key and CSR are ready; `sealed` is a key generated now, to store before finalizing.
    KeyReady {
        sealed: Option<SealedSecret>,
    },
    OrderFinalized(OrderView),
    Downloaded {
        issuance: Box<Issuance>,
        at: Timestamp,
    },
    /// The certificate read again after a failure (`None`: the read failed; the copy in hand stays).
    Reloaded(Option<Box<Certificate>>),
    /// The CA revoked the certificate (or had already).
    Revoked {
        at: Timestamp,
    },
    /// The certificate cannot be sent for revocation (its chain does not parse).
    Unrevocable(String),
    MarkedRevokedInPlace,
}

/// Until when `PollOrder` polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollUntil {
    /// Validation: until the order leaves `pending`.
    NotPending,
    /// Finalization: until the order leaves `processing`.
    NotProcessing,
}

/// A line for the service log (not the job log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceLine {
    CleanupNotRecorded { reason: String },
    FailureNotRecorded { reason: String },
    AttemptFailed { reason: String, retry: bool },
}

/// What the engine asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    // --- progress: no event comes back.
    /// The actor's state as inspection shows it.
    Step(&'static str),
    /// A line of the job's log.
    Log {
        level: LogLevel,
        message: &'static str,
        fields: serde_json::Value,
    },
    /// The actor's `last_error`.
    ReportError(String),
    Trace(TraceLine),
    /// A fault-injection point for the chaos tests.
    Failpoint(&'static str),
    /// Queue one `distribute` job for the (now issued) certificate; a failure is logged, not fatal.
    QueueDistribution,
    // --- awaited: the runtime answers with an event.
    /// Write the engine's certificate with an audit entry `action`; answered by `Saved`.
    Save {
        action: &'static str,
        details: serde_json::Value,
    },
    /// Place a new order with `account_id` (the first issuer or a fallback).
    PlaceOrder {
        sans: Vec<String>,
        account_id: AcmeAccountId,
    },
    FetchOrder {
        url: String,
    },
    ResolveChallenges {
        challenges: Vec<PendingChallenge>,
    },
    PublishTxt {
        records: Vec<PublishedRecord>,
    },
    AwaitPropagation {
        records: Vec<PublishedRecord>,
    },
    AnswerChallenges {
        order_url: String,
        identifiers: Vec<String>,
    },
    PollOrder {
        url: String,
        until: PollUntil,
    },
    RemoveTxt {
        records: Vec<PublishedRecord>,
    },
    /// Open the stored key or generate one, and build the CSR for `sans`.
    PrepareKey {
        pending: Option<SealedSecret>,
        sans: Vec<String>,
    },
    Finalize {
        order_url: String,
    },
    Download {
        order_url: String,
        pending_key: Option<SealedSecret>,
    },
    Reload,
    /// Revoke at the CA of `account_id`, the one that issued the certificate.
    Revoke {
        chain_pem: String,
        reason: Option<u8>,
        account_id: AcmeAccountId,
    },
    /// Mark the certificate's deployments `revoked_in_place`.
    MarkRevokedInPlace,
    /// The job ends.
    Finish(Outcome),
}

impl Effect {
    /// Whether the runtime answers this effect with an event.
    pub fn awaits_event(&self) -> bool {
        !matches!(
            self,
            Effect::Step(_)
                | Effect::Log { .. }
                | Effect::ReportError(_)
                | Effect::Trace(_)
                | Effect::Failpoint(_)
                | Effect::QueueDistribution
                | Effect::Finish(_)
        )
    }

    /// Whether the engine takes `Event::Failed` as this effect's answer: every awaited effect but
    /// `Reload` and `RemoveTxt`, whose answers carry their own outcome. A runtime whose job was asked
    /// to stop (its lease lost, or shutdown) answers these with `Failed` instead of doing them, so a
    /// holder that lost the job writes nothing more to the store, the CA or DNS; the engine still
    /// reaches `Finish` (test `an_interrupted_run_ends_from_any_step`).
    pub fn may_fail(&self) -> bool {
        self.awaits_event() && !matches!(self, Effect::Reload | Effect::RemoveTxt { .. })
    }
}

/// How a job ends: the summary, or the reason with whether to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(String),
    Retry(String),
    Fail(String),
}

impl Outcome {
    /// A failure that may be retried when `may_retry` and the failure is transient.
    pub fn from_failure(failure: &Failure, may_retry: bool) -> Outcome {
        if may_retry && failure.transient {
            Outcome::Retry(failure.reason.clone())
        } else {
            Outcome::Fail(failure.reason.clone())
        }
    }
}
