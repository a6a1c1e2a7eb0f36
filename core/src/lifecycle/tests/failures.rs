//! The engine's failures and revocation, driven by events alone: retries while attempts are left,
//! permanent refusals with the CA's reasons, revocation's steps, transitions the table refuses, and
//! what an issuance does to the CSR it used (the fixtures are the parent module's).

use super::*;

/// A transient failure with attempts left keeps the challenge records (the retry resumes the order,
/// and the CA may still be validating them), records `cert.retrying` on the reloaded record (status
/// and order kept, records still listed for the cleanup) and asks for a retry; the same failure on
/// the last attempt removes the records, abandons the order and fails the certificate.
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
        let effects = if retry {
            d.send(Event::Failed(failure))
        } else {
            assert_eq!(d.send(Event::Failed(failure)), vec![Effect::RemoveTxt { records: vec![record()] }]);
            d.run(Event::TxtRemoved)
        };
        let at = if retry { 0 } else { 1 };
        let message = if retry { "attempt failed; will retry" } else { "failed" };
        assert_eq!(
            effects[at..],
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
            let order = cert.order.as_ref().expect("the order is kept for the retry");
            assert_eq!(order.published, vec![record()], "its records stay listed for the attempt that decides it");
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
