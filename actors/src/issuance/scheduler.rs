//! The scheduler: on every tick it walks the certificates whose renewal window has opened (the
//! store's `due_at` index) and enqueues one `renew` job for each, and once per scan period one
//! `scan` job per target that can be read back (drift detection). The dedupe key names the
//! certificate, the expiry it renews and the record's version, so however many ticks (or
//! schedulers) see the same window, one job exists for it.
//! Each scan also expires approval requests past their time (`approval_expiry`). Each scan that
//! completes records the scheduler's heartbeat in the store (`scheduler_beat`).
//! In a cluster the scheduler runs on the Raft leader and every write carries the leader's term as a
//! fencing token: its first act is to claim the term in the store, and once the store has refused a
//! write as fenced (a newer leader has written) it stops ticking until it is replaced.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Actor, ActorContext, ActorFutureExt, AsyncContext, Context, WrapFuture};
use certautopilot_core::jobs::{JobSpec, RenewReason};
use certautopilot_core::model::{DistributionTarget, Fence, SchedulerBeat};
use certautopilot_core::store::{PageRequest, RecordStore};
use certautopilot_core::{ProjectScope, StoreError, SystemScope, Timestamp};
use serde::Serialize;
use serde_json::json;

use super::{IssuanceDeps, IssueError};
use crate::registry::Probe;
use crate::supervisor::Lifeline;

pub const KIND: &str = "scheduler";

#[derive(Debug, Clone, Default, Serialize)]
struct ScanReport {
    due: u64,
    enqueued: u64,
    target_scans: u64,
    /// The scan window whose target scans this tick queued, if it did.
    scan_window: Option<i64>,
}

pub struct Scheduler {
    deps: IssuanceDeps,
    max_attempts: u32,
    wake: Arc<dyn Fn() + Send + Sync>,
    scanning: bool,
    /// The scan window whose target scans are queued: later ticks in it skip listing every target
    /// (the dedupe keys would make them no-ops anyway, at the cost of a write per target per tick).
    scans_queued_for: Option<i64>,
    scans: u64,
    enqueued: u64,
    /// The term this scheduler writes under (`None`: a process scheduling alone, unfenced).
    fence: Option<Fence>,
    /// Set once the store refused a write as fenced: a newer leader exists.
    fenced: bool,
    /// The KEK rotation period (`kek.rotate_every_days`), when the KEK rotates on a schedule.
    kek_rotation: Option<std::time::Duration>,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl Scheduler {
    pub fn new(
        deps: IssuanceDeps,
        max_attempts: u32,
        wake: Arc<dyn Fn() + Send + Sync>,
        probe: Arc<Probe>,
        lifeline: Lifeline,
        fence: Option<Fence>,
    ) -> Self {
        Scheduler {
            fence,
            fenced: false,
            kek_rotation: None,
            deps,
            max_attempts,
            wake,
            scanning: false,
            scans_queued_for: None,
            scans: 0,
            enqueued: 0,
            probe,
            _lifeline: lifeline,
        }
    }

    /// Also enqueue one KEK rotation per `period`.
    pub fn with_kek_rotation(mut self, period: Option<std::time::Duration>) -> Self {
        self.kek_rotation = period;
        self
    }

    /// Enqueues this period's KEK rotation unless it is queued already (unfenced, as the timer it
    /// replaces: the dedupe key keeps it to one per period whichever node enqueues it).
    fn schedule_kek_rotation(&mut self, period: std::time::Duration, ctx: &mut Context<Self>) {
        let (store, max_attempts) = (self.deps.store.clone(), self.max_attempts);
        let work =
            async move { crate::kek::rotation_job::enqueue_rotation(store.as_ref(), period, max_attempts).await };
        ctx.spawn(work.into_actor(self).map(|created, act, _| {
            if created {
                (act.wake)();
            }
        }));
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.scanning || self.fenced {
            return;
        }
        self.scanning = true;
        self.probe.set_state("scanning");
        let (deps, max_attempts, done_window) = (self.deps.clone(), self.max_attempts, self.scans_queued_for);
        let fence = self.fence.clone();
        ctx.spawn(async move { scan(&deps, max_attempts, done_window, fence.as_ref()).await }.into_actor(self).map(
            |result, act, _| {
                act.scanning = false;
                act.scans += 1;
                match result {
                    Ok(report) => {
                        if report.scan_window.is_some() {
                            act.scans_queued_for = report.scan_window;
                        }
                        act.enqueued += report.enqueued;
                        if report.enqueued > 0 {
                            (act.wake)();
                            tracing::info!(due = report.due, enqueued = report.enqueued, "renewals enqueued");
                        }
                    }
                    Err(IssueError::Store(StoreError::Fenced { term, newest })) => act.on_fenced(term, newest),
                    Err(e) => {
                        tracing::warn!(error = %e, "renewal scan failed; the next tick tries again");
                        act.probe.set_error(e.to_string());
                    }
                }
                act.publish();
            },
        ));
    }

    fn on_fenced(&mut self, term: u64, newest: u64) {
        tracing::warn!(term, newest, "scheduler fenced: a newer leader has written; this one stops");
        self.fenced = true;
        self.probe.set_error(format!("fenced: term {term} is older than term {newest}"));
    }

    fn publish(&self) {
        self.probe.set_state(if self.fenced { "fenced" } else { "waiting" });
        self.probe.set_detail(json!({
            "scans": self.scans,
            "renewals_enqueued": self.enqueued,
            "term": self.fence.as_ref().map(|f| f.term),
            "fenced": self.fenced,
        }));
    }

    fn start_ticking(&mut self, ctx: &mut Context<Self>) {
        self.tick(ctx);
        ctx.run_interval(self.deps.settings.renewal_scan, |act, ctx| act.tick(ctx));
        if let Some(period) = self.kek_rotation {
            self.schedule_kek_rotation(period, ctx);
            let every = crate::kek::rotation_job::rotation_check_every(period);
            ctx.run_interval(every, move |act, ctx| act.schedule_kek_rotation(period, ctx));
        }
    }
}

impl Actor for Scheduler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(fence) = self.fence.clone() else {
            return self.start_ticking(ctx);
        };
        // Taking over is itself a write: the claim fences every older term before any job is queued.
        self.probe.set_state("claiming");
        let store = self.deps.store.clone();
        ctx.wait(async move { store.fence_claim(&fence).await }.into_actor(self).map(|claimed, act, ctx| {
            match claimed {
                Ok(()) => {
                    tracing::info!(
                        term = act.fence.as_ref().map(|f| f.term),
                        "scheduler active: term claimed in the store"
                    );
                    act.start_ticking(ctx);
                }
                Err(StoreError::Fenced { term, newest }) => act.on_fenced(term, newest),
                Err(e) => {
                    // The store is unreachable or busy: stop, and let the supervisor start us again.
                    tracing::warn!(error = %e, "scheduler could not claim its term; restarting");
                    act.probe.set_error(e.to_string());
                    ctx.stop();
                }
            }
            act.publish();
        }));
    }
}

