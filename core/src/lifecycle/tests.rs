//! The engine driven by events alone, no CA, DNS server or store: each test feeds what the runtime
//! would report and asserts the exact effects the engine asks for, and the certificate it holds.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::ids::{AcmeAccountId, JobId, ProjectId, TargetId, ZoneId};
use crate::model::{Certificate, CertificateStatus, HISTORY_KEPT, KeyType, LogLevel, PublishedRecord, SealedSecret};
use crate::timestamp::Timestamp;

const DAY: Duration = Duration::from_secs(86_400);
const T0: Timestamp = Timestamp::from_unix_millis(1_700_000_000_000);

fn cert() -> Certificate {
    let mut cert = Certificate::new(
        ProjectId::new(),
        "a.test",
        vec!["a.test".into()],
        KeyType::EcdsaP256,
        AcmeAccountId::new(),
        T0,
    );
    cert.version = 1;
    cert
}

fn issued_cert(serial: &str, not_after: Timestamp) -> Certificate {
    let mut c = cert();
    c.mark_issued(serial.into(), not_after.saturating_sub(DAY * 90), not_after, format!("fp-{serial}"));
    c.chain_pem = Some(format!("chain-{serial}"));
    c
}

fn job(request: Request) -> JobRun {
    JobRun { job_id: JobId::new(), request, attempt: 1, max_attempts: 3 }
}

fn sealed(tag: &str) -> SealedSecret {
    SealedSecret { kek_version: 1, wrapped_dek: tag.into(), nonce: tag.into(), ciphertext: tag.into() }
}

fn order(status: OrderState) -> OrderView {
    OrderView {
        url: "https://ca.test/order/1".into(),
        status,
        pending: if status == OrderState::Pending {
            vec![PendingChallenge { identifier: "a.test".into(), dns_value: Some("v1".into()) }]
        } else {
            Vec::new()
        },
        refusal: "a.test: incorrect TXT record".into(),
        refused_by_policy: false,
    }
}

fn record() -> PublishedRecord {
    static ZONE: std::sync::OnceLock<ZoneId> = std::sync::OnceLock::new();
    PublishedRecord {
        zone_id: *ZONE.get_or_init(ZoneId::new),
        zone: "test".into(),
        name: "_acme-challenge.a.test".into(),
        value: "v1".into(),
    }
}

fn issuance(serial: &str, not_after: Timestamp) -> Issuance {
    Issuance {
        serial: serial.into(),
        not_before: not_after.saturating_sub(DAY * 90),
        not_after,
        fingerprint_sha256: format!("fp-{serial}"),
        chain_pem: format!("chain-{serial}"),
        private_key: Some(sealed("private")),
        ari_window: None,
    }
}

/// A runtime stand-in that stores every save as the store would (the version goes up).
struct Driver {
    engine: Option<CertificateEngine>,
    saves: Vec<(&'static str, CertificateStatus)>,
}

impl Driver {
    fn new(cert: Certificate, job: JobRun) -> Self {
        Driver { engine: Some(CertificateEngine::new(cert, job)), saves: Vec::new() }
    }

    fn engine(&self) -> &CertificateEngine {
        self.engine.as_ref().unwrap()
    }

    fn send(&mut self, event: Event) -> Vec<Effect> {
        let (engine, effects) = self.engine.take().unwrap().step(event);
        self.engine = Some(engine);
        effects
    }

    /// The `Saved` the store answers a `Save` with.
    fn saved(&mut self) -> Vec<Effect> {
        let mut stored = self.engine().certificate().clone();
        stored.version += 1;
        self.send(Event::Saved(Box::new(stored)))
    }

    /// Answers every save in a row until an effect other than `Save` is awaited; every effect is kept.
    fn through_saves(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        let mut all = Vec::new();
        while let Some(Effect::Save { action, .. }) = effects.last() {
            self.saves.push((action, self.engine().certificate().status));
            all.extend(effects);
            effects = self.saved();
        }
        all.extend(effects);
        all
    }

