//! The KEK actor: the one place in a process where data keys are wrapped and unwrapped. It owns the
//! KEK provider (a key file or a PKCS#11 session), serializes every operation on it on its own
//! thread, keeps a bounded cache of unwrapped data keys, and reports versions, cache and rotation
//! progress to the actor registry. `KekClient` puts it behind the `KekProvider` trait the envelope uses.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::Duration;

use actix::{Actor, Arbiter, AsyncContext, Context, Handler, Message};
use certautopilot_core::crypto::{KekError, KekProvider, SecretBytes, WrappedDek};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::registry::{ActorRegistry, Probe};
use crate::supervisor::{Lifeline, RestartBackoff, Spawn, Supervised, supervise};

pub mod rotation_job;

pub const KIND: &str = "kek";

type Reply<T> = SyncSender<Result<T, KekError>>;
/// One result per data key: the new version and wrapped bytes, or why that key failed.
pub type Rewrapped = Vec<Result<(u32, Vec<u8>), KekError>>;

/// Wrap a fresh data key under the current version.
pub struct Wrap {
    pub dek: SecretBytes,
    pub aad: [u8; 32],
    pub reply: Reply<(u32, Vec<u8>)>,
}

pub struct Unwrap {
    pub key: WrappedDek,
    pub reply: Reply<SecretBytes>,
}

pub struct RewrapMany {
    pub items: Vec<WrappedDek>,
    pub reply: SyncSender<Rewrapped>,
}

/// Create a version numbered above `floor` and every version held.
pub struct CreateVersion {
    pub floor: u32,
    pub reply: Reply<u32>,
}

/// Check data keys open under the current provider alone (a migration's final proof).
pub struct VerifyMany {
    pub items: Vec<WrappedDek>,
    pub reply: SyncSender<Vec<Result<(), KekError>>>,
}

/// Destroy the previous provider's keys (`kek retire --previous`).
pub struct RetirePrevious {
    pub reply: Reply<Vec<u32>>,
}

pub struct RetireVersion {
    pub version: u32,
    pub reply: Reply<()>,
}

pub struct Describe {
    pub reply: Reply<KekDetail>,
}

/// Progress of a rotation running in this process, published with the actor's snapshot.
pub struct ReportRotation(pub Option<RotationStatus>);

macro_rules! unit_messages {
    ($($name:ty),*) => { $(impl Message for $name { type Result = (); })* };
}
unit_messages!(
    Wrap,
    Unwrap,
    RewrapMany,
    CreateVersion,
    VerifyMany,
    RetirePrevious,
    RetireVersion,
    Describe,
    ReportRotation
);

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct RotationStatus {
    pub target_version: u32,
    pub done: u64,
    pub total: u64,
}

/// The actor's snapshot detail: secret-free figures only.
#[derive(Debug, Clone, Serialize)]
pub struct KekDetail {
    pub provider: String,
    pub current_version: u32,
    pub versions: Vec<u32>,
    /// While a migration away from it is pending: the previous provider and the versions it holds.
    pub previous: Option<PreviousKek>,
    pub cache_entries: usize,
    pub cache_capacity: usize,
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub wraps: u64,
    pub unwraps: u64,
    pub token_calls: Option<u64>,
    pub rotation: Option<RotationStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PreviousKek {
    pub provider: String,
    pub versions: Vec<u32>,
}

/// Unwrapped data keys by (version, wrapped bytes, AAD), least recently used evicted first. A hit
/// means exactly these bytes opened under this AAD before, so it proves what an unwrap would.
struct DekCache {
    capacity: usize,
    entries: HashMap<[u8; 32], (u32, SecretBytes, u64)>,
    by_use: BTreeMap<u64, [u8; 32]>,
    tick: u64,
    hits: u64,
    misses: u64,
}

impl DekCache {
    fn new(capacity: usize) -> Self {
        DekCache { capacity, entries: HashMap::new(), by_use: BTreeMap::new(), tick: 0, hits: 0, misses: 0 }
    }

    fn key(key: &WrappedDek) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(key.version.to_be_bytes());
        h.update((key.wrapped.len() as u32).to_be_bytes());
        h.update(&key.wrapped);
        h.update(key.aad);
        h.finalize().into()
    }

