//! The router actor: runs routing rounds one after another — at once while there is progress, after
//! the poll interval when the chain has nothing new, after a growing backoff when the store fails —
//! and the watch's full sweep at its own period. Invariant: at most one round is in flight, and a
//! stop waits for it, so a batch is never cut off between its jobs and its cursor.

use std::time::{Duration, Instant};

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Running, WrapFuture};
use certautopilot_core::model::Fence;

use super::route::{Round, Router};
use super::{NotifySettings, RouterSnapshot};
use crate::issuance::IssuanceDeps;
use crate::pace::Pace;
use crate::registry::Probe;
use crate::supervisor::{ForcePanic, Lifeline, Spawn};

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

pub struct RouterActor {
    /// Taken by the round in flight, put back when it ends.
    router: Option<Router>,
    pace: Pace,
    sweep: Duration,
    next_sweep: Instant,
    counters: RouterSnapshot,
    stop_after_round: bool,
    probe: std::sync::Arc<Probe>,
    _lifeline: Lifeline,
}

impl RouterActor {
    pub(super) fn new(deps: IssuanceDeps, settings: NotifySettings, fence: Option<Fence>, spawn: Spawn) -> Self {
        RouterActor {
            pace: Pace::new(settings.poll, FIRST_BACKOFF, MAX_BACKOFF),
            sweep: settings.sweep,
            // The first round sweeps: watches start from what the store holds now.
            next_sweep: Instant::now(),
            router: Some(Router::new(deps, settings, fence)),
            counters: RouterSnapshot::default(),
            stop_after_round: false,
            probe: spawn.probe,
            _lifeline: spawn.lifeline,
        }
    }

    fn start_round(&mut self, ctx: &mut Context<Self>) {
        let Some(mut router) = self.router.take() else { return };
        let sweep = Instant::now() >= self.next_sweep;
        if sweep {
            self.next_sweep = Instant::now() + self.sweep;
        }
        self.probe.set_state(if sweep { "sweeping" } else { "routing" });
        let work = async move {
            let round = router.round(sweep).await;
            (router, round)
        };
        ctx.spawn(work.into_actor(self).map(|(router, round), act, ctx| {
            act.router = Some(router);
            act.finish_round(round, ctx);
        }));
    }

    fn finish_round(&mut self, round: Round, ctx: &mut Context<Self>) {
        let c = &mut self.counters;
        c.entries_read += round.entries_read;
        c.queued += round.queued;
        c.watch_events += round.watch_events;
        c.chain_breaks += round.chain_breaks;
        if round.swept {
            c.last_sweep_at = Some(certautopilot_core::Timestamp::now().to_rfc3339());
        }
        if let Some(error) = &round.failure {
            tracing::warn!(error = %error, retry_in = ?self.pace.backoff(), "notification routing failed; will retry");
            self.counters.last_error = Some(error.clone());
        }
        let wait = self.pace.after(round.failure.is_some(), round.progressed);
        self.probe.set_state("idle");
        self.probe.set_detail(serde_json::to_value(&self.counters).unwrap_or_default());
        if self.stop_after_round {
            return ctx.stop();
        }
        match wait {
            None => self.start_round(ctx),
            Some(wait) => {
                ctx.run_later(wait, |act, ctx| act.start_round(ctx));
            }
        }
    }
}

impl Actor for RouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::info!("notification router started");
        self.start_round(ctx);
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.router.is_none() {
            self.stop_after_round = true;
            return Running::Continue;
        }
        Running::Stop
    }
}

impl Handler<ForcePanic> for RouterActor {
    type Result = ();

    fn handle(&mut self, _: ForcePanic, _: &mut Context<Self>) {
        panic!("forced panic in the notification router");
    }
}
