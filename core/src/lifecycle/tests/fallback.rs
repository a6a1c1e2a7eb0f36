//! Fallback issuers, driven by events: a failure that is the CA's own moves the run to the next
//! issuer (after its records are removed), one that is not is recorded; the issuer that issued is
//! recorded, renewals start again with the first (or stay, when asked), revocations go to it.

use super::*;

fn with_fallback() -> (Certificate, AcmeAccountId, AcmeAccountId) {
    let mut c = cert();
    let second = AcmeAccountId::new();
    c.fallback_account_ids = vec![second];
    let first = c.acme_account_id.unwrap();
    (c, first, second)
}

fn place(sans: &str, account_id: AcmeAccountId) -> Effect {
    Effect::PlaceOrder { sans: vec![sans.into()], account_id }
}

fn ca_down() -> Failure {
    Failure::transient("ACME CA unreachable: connection refused").at_the_ca()
}

/// The first CA is down when the order is placed: the move to the second is saved with both
/// accounts and the reason, the next order goes to the second, and it is recorded as the issuer.
#[test]
fn an_unreachable_first_issuer_falls_back_to_the_next() {
    let (c, first, second) = with_fallback();
    let mut d = Driver::new(c, job(Request::Issue));
    assert_eq!(d.run(Event::Start { now: T0 }).last(), Some(&place("a.test", first)));
    let details = json!({ "from_account_id": first, "to_account_id": second,
        "reason": "ACME CA unreachable: connection refused" });
    let effects = d.run(Event::Failed(ca_down()));
    assert_eq!(
        effects,
        vec![
            Effect::Log {
                level: LogLevel::Warn,
                message: "the issuer could not issue; trying the next one",
                fields: details.clone()
            },
            save("cert.issuer_fallback", details),
            Effect::Step("issuing"),
            Effect::Step("placing order"),
            place("a.test", second),
        ]
    );
    d.run(Event::OrderPlaced { order: order(OrderState::Valid), at: T0 });
    assert_eq!(d.engine().certificate().order.as_ref().and_then(|o| o.account_id), Some(second));
    d.run(Event::Downloaded { issuance: Box::new(issuance("02", T0.saturating_add(DAY * 90))), at: T0 });
    let stored = d.engine().certificate();
    assert_eq!((stored.status, stored.issued_by), (CertificateStatus::Issued, Some(second)));
    assert_eq!(stored.last_error, None, "a fallback that issued leaves no error");
}

/// A failure that is not the CA's own (the names' DNS) is recorded at once: another CA would fail
/// the same way, so no fallback is tried.
#[test]
fn a_failure_another_ca_would_share_does_not_fall_back() {
    let (c, first, _) = with_fallback();
    let mut d = Driver::new(c, job(Request::Issue));
    d.run(Event::Start { now: T0 });
    let effects = d.run(Event::Failed(Failure::permanent("no zone serves a.test")));
    assert!(!effects.iter().any(|e| matches!(e, Effect::PlaceOrder { .. })), "{effects:?}");
    assert_eq!(effects.last(), Some(&Effect::Reload));
    let effects = d.run(Event::Reloaded(None));
    assert!(matches!(effects.last(), Some(Effect::Finish(Outcome::Fail(_)))), "{effects:?}");
    assert_eq!(d.engine().certificate().status, CertificateStatus::Failed);
    assert_eq!(d.engine().certificate().issued_by, None);
    assert!(d.saves.iter().all(|(a, _)| *a != "cert.issuer_fallback"), "{:?} ({first})", d.saves);
}

/// Every issuer down: each is tried once, then the failure is recorded naming how many were tried,
/// and (transient, attempts left) the job is retried from the first issuer.
#[test]
fn every_issuer_failing_records_the_last_failure_and_retries() {
    let (c, first, second) = with_fallback();
    let mut d = Driver::new(c, job(Request::Issue));
    d.run(Event::Start { now: T0 });
    assert_eq!(d.run(Event::Failed(ca_down())).last(), Some(&place("a.test", second)));
    let effects = d.run(Event::Failed(ca_down()));
    assert_eq!(effects.last(), Some(&Effect::Reload), "no third issuer: {effects:?}");
    let effects = d.run(Event::Reloaded(None));
    let reason = "ACME CA unreachable: connection refused (the last of 2 issuers tried)";
    assert_eq!(d.engine().certificate().last_error.as_deref(), Some(reason));
    assert_eq!(effects.last(), Some(&Effect::Finish(Outcome::Retry(reason.into()))));
    let mut retry = Driver::new(d.engine().certificate().clone(), JobRun { attempt: 2, ..job(Request::Issue) });
    assert_eq!(retry.run(Event::Start { now: T0 }).last(), Some(&place("a.test", first)), "the retry starts over");
}

