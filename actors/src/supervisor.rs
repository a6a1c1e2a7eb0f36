//! Supervision: start an actor from a factory, and when an instance dies (a panic in a handler, or
//! `ctx.stop()` after an operation whose outcome is unknown) start a fresh one from the factory after a
//! capped, jittered backoff. actix's own `Supervisor` neither catches panics nor waits (STYLE.md §9).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once, RwLock};
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, ArbiterHandle, AsyncContext, Context, Handler, MailboxError, Message,
};
use tokio::sync::{oneshot, watch};

use crate::registry::{ActorRegistry, Probe};

/// Restart delays: `base · 2^(n−1)` for the n-th restart in a row, capped at `max`, each drawn
/// uniformly from its upper half so that actors that died together do not restart together.
#[derive(Debug, Clone, Copy)]
pub struct RestartBackoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RestartBackoff {
    fn default() -> Self {
        RestartBackoff { base: Duration::from_millis(100), max: Duration::from_secs(30) }
    }
}

impl RestartBackoff {
    pub fn delay(&self, restarts_in_a_row: u32) -> Duration {
        let exp = restarts_in_a_row.saturating_sub(1).min(20);
        let full = self.base.saturating_mul(1u32 << exp).min(self.max);
        let half = full / 2;
        half + full.mul_f64(rand::random::<f64>() * 0.5)
    }
}

/// Held by an actor instance for its whole life; its drop tells the supervisor the instance is gone.
pub struct Lifeline {
    died: Option<oneshot::Sender<Death>>,
}

#[derive(Debug, Clone)]
enum Death {
    Panicked(String),
}

impl Drop for Lifeline {
    fn drop(&mut self) {
        // tokio drops a panicking task's future while unwinding, so a panic is visible here.
        if std::thread::panicking()
            && let Some(tx) = self.died.take()
        {
            let message = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_else(|| "panicked".into());
            let _ = tx.send(Death::Panicked(message));
        }
    }
}

thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps the text of the last panic on each thread so the registry can show it as `last_error`.
/// The previous hook still runs (the panic is still logged).
fn capture_panic_messages() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some(format!("panicked: {text}{at}")));
            previous(info);
        }));
    });
}

/// Makes a supervised actor's handler panic: how tests (and owners, with `debug.fault_injection`)
/// prove supervision — the registry counts the restart and the actor works again after it.
pub struct ForcePanic;

impl Message for ForcePanic {
    type Result = ();
}