async fn scan(
    deps: &IssuanceDeps,
    max_attempts: u32,
    done_window: Option<i64>,
    fence: Option<&Fence>,
) -> Result<ScanReport, IssueError> {
    let system = SystemScope::new(KIND);
    let mut scopes: HashMap<certautopilot_core::ids::ProjectId, ProjectScope> = HashMap::new();
    let mut report = ScanReport::default();
    let mut page = PageRequest::first(500);
    loop {
        let due = deps.store.certificates_due(&system, Timestamp::now(), &page).await?;
        for cert in &due.items {
            report.due += 1;
            let scope = match scopes.get(&cert.project_id) {
                Some(scope) => scope.clone(),
                None => {
                    let scope = deps.project_scope(cert.project_id).await?;
                    scopes.insert(cert.project_id, scope.clone());
                    scope
                }
            };
            // One renewal job per certificate, expiry and record version.
            let job = JobSpec::Renew {
                certificate_id: cert.id,
                reason: RenewReason::WindowOpen { not_after: cert.not_after.map(|t| t.as_unix_millis()) },
                record_version: cert.version,
            }
            .into_job(&scope, max_attempts)
            .fenced(fence.cloned());
            if deps.store.enqueue_job(job).await?.created {
                report.enqueued += 1;
            }
        }
        match due.next_cursor {
            Some(cursor) => page = PageRequest::after(500, cursor),
            None => break,
        }
    }
    if let Some(period) = deps.settings.scan_every {
        let window = Timestamp::now().as_unix_millis() / (period.as_millis().max(1) as i64);
        if done_window != Some(window) {
            report.target_scans = queue_target_scans(deps, &system, &mut scopes, window, max_attempts, fence).await?;
            report.enqueued += report.target_scans;
            report.scan_window = Some(window);
        }
    }
    super::approval_expiry::expire_overdue(deps, &system, Timestamp::now()).await?;
    // After the scan, not before it: a scheduler whose scans fail stops beating, and every node
    // then reports it absent.
    let node = fence.map_or_else(|| deps.node_id.clone(), |f| f.node.clone());
    deps.store.scheduler_beat(&SchedulerBeat { node, term: fence.map(|f| f.term), at: Timestamp::now() }).await?;
    Ok(report)
}

