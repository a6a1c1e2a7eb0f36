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

mod failures;
mod fallback;
mod interrupted;