    fn get(&mut self, id: &[u8; 32]) -> Option<SecretBytes> {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(id) {
            Some((_, dek, used)) => {
                self.by_use.remove(used);
                *used = tick;
                self.by_use.insert(tick, *id);
                self.hits += 1;
                Some(dek.clone())
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    fn insert(&mut self, id: [u8; 32], version: u32, dek: SecretBytes) {
        if self.capacity == 0 {
            return;
        }
        while self.entries.len() >= self.capacity {
            match self.by_use.pop_first() {
                Some((_, oldest)) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        self.tick += 1;
        if let Some((_, _, old)) = self.entries.insert(id, (version, dek, self.tick)) {
            self.by_use.remove(&old);
        }
        self.by_use.insert(self.tick, id);
    }

    fn forget_version(&mut self, version: u32) {
        let by_use = &mut self.by_use;
        self.entries.retain(|_, (v, _, used)| {
            let keep = *v != version;
            if !keep {
                by_use.remove(used);
            }
            keep
        });
    }
}

pub struct KekActor {
    provider: Arc<dyn KekProvider>,
    cache: DekCache,
    probe: Arc<Probe>,
    current: Arc<AtomicU32>,
    wraps: u64,
    unwraps: u64,
    rotation: Option<RotationStatus>,
    _lifeline: Lifeline,
}

impl KekActor {
    fn unwrap_one(&mut self, key: &WrappedDek) -> Result<SecretBytes, KekError> {
        let id = DekCache::key(key);
        if let Some(dek) = self.cache.get(&id) {
            return Ok(dek);
        }
        self.unwraps += 1;
        let dek = self.provider.unwrap(key.version, &key.wrapped, &key.aad)?;
        self.cache.insert(id, key.version, dek.clone());
        Ok(dek)
    }

    fn wrap_one(&mut self, dek: &SecretBytes, aad: &[u8; 32]) -> Result<(u32, Vec<u8>), KekError> {
        self.wraps += 1;
        self.provider.wrap(dek.expose(), aad)
    }

    fn detail(&self) -> KekDetail {
        KekDetail {
            provider: self.provider.describe(),
            current_version: self.provider.current_version(),
            versions: self.provider.versions(),
            previous: self.provider.previous().map(|(provider, versions)| PreviousKek { provider, versions }),
            cache_entries: self.cache.entries.len(),
            cache_capacity: self.cache.capacity,
            cache_hits: self.cache.hits,
            cache_misses: self.cache.misses,
            wraps: self.wraps,
            unwraps: self.unwraps,
            token_calls: self.provider.token_calls(),
            rotation: self.rotation,
        }
    }

    fn publish(&self) {
        let detail = self.detail();
        self.current.store(detail.current_version, Ordering::Release);
        self.probe.set_state(if self.rotation.is_some() { "rotating" } else { "ready" });
        self.probe.set_detail(serde_json::to_value(detail).unwrap_or_default());
    }
}

impl Actor for KekActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.publish();
        // Counters move on every message; publishing them once a second keeps the hot path cheap.
        ctx.run_interval(Duration::from_secs(1), |act, _| act.publish());
    }
}

impl Handler<Wrap> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: Wrap, _: &mut Context<Self>) {
        let _ = msg.reply.send(self.wrap_one(&msg.dek, &msg.aad));
    }
}

impl Handler<Unwrap> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: Unwrap, _: &mut Context<Self>) {
        let _ = msg.reply.send(self.unwrap_one(&msg.key));
    }
}

impl Handler<RewrapMany> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: RewrapMany, _: &mut Context<Self>) {
        // Re-wrapping passes the cache by: a rotation touches each key once, and keeping them
        // would only evict the keys the service is actually using.
        let results = msg
            .items
            .into_iter()
            .map(|item| {
                self.unwraps += 1;
                let dek = self.provider.unwrap(item.version, &item.wrapped, &item.aad)?;
                self.wrap_one(&dek, &item.aad)
            })
            .collect();
        let _ = msg.reply.send(results);
    }
}

impl Handler<CreateVersion> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: CreateVersion, _: &mut Context<Self>) {
        let created = self.provider.create_version_above(msg.floor);
        self.publish();
        let _ = msg.reply.send(created);
    }
}

impl Handler<VerifyMany> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: VerifyMany, _: &mut Context<Self>) {
        // Passes the cache by: a cached key proves only that some provider opened it once.
        self.unwraps += msg.items.len() as u64;
        let _ = msg.reply.send(self.provider.verify_many(msg.items));
    }
}

impl Handler<RetirePrevious> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: RetirePrevious, _: &mut Context<Self>) {
        let retired = self.provider.retire_previous();
        if let Ok(versions) = &retired {
            // Only versions the current provider does not also hold (it never shares a number it made).
            let kept = self.provider.versions();
            for version in versions.iter().filter(|v| !kept.contains(v)) {
                self.cache.forget_version(*version);
            }
        }
        self.publish();
        let _ = msg.reply.send(retired);
    }
}

impl Handler<RetireVersion> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: RetireVersion, _: &mut Context<Self>) {
        let retired = self.provider.retire_version(msg.version);
        if retired.is_ok() {
            self.cache.forget_version(msg.version);
        }
        self.publish();
        let _ = msg.reply.send(retired);
    }
}

impl Handler<Describe> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: Describe, _: &mut Context<Self>) {
        let _ = msg.reply.send(Ok(self.detail()));
    }
}

impl Handler<ReportRotation> for KekActor {
    type Result = ();
    fn handle(&mut self, msg: ReportRotation, _: &mut Context<Self>) {
        self.rotation = msg.0.filter(|r| r.done < r.total);
        self.publish();
    }
}

/// The KEK actor of this process on its own thread (PKCS#11 calls block), with a client for it.
pub struct KekService {
    actor: Supervised<KekActor>,
    client: KekClient,
    arbiter: Arbiter,
}

