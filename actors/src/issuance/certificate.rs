//! The certificate actor: one per certificate with work to do, the only code that changes a
//! certificate. A job activates it; its handler runs the whole job atomically, so two jobs for one
//! certificate never interleave in a process (the job queue keeps them apart across processes). It
//! holds no certificate state between jobs: each job reloads the record, so a restart from the
//! factory loses nothing. Idle actors are passivated by the hub's sweeper.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, ActorFutureExt, ArbiterHandle, AtomicResponse, Context, Handler, Message, WrapFuture};
use certautopilot_core::ids::CertificateId;
use certautopilot_core::model::Job;
use serde_json::json;

use super::IssuanceDeps;
use super::account::AccountHub;
use super::flow::Flow;
use crate::hub::Hub;
use crate::job_pump::{JobContext, JobError};
use crate::registry::Probe;
use crate::supervisor::{Lifeline, Spawn, Supervised};

pub const KIND: &str = "certificate";

/// Run one job (issue, renew or revoke) for this certificate.
pub struct RunJob {
    pub job: Job,
    pub ctx: JobContext,
}

impl Message for RunJob {
    type Result = Result<String, JobError>;
}

/// Makes the handler panic: how tests prove supervision (restart count, working again after).
pub struct ForcePanic;

impl Message for ForcePanic {
    type Result = ();
}

pub struct CertificateActor {
    id: CertificateId,
    deps: IssuanceDeps,
    accounts: AccountHub,
    jobs_run: u64,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl Actor for CertificateActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.probe.set_state("idle");
    }
}

impl Handler<RunJob> for CertificateActor {
    type Result = AtomicResponse<Self, Result<String, JobError>>;

    fn handle(&mut self, msg: RunJob, _: &mut Context<Self>) -> Self::Result {
        let (deps, accounts, probe, id) = (self.deps.clone(), self.accounts.clone(), self.probe.clone(), self.id);
        probe.set_detail(json!({ "job_id": msg.job.id, "job_kind": msg.job.kind, "attempt": msg.job.attempts }));
        let work = async move {
            let flow = Flow { deps: &deps, accounts: &accounts, probe: &probe, id, job: &msg.job, ctx: &msg.ctx };
            flow.run().await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|result, act, _| {
            act.jobs_run += 1;
            act.probe.set_state("idle");
            act.probe.set_detail(json!({ "jobs_run": act.jobs_run, "last_outcome": match &result {
                Ok(summary) => summary.clone(),
                Err(e) => e.message.clone(),
            } }));
            result
        })))
    }
}

impl Handler<ForcePanic> for CertificateActor {
    type Result = ();

    fn handle(&mut self, _: ForcePanic, _: &mut Context<Self>) {
        panic!("forced panic in certificate actor {}", self.id);
    }
}

/// The live certificate actors of this process: started by a job, stopped after being idle.
#[derive(Clone)]
pub struct CertificateHub {
    deps: IssuanceDeps,
    accounts: AccountHub,
    hub: Hub<CertificateId, CertificateActor>,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl CertificateHub {
    /// The hub, with a sweeper that passivates actors idle for `deps.settings.passivate_after`.
    pub fn start(deps: IssuanceDeps, accounts: AccountHub, arbiter: ArbiterHandle) -> Self {
        let actors = Hub::new(&deps.registry, KIND, arbiter);
        let hub = CertificateHub { deps, accounts, hub: actors, stopped: Arc::default() };
        let sweeper = hub.clone();
        let every = (hub.deps.settings.passivate_after / 4).max(Duration::from_millis(50));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if !sweeper.passivate_idle().await {
                    return;
                }
            }
        });
        hub
    }

    pub fn actor(&self, id: CertificateId) -> Supervised<CertificateActor> {
        let (deps, accounts) = (self.deps.clone(), self.accounts.clone());
        self.hub.actor(id, move |s: Spawn| CertificateActor {
            id,
            deps: deps.clone(),
            accounts: accounts.clone(),
            jobs_run: 0,
            probe: s.probe,
            _lifeline: s.lifeline,
        })
    }

    pub fn live_count(&self) -> usize {
        self.hub.len()
    }

    /// Runs a job in the certificate's actor. A job caught in a crashed actor is retried.
    pub async fn run(&self, id: CertificateId, job: Job, ctx: JobContext) -> Result<String, JobError> {
        self.actor(id)
            .send(RunJob { job, ctx })
            .await
            .map_err(|e| JobError::retryable(format!("{e}; the job will run again")))?
    }

    /// Stops actors with nothing queued and no activity for `passivate_after`. Returns false once the
    /// hub has been shut down.
    async fn passivate_idle(&self) -> bool {
        if self.stopped.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        let idle_for = self.deps.settings.passivate_after;
        let now = certautopilot_core::Timestamp::now();
        let idle = self.hub.take_where(|snap| {
            snap.mailbox_depth == 0 && snap.last_activity.is_none_or(|t| now.duration_since(t) >= idle_for)
        });
        for (id, actor) in idle {
            actor.stop().await;
            tracing::debug!(certificate_id = %id, "certificate actor passivated");
        }
        true
    }

    /// Stops every certificate actor (shutdown).
    pub async fn stop(&self) {
        self.stopped.store(true, std::sync::atomic::Ordering::Release);
        self.hub.stop_all().await;
        self.accounts.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ActorRegistry;
    use certautopilot_core::crypto::{Envelope, LocalKek};
    use certautopilot_core::store::sqlite::SqliteStore;

    /// An actor with nothing to do leaves after `passivate_after`; asking for it again brings back
    /// a fresh one, registered under the same key.
    #[actix_rt::test]
    async fn idle_actors_are_passivated_and_come_back_on_demand() {
        let fixture = SqliteStore::for_test().await;
        let registry = ActorRegistry::new();
        let timings =
            super::super::IssuanceConfig { passivate_after: Duration::from_millis(200), ..Default::default() };
        let settings = super::super::IssuanceSettings { timings, ..Default::default() };
        let deps = IssuanceDeps::new(
            Arc::new(fixture.store) as Arc<dyn certautopilot_core::Store>,
            Envelope::new(Arc::new(LocalKek::ephemeral())),
            registry.clone(),
            settings,
            "node-1",
        );
        let arbiter = actix::Arbiter::current();
        let hub = CertificateHub::start(deps.clone(), AccountHub::new(deps, arbiter.clone()), arbiter);
        let id = CertificateId::new();
        hub.actor(id);
        // Registered at once; not waited on to be seen idle, which it may stop being within 200 ms.
        assert!(registry.get(KIND, &id.to_string()).is_some());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while registry.get(KIND, &id.to_string()).is_some() {
            assert!(std::time::Instant::now() < deadline, "not passivated: {:?}", registry.get(KIND, &id.to_string()));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(hub.live_count(), 0);
        hub.actor(id);
        assert!(registry.get(KIND, &id.to_string()).is_some(), "registered again under the same key");
        hub.stop().await;
        assert!(registry.get(KIND, &id.to_string()).is_none());
    }
}
