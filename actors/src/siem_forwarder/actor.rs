//! The SIEM forwarder actor: runs delivery rounds one after another — at once while there is
//! progress, after the poll interval when there is nothing to send, after a growing backoff when the
//! destination fails. Invariant: at most one round is in flight, and a stop waits for it, so a batch
//! is never cut off between delivery and its cursor write.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, Handler, Running, WrapFuture};
use certautopilot_core::Timestamp;
use certautopilot_core::store::Store;

use super::delivery::{Delivery, Round};
use super::{ForwarderSnapshot, SiemDestination};
use crate::pace::Pace;
use crate::registry::Probe;
use crate::supervisor::{ForcePanic, Lifeline, Spawn};

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub struct SiemForwarderActor {
    /// Taken by the round in flight, put back when it ends.
    delivery: Option<Delivery>,
    name: String,
    backlog_warn: u64,
    pace: Pace,
    counters: ForwarderSnapshot,
    /// A stop came while a round was in flight: stop once it ends.
    stop_after_round: bool,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl SiemForwarderActor {
    pub(super) fn new(
        store: Arc<dyn Store>,
        destination: SiemDestination,
        hostname: String,
        poll: Duration,
        spawn: Spawn,
    ) -> Self {
        SiemForwarderActor {
            name: destination.name.clone(),
            backlog_warn: destination.backlog_warn,
            counters: ForwarderSnapshot { destination: destination.name.clone(), ..Default::default() },
            delivery: Some(Delivery::new(store, destination, hostname)),
            pace: Pace::new(poll, FIRST_BACKOFF, MAX_BACKOFF),
            stop_after_round: false,
            probe: spawn.probe,
            _lifeline: spawn.lifeline,
        }
    }

    fn start_round(&mut self, ctx: &mut Context<Self>) {
        let Some(mut delivery) = self.delivery.take() else { return };
        self.probe.set_state("sending");
        let work = async move {
            let round = delivery.round().await;
            (delivery, round)
        };
        ctx.spawn(work.into_actor(self).map(|(delivery, round), act, ctx| {
            act.delivery = Some(delivery);
            act.finish_round(round, ctx);
        }));
    }

    fn finish_round(&mut self, round: Round, ctx: &mut Context<Self>) {
        let now = Timestamp::now();
        let c = &mut self.counters;
        c.sent += round.sent;
        c.skipped_corrupt += round.skipped_corrupt;
        c.chain_truncated |= round.chain_truncated;
        c.backlog = round.backlog;
        c.oldest_undelivered_secs = round.oldest.map(|at| now.duration_since(at).as_secs()).unwrap_or(0);
        if round.backlog > self.backlog_warn {
            tracing::error!(destination = %self.name, backlog = round.backlog, "SIEM BACKLOG IS LARGE: the destination is not keeping up or is down");
        }
        let failed = round.failure.is_some();
        if let Some(error) = round.failure {
            tracing::warn!(destination = %self.name, error = %error, retry_in = ?self.pace.backoff(), "siem delivery failed; will retry");
            self.counters.failed_batches += 1;
            self.counters.last_error = Some(error);
        }
        let wait = self.pace.after(failed, round.progressed);
        self.publish(if failed { "retrying" } else { "idle" });
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

    fn publish(&self, state: &str) {
        self.probe.set_state(state);
        self.probe.set_detail(serde_json::to_value(&self.counters).unwrap_or_default());
    }
}

impl Actor for SiemForwarderActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(delivery) = &self.delivery {
            tracing::info!(destination = %self.name, addr = %delivery.destination.transport.addr(), "siem forwarder started");
        }
        self.publish("starting");
        self.start_round(ctx);
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        if self.delivery.is_none() {
            // A round is in flight: let it deliver and store its cursor first.
            self.stop_after_round = true;
            return Running::Continue;
        }
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::info!(destination = %self.name, "siem forwarder stopped");
    }
}

impl Handler<ForcePanic> for SiemForwarderActor {
    type Result = ();

    fn handle(&mut self, _: ForcePanic, _: &mut Context<Self>) {
        panic!("forced panic in the siem forwarder of {}", self.name);
    }
}
