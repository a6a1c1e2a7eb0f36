//! A keyed set of supervised actors of one kind, started on first use (`actor(key)`), stopped
//! together at shutdown, and (for kinds that passivate) taken out when idle.

use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use actix::{Actor, ArbiterHandle, Context};

use crate::registry::{ActorRegistry, ActorSnapshot};
use crate::supervisor::{RestartBackoff, Spawn, Supervised, supervise};

pub struct Hub<K, A: Actor> {
    registry: ActorRegistry,
    kind: &'static str,
    arbiter: ArbiterHandle,
    live: Arc<Mutex<HashMap<K, Supervised<A>>>>,
}

impl<K, A: Actor> Clone for Hub<K, A> {
    fn clone(&self) -> Self {
        Hub { registry: self.registry.clone(), kind: self.kind, arbiter: self.arbiter.clone(), live: self.live.clone() }
    }
}

impl<K, A> Hub<K, A>
where
    K: Hash + Eq + Display + Copy + Send + 'static,
    A: Actor<Context = Context<A>>,
{
    pub fn new(registry: &ActorRegistry, kind: &'static str, arbiter: ArbiterHandle) -> Self {
        Hub { registry: registry.clone(), kind, arbiter, live: Arc::default() }
    }

    /// The actor for `key`, started from `factory` (under supervision) if it is not running.
    pub fn actor(&self, key: K, factory: impl Fn(Spawn) -> A + Send + Sync + 'static) -> Supervised<A> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.entry(key)
            .or_insert_with(|| {
                supervise(&self.registry, self.kind, key.to_string(), &self.arbiter, RestartBackoff::default(), factory)
            })
            .clone()
    }

    pub fn len(&self) -> usize {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns the actors whose snapshot satisfies `idle`; the caller stops them.
    pub fn take_where(&self, idle: impl Fn(&ActorSnapshot) -> bool) -> Vec<(K, Supervised<A>)> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<K> = live.iter().filter(|(_, a)| idle(&a.probe().snapshot())).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|k| live.remove(&k).map(|a| (k, a))).collect()
    }

    /// Stops every actor (shutdown).
    pub async fn stop_all(&self) {
        let all: Vec<_> = self.live.lock().unwrap_or_else(|e| e.into_inner()).drain().map(|(_, a)| a).collect();
        for actor in all {
            actor.stop().await;
        }
    }
}
