//! A run whose job is asked to stop part-way: from then on the runtime answers every effect that
//! may fail with `Failed` (it does none of them), and the engine must still reach `Finish`, from any
//! step of an issuance, a renewal or a revocation (the fixtures are the parent module's).

use super::*;

const INTERRUPTED: &str = "the job was interrupted (shutdown or lost lease)";

/// What the runtime answers `effect` with when all goes well (`None` for an effect not awaited).
fn answer(engine: &CertificateEngine, effect: &Effect) -> Option<Event> {
    let event = match effect {
        Effect::Save { .. } => {
            let mut stored = engine.certificate().clone();
            stored.version += 1;
            Event::Saved(Box::new(stored))
        }
        Effect::PlaceOrder { .. } => Event::OrderPlaced { order: order(OrderState::Pending), at: T0 },
        Effect::FetchOrder { .. } => Event::OrderFetched(order(OrderState::Pending)),
        Effect::ResolveChallenges { .. } => Event::ChallengesResolved(vec![("a.test".into(), record())]),
        Effect::PublishTxt { .. } => Event::TxtPublished,
        Effect::AwaitPropagation { .. } => Event::Propagated { waited_ms: 40 },
        Effect::AnswerChallenges { .. } => Event::ChallengesAnswered,
        Effect::PollOrder { until: PollUntil::NotPending, .. } => Event::OrderPolled(order(OrderState::Ready)),
        Effect::PollOrder { until: PollUntil::NotProcessing, .. } => Event::OrderPolled(order(OrderState::Valid)),
        Effect::RemoveTxt { .. } => Event::TxtRemoved,
        Effect::PrepareKey { .. } => Event::KeyReady { sealed: Some(sealed("pending")) },
        Effect::Finalize { .. } => Event::OrderFinalized(order(OrderState::Processing)),
        Effect::Download { .. } => {
            Event::Downloaded { issuance: Box::new(issuance("02", T0.saturating_add(DAY * 90))), at: T0 }
        }
        Effect::Reload => Event::Reloaded(Some(Box::new(engine.certificate().clone()))),
        Effect::Revoke { .. } => Event::Revoked { at: T0 },
        Effect::MarkRevokedInPlace => Event::MarkedRevokedInPlace,
        _ => return None,
    };
    Some(event)
}

/// Runs `cert` through `run`, answering as all goes well until `stop_at` effects that may fail
/// were done, then as an interrupted runtime does. The outcome, and how many such effects were done.
fn run_stopping_at(cert: Certificate, run: JobRun, stop_at: usize) -> (Outcome, usize) {
    let mut engine = CertificateEngine::new(cert, run);
    let mut event = Event::Start { now: T0 };
    let mut done = 0;
    for _ in 0..200 {
        let (next, effects) = engine.step(event);
        engine = next;
        let mut answered = None;
        for effect in effects {
            if let Effect::Finish(outcome) = effect {
                return (outcome, done);
            }
            if effect.may_fail() && done >= stop_at {
                answered = Some(Event::Failed(Failure::transient(INTERRUPTED)));
            } else if let Some(answer) = answer(&engine, &effect) {
                done += usize::from(effect.may_fail());
                answered = Some(answer);
            }
        }
        event = answered.expect("the engine awaits an answer or finishes");
    }
    panic!("stopped at {stop_at}: the engine did not finish within 200 steps");
}

/// From every step of an issuance, a renewal and a revocation, a run whose effects are refused from
/// then on ends, and not as done: with a retry while attempts are left. Left alone, each run ends done.
#[test]
fn an_interrupted_run_ends_from_any_step() {
    let not_after = T0.saturating_add(DAY * 10);
    let requests = [
        (cert(), Request::Issue),
        (issued_cert("01", not_after), Request::Renew { by_hand: true, for_not_after: None }),
        (issued_cert("01", not_after), Request::Revoke { reason: None, serial: Some("01".into()) }),
    ];
    for (cert, request) in requests {
        let (outcome, all) = run_stopping_at(cert.clone(), job(request.clone()), usize::MAX);
        assert!(matches!(outcome, Outcome::Done(_)), "{request:?} left alone: {outcome:?}");
        assert!(all >= 2, "{request:?} does some work: {all}");
        for stop_at in 0..all {
            for attempt in [1, 3] {
                let mut run = job(request.clone());
                run.attempt = attempt;
                let (outcome, done) = run_stopping_at(cert.clone(), run, stop_at);
                assert_eq!(done, stop_at, "{request:?}: nothing is done once the run is interrupted");
                let context = format!("{request:?} interrupted after {stop_at} of {all}, attempt {attempt}");
                match outcome {
                    Outcome::Retry(reason) => assert_eq!(reason, INTERRUPTED, "{context}"),
                    // On the last attempt the failure may be recorded as the certificate's.
                    Outcome::Fail(reason) if attempt == 3 => assert_eq!(reason, INTERRUPTED, "{context}"),
                    other => panic!("{context}: {other:?}"),
                }
            }
        }
    }
}