/// What a factory gets to build one instance.
pub struct Spawn {
    pub probe: Arc<Probe>,
    pub lifeline: Lifeline,
    /// 0 on first start; the instance must reload its state from the store when it is not.
    pub restarts: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActorError {
    #[error("actor {kind}/{key} is restarting; try again")]
    Unavailable { kind: &'static str, key: String },
    #[error("actor {kind}/{key} did not answer in time")]
    Timeout { kind: &'static str, key: String },
}

struct Shared<A: Actor> {
    addr: RwLock<Addr<A>>,
    probe: Arc<Probe>,
    stopping: AtomicBool,
    /// Set once by `stop`; each instance and the watcher listen to it.
    stop: watch::Sender<bool>,
    finished: watch::Sender<bool>,
}

/// A handle that always reaches the current instance of a supervised actor.
pub struct Supervised<A: Actor> {
    shared: Arc<Shared<A>>,
}

impl<A: Actor> Clone for Supervised<A> {
    fn clone(&self) -> Self {
        Supervised { shared: self.shared.clone() }
    }
}

type Factory<A> = Arc<dyn Fn(Spawn) -> A + Send + Sync>;

/// Starts `factory`'s actor on `arbiter`, registered as (kind, key), and keeps it running until
/// [`Supervised::stop`].
pub fn supervise<A, F>(
    registry: &ActorRegistry,
    kind: &'static str,
    key: impl Into<String>,
    arbiter: &ArbiterHandle,
    backoff: RestartBackoff,
    factory: F,
) -> Supervised<A>
where
    A: Actor<Context = Context<A>>,
    F: Fn(Spawn) -> A + Send + Sync + 'static,
{
    capture_panic_messages();
    let key = key.into();
    let probe = registry.register(kind, key.clone());
    let factory: Factory<A> = Arc::new(factory);
    let (stop, stop_rx) = watch::channel(false);
    let (addr, mut died) = start_instance(arbiter, &factory, &probe, 0, stop_rx.clone());
    let shared = Arc::new(Shared {
        addr: RwLock::new(addr),
        probe: probe.clone(),
        stopping: AtomicBool::new(false),
        stop,
        finished: watch::channel(false).0,
    });
    let watch = shared.clone();
    let arbiter = arbiter.clone();
    let registry = registry.clone();
    // The watcher only awaits channels, so it can live on whichever runtime the caller runs. If
    // that runtime goes away first, the guard still tells `stop` the actor is finished.
    tokio::spawn(async move {
        let _finished = FinishOnDrop { shared: watch.clone(), registry: registry.clone(), kind };
        let mut in_a_row = 0u32;
        loop {
            let started = Instant::now();
            // Resolves when the instance is dropped, whatever ended it (a `stop` included).
            let death = (&mut died).await.ok();
            watch.probe.set_alive(false);
            if watch.stopping.load(Ordering::Acquire) {
                break;
            }
            let reason = match death {
                Some(Death::Panicked(message)) => message,
                None => "stopped itself".to_owned(),
            };
            // A long healthy run forgives earlier crashes.
            if started.elapsed() > backoff.max * 2 {
                in_a_row = 0;
            }
            in_a_row += 1;
            watch.probe.count_restart();
            watch.probe.set_error(reason.clone());
            watch.probe.set_state("restarting");
            let delay = backoff.delay(in_a_row);
            tracing::warn!(kind, key = %watch.probe.key(), %reason, delay_ms = delay.as_millis() as u64, "actor died; restarting");
            let mut stop_rx = stop_rx.clone();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop_rx.wait_for(|stop| *stop) => break,
            }
            let (addr, next) =
                start_instance(&arbiter, &factory, &watch.probe, watch.probe.restarts(), stop_rx.clone());
            *watch.addr.write().unwrap_or_else(|e| e.into_inner()) = addr;
            died = next;
        }
        watch.probe.set_state("stopped");
    });
    Supervised { shared }
}

/// Deregisters a supervised actor and releases `stop`'s waiters when its watcher ends, however it
/// ends (its loop done, or its task dropped with the runtime it was spawned on).
struct FinishOnDrop<A: Actor> {
    shared: Arc<Shared<A>>,
    registry: ActorRegistry,
    kind: &'static str,
}

impl<A: Actor> Drop for FinishOnDrop<A> {
    fn drop(&mut self) {
        self.registry.deregister(self.kind, self.shared.probe.key());
        self.shared.finished.send_replace(true);
    }
}

fn start_instance<A>(
    arbiter: &ArbiterHandle,
    factory: &Factory<A>,
    probe: &Arc<Probe>,
    restarts: u32,
    mut stop: watch::Receiver<bool>,
) -> (Addr<A>, oneshot::Receiver<Death>)
where
    A: Actor<Context = Context<A>>,
{
    let (tx, rx) = oneshot::channel();
    let spawn = Spawn { probe: probe.clone(), lifeline: Lifeline { died: Some(tx) }, restarts };
    let factory = factory.clone();
    probe.set_alive(true);
    let addr = A::start_in_arbiter(arbiter, move |ctx: &mut Context<A>| {
        // Callers may still hold addresses, so an instance is stopped from inside its own context.
        ctx.spawn(
            actix::fut::wrap_future::<_, A>(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            })
            .map(|(), _, ctx: &mut Context<A>| ctx.stop()),
        );
        factory(spawn)
    });
    (addr, rx)
}

impl<A: Actor<Context = Context<A>>> Supervised<A> {
    pub fn probe(&self) -> &Arc<Probe> {
        &self.shared.probe
    }