impl KekService {
    /// Starts the actor. Must run inside an actix `System`.
    pub fn start(registry: &ActorRegistry, node: &str, provider: Arc<dyn KekProvider>, cache_entries: usize) -> Self {
        let arbiter = Arbiter::new();
        let current = Arc::new(AtomicU32::new(provider.current_version()));
        let describe = provider.describe();
        let shared_current = current.clone();
        let actor =
            supervise(registry, KIND, node, &arbiter.handle(), RestartBackoff::default(), move |spawn: Spawn| {
                KekActor {
                    provider: provider.clone(),
                    cache: DekCache::new(cache_entries),
                    probe: spawn.probe,
                    current: shared_current.clone(),
                    wraps: 0,
                    unwraps: 0,
                    rotation: None,
                    _lifeline: spawn.lifeline,
                }
            });
        let client = KekClient { actor: actor.clone(), current, describe };
        KekService { actor, client, arbiter }
    }

    pub fn client(&self) -> KekClient {
        self.client.clone()
    }

    pub async fn stop(self) {
        self.actor.stop().await;
        self.arbiter.stop();
    }
}

/// `KekProvider` for the rest of the process: every call is a message to the KEK actor. It blocks
/// the calling thread for the answer, as the provider it stands for would.
#[derive(Clone)]
pub struct KekClient {
    actor: Supervised<KekActor>,
    current: Arc<AtomicU32>,
    describe: String,
}

impl KekClient {
    fn call<T, M>(&self, make: impl FnOnce(SyncSender<T>) -> M) -> Option<T>
    where
        KekActor: Handler<M>,
        M: Message<Result = ()> + Send + 'static,
    {
        let (tx, rx) = sync_channel(1);
        let _count = self.actor.count_message();
        // `do_send` ignores the mailbox bound, which the blocking caller provides anyway; a message
        // lost to a dead instance drops its reply sender, so `recv` reports it.
        self.actor.addr().do_send(make(tx));
        rx.recv().ok()
    }

    /// Publishes a rotation's progress with the actor's snapshot (`None` when it ends).
    pub fn report_rotation(&self, status: Option<RotationStatus>) {
        self.actor.addr().do_send(ReportRotation(status));
    }

    pub fn detail(&self) -> Result<KekDetail, KekError> {
        self.call(|reply| Describe { reply }).unwrap_or(Err(KekError::Unavailable))
    }
}

impl KekProvider for KekClient {
    fn current_version(&self) -> u32 {
        self.current.load(Ordering::Acquire)
    }

    fn wrap(&self, dek: &[u8], aad: &[u8]) -> Result<(u32, Vec<u8>), KekError> {
        let aad = aad_array(aad)?;
        let dek = SecretBytes::new(dek.to_vec());
        self.call(|reply| Wrap { dek, aad, reply }).unwrap_or(Err(KekError::Unavailable))
    }

    fn unwrap(&self, version: u32, wrapped: &[u8], aad: &[u8]) -> Result<SecretBytes, KekError> {
        let key = WrappedDek { version, wrapped: wrapped.to_vec(), aad: aad_array(aad)? };
        self.call(|reply| Unwrap { key, reply }).unwrap_or(Err(KekError::Unavailable))
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn create_version_above(&self, floor: u32) -> Result<u32, KekError> {
        self.call(|reply| CreateVersion { floor, reply }).unwrap_or(Err(KekError::Unavailable))
    }

    fn verify_many(&self, items: Vec<WrappedDek>) -> Vec<Result<(), KekError>> {
        let n = items.len();
        self.call(|reply| VerifyMany { items, reply })
            .unwrap_or_else(|| (0..n).map(|_| Err(KekError::Unavailable)).collect())
    }

    fn previous(&self) -> Option<(String, Vec<u32>)> {
        self.detail().ok().and_then(|d| d.previous).map(|p| (p.provider, p.versions))
    }

    fn retire_previous(&self) -> Result<Vec<u32>, KekError> {
        self.call(|reply| RetirePrevious { reply }).unwrap_or(Err(KekError::Unavailable))
    }

    fn token_calls(&self) -> Option<u64> {
        self.detail().ok().and_then(|d| d.token_calls)
    }

    fn versions(&self) -> Vec<u32> {
        self.detail().map(|d| d.versions).unwrap_or_default()
    }

    fn retire_version(&self, version: u32) -> Result<(), KekError> {
        self.call(|reply| RetireVersion { version, reply }).unwrap_or(Err(KekError::Unavailable))
    }

    fn rewrap_many(&self, items: Vec<WrappedDek>) -> Rewrapped {
        let n = items.len();
        self.call(|reply| RewrapMany { items, reply })
            .unwrap_or_else(|| (0..n).map(|_| Err(KekError::Unavailable)).collect())
    }
}

/// The envelope always binds a 32-byte AAD (a SHA-256); anything else is a caller bug.
fn aad_array(aad: &[u8]) -> Result<[u8; 32], KekError> {
    aad.try_into().map_err(|_| KekError::BadAad { len: aad.len() })
}

#[cfg(test)]
mod tests;