/// An order the CA invalidates by its own policy (CAA) after the challenges were published: the
/// records are removed first, then the next issuer gets a new order.
#[test]
fn a_policy_refusal_removes_the_records_then_falls_back() {
    let (c, _, second) = with_fallback();
    let mut d = Driver::new(c, job(Request::Issue));
    d.run(Event::Start { now: T0 });
    d.run(Event::OrderPlaced { order: order(OrderState::Pending), at: T0 });
    d.run(Event::ChallengesResolved(vec![("a.test".into(), record())]));
    d.run(Event::TxtPublished);
    d.run(Event::Propagated { waited_ms: 1 });
    d.run(Event::ChallengesAnswered);
    let refused = OrderView {
        refusal: "a.test: CAA record forbids issuance".into(),
        refused_by_policy: true,
        ..order(OrderState::Invalid)
    };
    assert_eq!(d.run(Event::OrderPolled(refused)), vec![Effect::RemoveTxt { records: vec![record()] }]);
    let effects = d.run(Event::TxtRemoved);
    assert_eq!(effects.last(), Some(&place("a.test", second)), "{effects:?}");
    assert!(d.saves.iter().any(|(a, _)| *a == "cert.issuer_fallback"), "{:?}", d.saves);
    assert_eq!(d.engine().certificate().order, None, "the refused order is abandoned");
}

/// Once the CSR went to the CA the order is not abandoned, whatever the failure: that CA may still
/// issue, so the failure is recorded for a retry that resumes the same order with it.
#[test]
fn no_fallback_once_the_order_is_finalized() {
    let (c, first, _) = with_fallback();
    let mut d = Driver::new(c, job(Request::Issue));
    d.run(Event::Start { now: T0 });
    d.run(Event::OrderPlaced { order: order(OrderState::Ready), at: T0 });
    d.run(Event::KeyReady { sealed: Some(sealed("pending")) });
    assert!(d.engine().certificate().order.as_ref().is_some_and(|o| o.finalized));
    let effects = d.run(Event::Failed(Failure::transient("the CA did not finish within 5 s").at_the_ca()));
    assert_eq!(effects.last(), Some(&Effect::Reload), "{effects:?}");
    let effects = d.run(Event::Reloaded(None));
    assert!(matches!(effects.last(), Some(Effect::Finish(Outcome::Retry(_)))), "{effects:?}");
    assert!(d.saves.iter().all(|(a, _)| *a != "cert.issuer_fallback"), "{:?}", d.saves);
    let kept = d.engine().certificate().order.clone().expect("the order is kept for the retry");
    assert_eq!(kept.account_id, Some(first));
}

/// A renewal starts with the first issuer again (it has recovered, or the run falls back once
/// more); with `keep_fallback_issuer` it starts with the one that issued the current certificate.
/// A revocation goes to the CA that issued.
#[test]
fn renewals_return_to_the_first_issuer_unless_kept_and_revocations_go_to_the_issuer() {
    let (mut c, first, second) = with_fallback();
    c.mark_issued("02".into(), T0, T0.saturating_add(DAY * 90), "fp-02".into());
    c.chain_pem = Some("chain-02".into());
    c.issued_by = Some(second);
    let renew = || job(Request::Renew { by_hand: true, for_not_after: None });
    let mut d = Driver::new(c.clone(), renew());
    assert_eq!(d.run(Event::Start { now: T0 }).last(), Some(&place("a.test", first)));
    c.keep_fallback_issuer = true;
    assert_eq!(c.issuers(), vec![second, first]);
    let mut d = Driver::new(c.clone(), renew());
    assert_eq!(d.run(Event::Start { now: T0 }).last(), Some(&place("a.test", second)));
    let mut d = Driver::new(c, job(Request::Revoke { reason: None, serial: None }));
    let effects = d.send(Event::Start { now: T0 });
    assert!(matches!(effects.last(), Some(Effect::Revoke { account_id, .. }) if *account_id == second), "{effects:?}");
    // A revocation that fails at the CA is not sent to another CA.
    let effects = d.send(Event::Failed(ca_down()));
    assert!(matches!(effects.last(), Some(Effect::Finish(_))), "{effects:?}");
}
