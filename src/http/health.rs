//! `/healthz` answers while the process serves; `/readyz` only once the store is open and migrated,
//! no longer once shutdown has begun (so a load balancer drains this node first), and not while the
//! node's KEK cannot open the store's sealed values (another node rotated to a version this one does
//! not have, a token went away): 503 with the reason, never a secret (issue 15). Nor while the store
//! cannot write (its storage is full or read-only): a balancer then sends writes elsewhere, and the
//! node turns ready again on its own once a probe finds room (issue 16, item 6). A ready answer
//! also says whether a scheduler is ticking (`scheduler.absent`, M2.8).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use certautopilot_core::Timestamp;
use certautopilot_core::crypto::Envelope;
use certautopilot_core::kek_check::check_store_opens;
use certautopilot_core::store::Store;

use crate::service::health::SchedulerWatch;
use serde_json::json;

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;
/// How long a KEK check's answer is reused: probes come every few seconds from every balancer, and
/// each check reads the store and may call a token.
const KEK_RECHECK: Duration = Duration::from_secs(5);
/// How long a failed writability probe's answer is reused while the store cannot write: each probe
/// writes a small scratch file; once it succeeds the store says so itself and no probe runs.
const WRITE_RECHECK: Duration = Duration::from_secs(2);

#[derive(Clone, Default)]
pub struct Readiness {
    state: Arc<AtomicU8>,
    kek: Arc<OnceLock<KekProbe>>,
    store: Arc<OnceLock<WriteProbe>>,
    /// The store scheduler heartbeats are read from, and the threshold past which it is absent.
    scheduler: Arc<OnceLock<SchedulerProbe>>,
}

/// The scheduler report of `/readyz`: read at most once per `SCHEDULER_RECHECK`, and never waited
/// for longer than `SCHEDULER_READ_LIMIT` (a slow or cut-off store leaves the report out instead of
/// holding the probe).
struct SchedulerProbe {
    store: Arc<dyn Store>,
    watch: SchedulerWatch,
    last: tokio::sync::Mutex<Option<(Instant, serde_json::Value)>>,
}

const SCHEDULER_RECHECK: Duration = Duration::from_secs(2);
const SCHEDULER_READ_LIMIT: Duration = Duration::from_millis(500);

/// Whether the store can write: what its last writes found (no I/O), and while they were refused,
/// a probe at most once per `WRITE_RECHECK` that finds out when space has returned.
struct WriteProbe {
    store: Arc<dyn Store>,
    last_failure: tokio::sync::Mutex<Option<(Instant, String)>>,
}

impl WriteProbe {
    async fn problem(&self) -> Option<String> {
        if self.store.write_health().writable {
            return None;
        }
        let mut last = self.last_failure.lock().await;
        if let Some((at, problem)) = &*last
            && at.elapsed() < WRITE_RECHECK
        {
            return Some(problem.clone());
        }
        match self.store.probe_writable().await {
            Ok(()) => {
                *last = None;
                None
            }
            Err(e) => {
                let problem = e.to_string();
                *last = Some((Instant::now(), problem.clone()));
                Some(problem)
            }
        }
    }
}

/// Samples the store's sealed values with the node's KEK, at most once per `KEK_RECHECK`.
struct KekProbe {
    store: Arc<dyn Store>,
    envelope: Envelope,
    last: tokio::sync::Mutex<Option<(Instant, Option<String>)>>,
}

impl KekProbe {
    async fn problem(&self) -> Option<String> {
        let mut last = self.last.lock().await;
        if let Some((at, problem)) = &*last
            && at.elapsed() < KEK_RECHECK
        {
            return problem.clone();
        }
        let problem = check_store_opens(self.store.as_ref(), &self.envelope, 1).await.err().map(|e| e.to_string());
        if let Some(problem) = &problem {
            tracing::warn!(reason = %problem, "not ready: the kek cannot open the store's sealed values");
        }
        *last = Some((Instant::now(), problem.clone()));
        problem
    }
}

impl Readiness {
    pub fn set_ready(&self) {
        self.state.store(READY, Ordering::SeqCst);
    }

    pub fn set_draining(&self) {
        self.state.store(DRAINING, Ordering::SeqCst);
    }

    /// From now on `/readyz` also requires that the KEK opens a sample of the store's sealed values.
    pub fn check_kek(&self, store: Arc<dyn Store>, envelope: Envelope) {
        let _ = self.kek.set(KekProbe { store, envelope, last: tokio::sync::Mutex::new(None) });
    }

    /// From now on `/readyz` also requires that the store can write.
    pub fn check_store_writable(&self, store: Arc<dyn Store>) {
        let _ = self.store.set(WriteProbe { store, last_failure: tokio::sync::Mutex::new(None) });
    }

    /// From now on `/readyz` also reports whether a scheduler is ticking (without changing its
    /// status: an absent scheduler stops renewals, not this node's answers).
    pub fn report_scheduler(&self, store: Arc<dyn Store>, watch: SchedulerWatch) {
        let _ = self.scheduler.set(SchedulerProbe { store, watch, last: tokio::sync::Mutex::new(None) });
    }

    /// `/readyz`'s `scheduler`: the newest heartbeat and whether it is older than the threshold.
    async fn scheduler_report(&self) -> Option<serde_json::Value> {
        let probe = self.scheduler.get()?;
        let mut last = probe.last.lock().await;
        if let Some((at, report)) = &*last
            && at.elapsed() < SCHEDULER_RECHECK
        {
            return Some(report.clone());
        }
        let read = probe.watch.liveness(probe.store.as_ref(), Timestamp::now());
        let liveness = tokio::time::timeout(SCHEDULER_READ_LIMIT, read).await.ok()?.ok()?;
        let beat = liveness.last_beat.as_ref();
        let report = json!({
            "absent": liveness.absent,
            "last_beat_at": beat.map(|b| b.at.to_rfc3339()),
            "node": beat.map(|b| b.node.clone()),
            "absent_after_secs": probe.watch.absent_after.as_secs(),
        });
        *last = Some((Instant::now(), report.clone()));
        Some(report)
    }

    fn state(&self) -> &'static str {
        match self.state.load(Ordering::SeqCst) {
            STARTING => "starting",
            READY => "ready",
            _ => "draining",
        }
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let state = readiness.state();
    if state != "ready" {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": state }));
    }
    if let Some(probe) = readiness.store.get()
        && let Some(reason) = probe.problem().await
    {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "store_not_writable", "reason": reason }));
    }
    if let Some(probe) = readiness.kek.get()
        && let Some(reason) = probe.problem().await
    {
        return HttpResponse::ServiceUnavailable().json(json!({ "status": "kek_unavailable", "reason": reason }));
    }
    let mut answer = json!({ "status": state });
    if let Some(scheduler) = readiness.scheduler_report().await {
        answer["scheduler"] = scheduler;
    }
    HttpResponse::Ok().json(answer)
}