    /// `event`, then every save that follows answered.
    fn run(&mut self, event: Event) -> Vec<Effect> {
        let effects = self.send(event);
        self.through_saves(effects)
    }
}

fn save(action: &'static str, details: serde_json::Value) -> Effect {
    Effect::Save { action, details }
}

fn info(message: &'static str, fields: serde_json::Value) -> Effect {
    Effect::Log { level: LogLevel::Info, message, fields }
}

/// A first issuance from a placed order to a stored certificate: every step, every save, in order,
/// and the record ends issued with its key, renewal time and no order.
#[test]
fn issue_walks_order_challenges_finalize_download() {
    let c = cert();
    let c_account = c.acme_account_id.unwrap();
    let run = job(Request::Issue);
    let job_id = run.job_id;
    let mut d = Driver::new(c, run);
    let effects = d.send(Event::Start { now: T0 });
    assert_eq!(effects, vec![save("cert.issuing", json!({ "job_id": job_id, "attempt": 1 }))]);
    assert_eq!(d.engine().certificate().status, CertificateStatus::Issuing);
    assert_eq!(
        d.saved(),
        vec![
            Effect::Step("issuing"),
            Effect::Step("placing order"),
            Effect::PlaceOrder { sans: vec!["a.test".into()], account_id: c_account }
        ]
    );
    let url = "https://ca.test/order/1";
    let effects = d.send(Event::OrderPlaced { order: order(OrderState::Pending), at: T0 });
    assert_eq!(effects, vec![save("cert.order_placed", json!({ "order_url": url }))]);
    assert_eq!(d.engine().certificate().order.as_ref().map(|o| o.url.as_str()), Some(url));
    assert_eq!(
        d.saved(),
        vec![
            info("order placed", json!({ "order_url": url })),
            Effect::Step("publishing challenges"),
            Effect::ResolveChallenges { challenges: order(OrderState::Pending).pending },
        ]
    );
    let effects = d.send(Event::ChallengesResolved(vec![("a.test".into(), record())]));
    assert_eq!(effects, vec![save("cert.challenges_published", json!({ "records": ["_acme-challenge.a.test"] }))]);
    assert_eq!(d.engine().certificate().order.as_ref().unwrap().published, vec![record()]);
    assert_eq!(d.saved(), vec![Effect::PublishTxt { records: vec![record()] }]);
    assert_eq!(
        d.send(Event::TxtPublished),
        vec![Effect::Step("waiting for DNS"), Effect::AwaitPropagation { records: vec![record()] }]
    );
    assert_eq!(
        d.send(Event::Propagated { waited_ms: 40 }),
        vec![
            info(
                "challenge records visible at the authoritative servers",
                json!({ "records": ["_acme-challenge.a.test"], "waited_ms": 40 })
            ),
            Effect::Step("answering challenges"),
            Effect::AnswerChallenges { order_url: url.into(), identifiers: vec!["a.test".into()] },
        ]
    );
    assert_eq!(
        d.send(Event::ChallengesAnswered),
        vec![
            Effect::Failpoint("issue.after_challenges"),
            Effect::Step("waiting for validation"),
            Effect::PollOrder { url: url.into(), until: PollUntil::NotPending },
        ]
    );
    assert_eq!(
        d.send(Event::OrderPolled(order(OrderState::Ready))),
        vec![Effect::RemoveTxt { records: vec![record()] }]
    );
    assert_eq!(d.send(Event::TxtRemoved), vec![save("cert.challenges_removed", json!({ "records": 1 }))]);
    assert_eq!(
        d.saved(),
        vec![Effect::Step("finalizing"), Effect::PrepareKey { pending: None, sans: vec!["a.test".into()] }]
    );
    let effects = d.send(Event::KeyReady { sealed: Some(sealed("pending")) });
    assert_eq!(effects, vec![save("cert.finalizing", json!({ "key_type": "ecdsa-p256" }))]);
    assert!(d.engine().certificate().order.as_ref().unwrap().finalized);
    assert_eq!(d.saved(), vec![Effect::Finalize { order_url: url.into() }]);
    assert_eq!(
        d.send(Event::OrderFinalized(order(OrderState::Processing))),
        vec![
            info("order finalized", json!({ "status": "processing" })),
            Effect::Step("waiting for finalization"),
            Effect::PollOrder { url: url.into(), until: PollUntil::NotProcessing },
        ]
    );
    assert_eq!(
        d.send(Event::OrderPolled(order(OrderState::Valid))),
        vec![
            Effect::Step("downloading"),
            Effect::Download { order_url: url.into(), pending_key: Some(sealed("pending")) }
        ]
    );
    let not_after = T0.saturating_add(DAY * 90);
    let effects = d.send(Event::Downloaded { issuance: Box::new(issuance("01", not_after)), at: T0 });
    let stored = d.engine().certificate().clone();
    let details = json!({
        "serial": "01", "not_before": T0, "not_after": not_after, "fingerprint_sha256": "fp-01",
        "renew_at": stored.renew_at, "ari": false, "issued_by": c_account,
    });
    assert_eq!(effects, vec![save("cert.issued", details.clone())]);
    assert_eq!(stored.status, CertificateStatus::Issued);
    assert_eq!(stored.renew_at, Some(T0.saturating_add(DAY * 60)));
    assert_eq!((stored.order.clone(), stored.pending_key.clone()), (None, None));
    assert_eq!(stored.private_key, Some(sealed("private")));
    assert!(stored.history.is_empty(), "a first issuance replaces nothing");
    assert_eq!(
        d.saved(),
        vec![
            info("issued", details),
            Effect::Step("idle"),
            Effect::Finish(Outcome::Done(format!("issued: serial 01 valid until {not_after}"))),
        ]
    );
    assert!(d.engine().is_finished());
}

/// A stored order is resumed, not placed again; a ready order with its key stored goes straight to
/// finalizing with that key, and a certificate with targets queues its distribution.
#[test]
fn a_stored_order_is_resumed_and_distribution_queued() {
    let mut c = cert();
    c.status = CertificateStatus::Issuing;
    c.target_ids = vec![TargetId::new()];
    c.pending_key = Some(sealed("pending"));
    c.order = Some(crate::model::OrderProgress {
        url: "https://ca.test/order/1".into(),
        purpose: crate::model::OrderPurpose::Issue,
        started_at: T0,
        published: Vec::new(),
        finalized: false,
        account_id: None,
    });
    let mut d = Driver::new(c, job(Request::Issue));
    // Issuing → issuing is a resume: no save, straight to the order.
    assert_eq!(
        d.send(Event::Start { now: T0 }),
        vec![
            Effect::Step("issuing"),
            Effect::Step("resuming order"),
            Effect::FetchOrder { url: "https://ca.test/order/1".into() }
        ]
    );
    assert_eq!(
        d.send(Event::OrderFetched(order(OrderState::Ready))),
        vec![
            info("resuming order", json!({ "order_url": "https://ca.test/order/1", "status": "ready" })),
            Effect::Step("finalizing"),
            Effect::PrepareKey { pending: Some(sealed("pending")), sans: vec!["a.test".into()] },
        ]
    );
    let effects = d.run(Event::KeyReady { sealed: None });
    assert_eq!(effects.last(), Some(&Effect::Finalize { order_url: "https://ca.test/order/1".into() }));
    assert_eq!(d.engine().certificate().pending_key, Some(sealed("pending")), "the stored key is kept");
    let effects = d.send(Event::OrderFinalized(order(OrderState::Valid)));
    assert_eq!(
        effects.last(),
        Some(&Effect::Download { order_url: "https://ca.test/order/1".into(), pending_key: Some(sealed("pending")) })
    );
    let effects = d.run(Event::Downloaded { issuance: Box::new(issuance("02", T0.saturating_add(DAY * 90))), at: T0 });
    assert_eq!(
        effects[effects.len() - 3..],
        [
            Effect::QueueDistribution,
            Effect::Step("idle"),
            Effect::Finish(Outcome::Done(format!("issued: serial 02 valid until {}", T0.saturating_add(DAY * 90))))
        ]
    );
}

/// A renewal rotates the replaced certificate into the history (newest first, at most
/// `HISTORY_KEPT`) and writes `cert.renewed`.
#[test]
fn renewal_rotates_history_and_keeps_ten() {
    let old_after = T0.saturating_add(DAY * 30);
    let mut c = issued_cert("old", old_after);
    for i in 0..HISTORY_KEPT {
        rotate_history(&mut c, T0);
        c.serial = Some(format!("older-{i}"));
    }
    c.serial = Some("old".into());
    let mut d = Driver::new(c, job(Request::Renew { by_hand: false, for_not_after: Some(old_after.as_unix_millis()) }));
    let effects = d.run(Event::Start { now: T0 });
    assert_eq!(
        effects.last(),
        Some(&Effect::PlaceOrder {
            sans: vec!["a.test".into()],
            account_id: d.engine().certificate().acme_account_id.unwrap()
        })
    );
    assert_eq!(d.saves, vec![("cert.renewing", CertificateStatus::Renewing)]);
    let effects = d.run(Event::OrderPlaced { order: order(OrderState::Valid), at: T0 });
    assert!(matches!(effects.last(), Some(Effect::Download { .. })), "{effects:?}");
    let new_after = T0.saturating_add(DAY * 90);
    let effects = d.send(Event::Downloaded { issuance: Box::new(issuance("new", new_after)), at: T0 });
    assert!(matches!(effects[..], [Effect::Save { action: "cert.renewed", .. }]), "{effects:?}");
    let cert = d.engine().certificate();
    assert_eq!(cert.serial.as_deref(), Some("new"));
    assert_eq!(cert.history.len(), HISTORY_KEPT);
    assert_eq!(cert.history[0].serial, "old");
    assert_eq!(cert.history[0].chain_pem.as_deref(), Some("chain-old"));
    assert_eq!(cert.history[0].replaced_at, T0);
    let Effect::Save { details, .. } = &effects[0] else { unreachable!() };
    assert_eq!(d.saved()[0], info("renewed", details.clone()));
}

/// A scheduled renewal queued for an expiry that is no longer current does nothing ("already
/// renewed"); one for the current expiry runs; a paused certificate skips a scheduled renewal but not
/// one asked for by hand; an issue job for an issued certificate and a renewal of a revoked one end.
#[test]
fn renewal_that_is_no_longer_needed_ends_without_effects() {
    let not_after = T0.saturating_add(DAY * 30);
    let cases = [
        (issued_cert("a", not_after), Request::Renew { by_hand: false, for_not_after: Some(1) }, "already renewed"),
        (issued_cert("a", not_after), Request::Issue, "already issued"),
        (
            {
                let mut c = issued_cert("a", not_after);
                c.paused = true;
                c
            },
            Request::Renew { by_hand: false, for_not_after: None },
            "paused: the scheduled renewal was skipped",
        ),
        (
            {
                let mut c = issued_cert("a", not_after);
                c.status = CertificateStatus::Revoked;
                c
            },
            Request::Renew { by_hand: true, for_not_after: None },
            "revoked: nothing to renew",
        ),
    ];
    for (c, request, summary) in cases {
        let (engine, effects) = CertificateEngine::new(c.clone(), job(request)).step(Event::Start { now: T0 });
        assert_eq!(effects, vec![Effect::Finish(Outcome::Done(summary.into()))]);
        assert_eq!(engine.certificate(), &c, "{summary}: the record is untouched");
    }
    let mut paused = issued_cert("a", not_after);
    paused.paused = true;
    for request in [
        Request::Renew { by_hand: true, for_not_after: None },
        Request::Renew { by_hand: false, for_not_after: Some(not_after.as_unix_millis()) },
    ] {
        let c = if matches!(request, Request::Renew { by_hand: true, .. }) {
            paused.clone()
        } else {
            issued_cert("a", not_after)
        };
        let (_, effects) = CertificateEngine::new(c, job(request)).step(Event::Start { now: T0 });
        assert!(matches!(effects[..], [Effect::Save { action: "cert.renewing", .. }]), "{effects:?}");
    }
}

/// A scheduled renewal of a certificate issued moments ago ends without an order (the loop the
/// review measured: thousands of orders for certificates shorter-lived than their policy); a
/// renewal asked for by hand still runs; past the minimum age a scheduled one runs.
#[test]
fn a_scheduled_renewal_too_soon_after_issuance_is_skipped() {
    let mut c = cert();
    let one_minute = std::time::Duration::from_secs(60);
    c.mark_issued("s".into(), T0, T0.saturating_add(one_minute), "fp-s".into());
    c.chain_pem = Some("chain-s".into());
    c.renew_before_days = Some(30);
    let scheduled = Request::Renew { by_hand: false, for_not_after: c.not_after.map(|t| t.as_unix_millis()) };
    let soon = T0.saturating_add(std::time::Duration::from_secs(5));
    let (engine, effects) = CertificateEngine::new(c.clone(), job(scheduled.clone())).step(Event::Start { now: soon });
    let skipped = "issued too recently to renew; renewing by hand forces it";
    assert_eq!(effects, vec![Effect::Finish(Outcome::Done(skipped.into()))]);
    assert_eq!(engine.certificate(), &c, "the record is untouched");
    let by_hand = Request::Renew { by_hand: true, for_not_after: None };
    let (_, effects) = CertificateEngine::new(c.clone(), job(by_hand)).step(Event::Start { now: soon });
    assert!(matches!(effects[..], [Effect::Save { action: "cert.renewing", .. }]), "{effects:?}");
    let later = T0.saturating_add(std::time::Duration::from_secs(30));
    assert_eq!(c.renew_at, Some(later), "clamped to half the lifetime, not 30 days before expiry");
    let (_, effects) = CertificateEngine::new(c, job(scheduled)).step(Event::Start { now: later });
    assert!(matches!(effects[..], [Effect::Save { action: "cert.renewing", .. }]), "{effects:?}");
}

/// A renewal that starts after the certificate expired records the expiry first (`cert.expired`,
/// status expired), then the renewal (`cert.renewing`).
#[test]
fn renewal_after_expiry_marks_expired_first() {
    let not_after = T0.saturating_sub(DAY);
    let mut d = Driver::new(issued_cert("a", not_after), job(Request::Renew { by_hand: false, for_not_after: None }));
    let effects = d.send(Event::Start { now: T0 });
    assert_eq!(effects, vec![save("cert.expired", json!({ "not_after": not_after }))]);
    let effects = d.through_saves(effects);
    assert_eq!(
        d.saves,
        vec![("cert.expired", CertificateStatus::Expired), ("cert.renewing", CertificateStatus::Renewing)]
    );
    assert_eq!(
        effects.last(),
        Some(&Effect::PlaceOrder {
            sans: vec!["a.test".into()],
            account_id: d.engine().certificate().acme_account_id.unwrap()
        })
    );
}

/// A transient failure with attempts left removes the challenge records, records `cert.retrying` on
/// the reloaded record (status kept) and asks for a retry; the same failure on the last attempt
/// abandons the order and fails the certificate.
#[test]
fn transient_failure_retries_until_the_last_attempt_then_fails() {
    for (attempt, retry) in [(1, true), (3, false)] {
        let mut run = job(Request::Issue);
        run.attempt = attempt;
        let mut d = Driver::new(cert(), run);
        d.run(Event::Start { now: T0 });
        d.run(Event::OrderPlaced { order: order(OrderState::Pending), at: T0 });
        d.run(Event::ChallengesResolved(vec![("a.test".into(), record())]));
        let failure = Failure::transient("dns: timed out");
        assert_eq!(d.send(Event::Failed(failure)), vec![Effect::RemoveTxt { records: vec![record()] }]);
        let effects = d.run(Event::TxtRemoved);
        let message = if retry { "attempt failed; will retry" } else { "failed" };
        assert_eq!(
            effects[1..],
            [
                Effect::Log { level: LogLevel::Warn, message, fields: json!({ "reason": "dns: timed out" }) },
                Effect::ReportError("dns: timed out".into()),
                Effect::Reload,
            ]
        );
        let reloaded = d.engine().certificate().clone();
        let effects = d.send(Event::Reloaded(Some(Box::new(reloaded))));
        let cert = d.engine().certificate().clone();
        assert_eq!(cert.last_error.as_deref(), Some("dns: timed out"));
        if retry {
            assert_eq!(effects, vec![save("cert.retrying", json!({ "reason": "dns: timed out", "attempt": 1 }))]);
            assert_eq!(cert.status, CertificateStatus::Issuing);
            assert!(cert.order.is_some(), "the order is kept for the retry");
        } else {
            assert_eq!(effects, vec![save("cert.failed", json!({ "reason": "dns: timed out" }))]);
            assert_eq!(cert.status, CertificateStatus::Failed);
            assert_eq!((cert.order, cert.pending_key), (None, None));
        }
        let outcome =
            if retry { Outcome::Retry("dns: timed out".into()) } else { Outcome::Fail("dns: timed out".into()) };
        assert_eq!(
            d.saved(),
            vec![
                Effect::Trace(TraceLine::AttemptFailed { reason: "dns: timed out".into(), retry }),
                Effect::Finish(outcome)
            ]
        );
    }
}

/// A permanent failure (the CA invalidated the order) fails at once, even with attempts left; a
/// failure that cannot be recorded still ends the job with the same outcome.
#[test]
fn permanent_failure_fails_at_once() {
    let mut d = Driver::new(cert(), job(Request::Issue));
    d.run(Event::Start { now: T0 });
    d.run(Event::OrderPlaced { order: order(OrderState::Ready), at: T0 });
    let effects = d.send(Event::Failed(Failure::permanent("the CA refused: bad csr")));
    assert_eq!(
        effects[0],
        Effect::Log {
            level: LogLevel::Warn,
            message: "failed",
            fields: json!({ "reason": "the CA refused: bad csr" })
        }
    );
    let effects = d.send(Event::Reloaded(None));
    assert!(matches!(effects[..], [Effect::Save { action: "cert.failed", .. }]));
    let reason = "the CA refused: bad csr".to_owned();
    assert_eq!(
        d.send(Event::Failed(Failure::transient("store busy"))),
        vec![
            Effect::Trace(TraceLine::FailureNotRecorded { reason: "store busy".into() }),
            Effect::Trace(TraceLine::AttemptFailed { reason: reason.clone(), retry: false }),
            Effect::Finish(Outcome::Fail(reason)),
        ]
    );
}

/// An order the CA invalidated fails with the CA's reasons, after its records are removed.
#[test]
fn invalid_order_is_refused_with_the_cas_reason() {
    let mut d = Driver::new(cert(), job(Request::Issue));
    d.run(Event::Start { now: T0 });
    d.run(Event::OrderPlaced { order: order(OrderState::Invalid), at: T0 });
    let effects = d.send(Event::Reloaded(None));
    assert_eq!(effects, vec![save("cert.failed", json!({ "reason": "the CA refused: a.test: incorrect TXT record" }))]);
}

/// Revocation: the CA call, then the move to revoked with the reason by name, then the deployments
/// marked; a revoked certificate only finishes the marking; a serial that is no longer current is
/// refused; a failed CA call retries only while attempts are left.
#[test]
fn revoke_marks_revoked_then_deployments() {
    let c = issued_cert("0a", T0.saturating_add(DAY * 30));
    let mut d = Driver::new(c.clone(), job(Request::Revoke { reason: Some(1), serial: Some("0a".into()) }));
    assert_eq!(
        d.send(Event::Start { now: T0 }),
        vec![
            Effect::Step("revoking"),
            Effect::Revoke { chain_pem: "chain-0a".into(), reason: Some(1), account_id: c.acme_account_id.unwrap() }
        ]
    );
    let effects = d.send(Event::Revoked { at: T0 });
    assert_eq!(effects, vec![save("cert.revoked", json!({ "serial": "0a", "reason": "keyCompromise" }))]);
    let cert = d.engine().certificate();
    assert_eq!((cert.status, cert.revoked_at, cert.renew_at), (CertificateStatus::Revoked, Some(T0), None));
    assert_eq!(d.saved(), vec![info("revoked", json!({ "serial": "0a" })), Effect::MarkRevokedInPlace]);
    assert_eq!(
        d.send(Event::MarkedRevokedInPlace),
        vec![Effect::Step("idle"), Effect::Finish(Outcome::Done("revoked serial 0a".into()))]
    );

    let mut revoked = c.clone();
    revoked.status = CertificateStatus::Revoked;
    let mut d = Driver::new(revoked, job(Request::Revoke { reason: None, serial: None }));
    assert_eq!(d.send(Event::Start { now: T0 }), vec![Effect::MarkRevokedInPlace]);
    assert_eq!(d.send(Event::MarkedRevokedInPlace), vec![Effect::Finish(Outcome::Done("already revoked".into()))]);

    let (_, effects) =
        CertificateEngine::new(c.clone(), job(Request::Revoke { reason: None, serial: Some("09".into()) }))
            .step(Event::Start { now: T0 });
    assert_eq!(
        effects,
        vec![Effect::Finish(Outcome::Fail(
            "the certificate was renewed after serial 09 was asked to be revoked; ask again to revoke the current one"
                .into()
        ))]
    );

    for (attempt, outcome) in [(1, Outcome::Retry("ca down".into())), (3, Outcome::Fail("ca down".into()))] {
        let mut run = job(Request::Revoke { reason: None, serial: None });
        run.attempt = attempt;
        let (engine, _) = CertificateEngine::new(c.clone(), run).step(Event::Start { now: T0 });
        let (_, effects) = engine.step(Event::Failed(Failure::transient("ca down")));
        assert_eq!(
            effects,
            vec![
                Effect::ReportError("ca down".into()),
                Effect::Log {
                    level: LogLevel::Warn,
                    message: "revocation failed",
                    fields: json!({ "reason": "ca down" })
                },
                Effect::Finish(outcome),
            ]
        );
    }
}

/// Moves the status table forbids end the job without a save: renewing or revoking what was never
/// issued, issuing again after a failed renewal.
#[test]
fn illegal_transitions_finish_without_saving() {
    let mut failed_renewal = issued_cert("a", T0.saturating_add(DAY * 30));
    failed_renewal.status = CertificateStatus::Failed;
    for (c, request, message) in [
        (
            cert(),
            Request::Renew { by_hand: true, for_not_after: None },
            "a requested certificate cannot take StartRenew",
        ),
        (cert(), Request::Revoke { reason: None, serial: None }, "a requested certificate cannot take Revoked"),
        (failed_renewal, Request::Issue, "a failed certificate cannot take StartIssue"),
    ] {
        let (engine, effects) = CertificateEngine::new(c, job(request)).step(Event::Start { now: T0 });
        assert_eq!(effects, vec![Effect::Finish(Outcome::Fail(message.into()))]);
        assert!(engine.is_finished());
    }
    // An event the engine does not wait for ends the job instead of guessing.
    let (_, effects) = CertificateEngine::new(cert(), job(Request::Issue)).step(Event::TxtPublished);
    assert!(matches!(effects[..], [Effect::Finish(Outcome::Fail(_))]));
}

/// The fixture `mark_issued` reaches `issued` through the status table from requested and from
/// issued (a renewal), and derives the renewal time.
#[test]
fn mark_issued_goes_through_the_table() {
    let mut c = cert();
    c.mark_issued("01".into(), T0, T0.saturating_add(DAY * 90), "ab".into());
    assert_eq!((c.status, c.renew_at), (CertificateStatus::Issued, Some(T0.saturating_add(DAY * 60))));
    c.mark_issued("02".into(), T0, T0.saturating_add(DAY * 30), "cd".into());
    assert_eq!((c.status, c.serial.as_deref()), (CertificateStatus::Issued, Some("02")));
}

mod fallback;

/// The CSR policy `new`: an issuance from the operator's CSR uses it up, so the certificate is not
/// due for the renewal scan and a renewal (even by hand) refuses until a new CSR is given; under
/// `reuse` the same CSR renews again.
#[test]
fn a_csr_used_up_by_its_issuance_stops_renewal_until_a_new_one() {
    use crate::store::Record;
    let mut c = cert();
    c.csr_pem = Some("-----BEGIN CERTIFICATE REQUEST-----".into());
    c.csr_renewal = crate::model::CsrRenewal::New;
    c.status = CertificateStatus::Issuing;
    let mut issued = issuance("01", T0.saturating_add(DAY * 90));
    issued.private_key = None;
    apply_issuance(&mut c, issued, T0).unwrap();
    assert!(c.waiting_for_csr(), "the CSR made this certificate");
    assert_eq!(c.due_at(), None, "not due while waiting for a new CSR");
    let mut d = Driver::new(c.clone(), job(Request::Renew { by_hand: true, for_not_after: None }));
    assert_eq!(d.send(Event::Start { now: T0 }), vec![Effect::Finish(Outcome::Fail(NEEDS_NEW_CSR.into()))]);
    c.csr_spent = false;
    assert_eq!(c.due_at(), c.renew_at, "due again once a new CSR is given");
    c.csr_renewal = crate::model::CsrRenewal::Reuse;
    c.status = CertificateStatus::Renewing;
    apply_issuance(&mut c, issuance("02", T0.saturating_add(DAY * 90)), T0).unwrap();
    assert!(c.csr_spent && !c.waiting_for_csr(), "reuse: the same CSR renews again");
    assert_eq!(c.due_at(), c.renew_at);
}