    /// The current instance's address, for callers that must reach it from outside async code.
    pub fn addr(&self) -> Addr<A> {
        self.shared.addr.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends and waits for the answer. A message caught in a dying instance's mailbox fails with
    /// `Unavailable`; the caller decides whether to try again.
    pub async fn send<M>(&self, message: M) -> Result<M::Result, ActorError>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message + Send + 'static,
        M::Result: Send,
    {
        let addr = self.addr();
        let _count = self.count_message();
        addr.send(message).await.map_err(|e| self.error(e))
    }

    /// The detail the current (or last) instance published, read as its snapshot type; the
    /// type's default while nothing was published yet. Readable while the actor restarts.
    pub fn detail<T: serde::de::DeserializeOwned + Default>(&self) -> T {
        serde_json::from_value(self.shared.probe.snapshot().detail).unwrap_or_default()
    }

    /// Makes the current instance panic (tests and `debug.fault_injection`).
    pub async fn force_panic(&self)
    where
        A: Handler<ForcePanic>,
    {
        // The panicking message gets no answer; the restart is what callers watch for.
        let _ = self.send(ForcePanic).await;
    }

    /// Counts one message for the mailbox depth; the depth drops when the guard does.
    pub fn count_message(&self) -> impl Drop + use<A> {
        self.shared.probe.message_sent();
        Answered(self.shared.probe.clone())
    }

    pub fn error(&self, e: MailboxError) -> ActorError {
        let (kind, key) = (self.shared.probe.kind(), self.shared.probe.key().to_owned());
        match e {
            MailboxError::Closed => ActorError::Unavailable { kind, key },
            MailboxError::Timeout => ActorError::Timeout { kind, key },
        }
    }

    /// Stops the actor for good (shutdown or passivation) and waits until it is gone from the registry.
    pub async fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.stop.send_replace(true);
        let mut finished = self.shared.finished.subscribe();
        let _ = finished.wait_for(|done| *done).await;
    }
}

struct Answered(Arc<Probe>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.message_answered();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::wait_for;

    struct Counter {
        total: u32,
        probe: Arc<Probe>,
        _lifeline: Lifeline,
    }

    impl Actor for Counter {
        type Context = Context<Self>;
        fn started(&mut self, _: &mut Context<Self>) {
            self.probe.set_state("counting");
        }
    }

    struct Add(u32);
    impl Message for Add {
        type Result = u32;
    }
    impl Handler<Add> for Counter {
        type Result = u32;
        fn handle(&mut self, msg: Add, _: &mut Context<Self>) -> u32 {
            self.total += msg.0;
            self.total
        }
    }

    struct Boom;
    impl Message for Boom {
        type Result = ();
    }
    impl Handler<Boom> for Counter {
        type Result = ();
        fn handle(&mut self, _: Boom, _: &mut Context<Self>) {
            panic!("boom in a handler");
        }
    }

    struct Quit;
    impl Message for Quit {
        type Result = ();
    }
    impl Handler<Quit> for Counter {
        type Result = ();
        fn handle(&mut self, _: Quit, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    fn counter(registry: &ActorRegistry) -> Supervised<Counter> {
        let backoff = RestartBackoff { base: Duration::from_millis(5), max: Duration::from_millis(50) };
        supervise(registry, "counter", "c1", &actix::Arbiter::current(), backoff, |spawn: Spawn| Counter {
            // A restarted instance starts from what the store says; here that is zero.
            total: 0,
            probe: spawn.probe,
            _lifeline: spawn.lifeline,
        })
    }

    async fn add_until_alive(actor: &Supervised<Counter>, n: u32) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match actor.send(Add(n)).await {
                Ok(total) => return total,
                Err(ActorError::Unavailable { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => panic!("counter never came back: {e}"),
            }
        }
    }

    /// A panic in a handler: the registry shows one restart and the panic as the last error, and
    /// the actor answers again from fresh state.
    #[actix_rt::test]
    async fn a_panicking_actor_is_restarted_from_its_factory() {
        let registry = ActorRegistry::new();
        let actor = counter(&registry);
        assert_eq!(actor.send(Add(2)).await, Ok(2));
        assert!(actor.send(Boom).await.is_err(), "the panicking message gets no answer");
        let snap = wait_for(&registry, "counter", "c1", "restart", |s| s.restarts == 1 && s.alive).await;
        assert!(snap.last_error.as_deref().is_some_and(|e| e.contains("boom in a handler")), "{snap:?}");
        assert_eq!(add_until_alive(&actor, 3).await, 3, "fresh state after the restart");
        let snap = wait_for(&registry, "counter", "c1", "counting", |s| s.state == "counting").await;
        assert_eq!((snap.restarts, snap.mailbox_depth), (1, 0));
        actor.stop().await;
        assert!(registry.get("counter", "c1").is_none());
    }

    /// An instance that stops itself (an unknown outcome) is restarted; a `stop` is final.
    #[actix_rt::test]
    async fn self_stop_restarts_but_stop_is_final() {
        let registry = ActorRegistry::new();
        let actor = counter(&registry);
        actor.send(Quit).await.expect("quit answered");
        wait_for(&registry, "counter", "c1", "restart after ctx.stop", |s| s.restarts == 1).await;
        assert_eq!(add_until_alive(&actor, 1).await, 1);
        actor.stop().await;
        assert_eq!(actor.send(Add(1)).await, Err(ActorError::Unavailable { kind: "counter", key: "c1".into() }));
    }

    /// Delays double per restart in a row, stay within the upper half of each step, and are capped.
    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let b = RestartBackoff { base: Duration::from_millis(100), max: Duration::from_secs(1) };
        for _ in 0..100 {
            let d1 = b.delay(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100), "{d1:?}");
            let d3 = b.delay(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400), "{d3:?}");
            assert!(b.delay(30) <= Duration::from_secs(1));
        }
    }
}