/// One `scan` job per target that can be read back, per `period` (windows counted from the Unix
/// epoch; the dedupe key makes every further tick in the window a no-op).
async fn queue_target_scans(
    deps: &IssuanceDeps,
    system: &SystemScope,
    scopes: &mut HashMap<certautopilot_core::ids::ProjectId, ProjectScope>,
    window: i64,
    max_attempts: u32,
    fence: Option<&Fence>,
) -> Result<u64, IssueError> {
    let mut queued = 0;
    let mut page = PageRequest::first(500);
    loop {
        let targets = deps.store.list_all::<DistributionTarget>(system, &page).await?;
        for target in &targets.items {
            if !target.config.is_scannable() {
                continue;
            }
            let scope = match scopes.get(&target.project_id) {
                Some(scope) => scope.clone(),
                None => {
                    let scope = deps.project_scope(target.project_id).await?;
                    scopes.insert(target.project_id, scope.clone());
                    scope
                }
            };
            let job = JobSpec::Scan { target_id: target.id, window: Some(window) }
                .into_job(&scope, max_attempts)
                .fenced(fence.cloned());
            if deps.store.enqueue_job(job).await?.created {
                queued += 1;
            }
        }
        match targets.next_cursor {
            Some(cursor) => page = PageRequest::after(500, cursor),
            None => return Ok(queued),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use certautopilot_core::ids::AcmeAccountId;
    use certautopilot_core::model::{Certificate, JobKind, KeyType};

    use super::*;

    /// Issue 15, item 5: a paused certificate whose renewal window is open gets no renewal job from
    /// a scan, while an unpaused one beside it in the same window does; resumed, it gets its job. The
    /// scan is run directly, once per step, so nothing waits on time.
    #[actix_rt::test]
    async fn a_paused_certificate_is_not_renewed() {
        let fixture = super::super::test_fixture::fixture().await;
        let (store, project, scope, deps) = (&fixture.store, &fixture.project, fixture.scope.clone(), &fixture.deps);
        let now = Timestamp::now();
        let day = Duration::from_secs(86_400);
        let issued_long_ago = |name: &str, paused: bool| {
            let mut cert = Certificate::new(
                project.id,
                name,
                vec![name.to_owned()],
                KeyType::EcdsaP256,
                AcmeAccountId::new(),
                now,
            );
            let start = now.saturating_sub(day * 80);
            cert.mark_issued(format!("{name}-serial"), start, start.saturating_add(day * 90), "00".into());
            cert.paused = paused;
            cert
        };
        let paused = issued_long_ago("paused.example", true);
        let running = issued_long_ago("running.example", false);
        store.insert(&scope, &paused).await.unwrap();
        store.insert(&scope, &running).await.unwrap();
        let renewals_of = |id: certautopilot_core::ids::CertificateId| {
            let (store, scope) = (store.clone(), scope.clone());
            async move {
                let jobs = store.list_project_jobs(&scope, &PageRequest::first(100)).await.unwrap().items;
                jobs.iter().filter(|j| j.kind == JobKind::Renew && j.subject == Some(id.to_string())).count()
            }
        };

        let report = scan(deps, 3, None, None).await.unwrap();
        assert_eq!((report.due, report.enqueued), (1, 1), "only the running certificate is due");
        assert_eq!(renewals_of(running.id).await, 1);
        assert_eq!(renewals_of(paused.id).await, 0, "the paused certificate got a renewal job");

        let mut resumed: Certificate = store.get(&scope, &paused.id).await.unwrap();
        resumed.paused = false;
        store.update(&scope, &resumed).await.unwrap();
        let report = scan(deps, 3, None, None).await.unwrap();
        assert_eq!((report.due, report.enqueued), (2, 1), "resumed, it is due; the other's job exists already");
        assert_eq!(renewals_of(paused.id).await, 1);
    }
}
