//! Health as the interfaces read it: a certificate's view with the parts of its health that need
//! more than its record (whether a deployment drifted, when the next attempt runs), the project's
//! certificates by health, and whether any scheduler is ticking.
//! Invariant: health is only ever computed here and in `model::health` from stored facts; nothing
//! sets it.

use certautopilot_core::ProjectScope;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::{CertificateId, ProjectId};
use std::collections::HashSet;

use certautopilot_core::model::{Certificate, CertificateHealth, HealthRules, Job, JobStatus, SchedulerBeat};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::api::views::{CertificatePage, CertificateView};
use crate::service::authorized::Authorized;
use crate::service::certificates::certificate_in_scope;
use crate::service::error::ApiError;
use crate::service::inventory::{self, InventoryFilter, InventorySort};
use crate::service::records;
use crate::service::state::AppState;

/// A project's certificates by id, each with its health; with `health`, only those with it (the
/// inventory's search, whose cursor continues it).
pub async fn list(
    auth: &Authorized,
    project: ProjectId,
    health: Option<CertificateHealth>,
    page: PageRequest,
) -> Result<CertificatePage, ApiError> {
    if let Some(health) = health {
        let filter = InventoryFilter { health: Some(health), ..Default::default() };
        let found = inventory::search(auth, Some(project), &filter, InventorySort::Default, page).await?;
        return Ok(CertificatePage { items: found.items, next_cursor: found.next_cursor });
    }
    let scope = auth.project_scope(project).await?;
    let store = auth.state().store()?;
    let found = store.list_unsealed::<Certificate>(&scope, &records::page(page)?).await?;
    let rules = HealthRules::at(auth.state().now());
    let mut views: Vec<CertificateView> =
        found.items.into_iter().map(|c| CertificateView::by(&rules, c.into_shown())).collect();
    annotate(auth.state(), &scope, &mut views).await?;
    Ok(CertificatePage { items: views, next_cursor: found.next_cursor })
}

/// A `health` query value, refused with the accepted names when it is none.
pub fn parse_health(text: &str) -> Result<CertificateHealth, ApiError> {
    CertificateHealth::parse(text).ok_or_else(|| {
        let names: Vec<&str> = CertificateHealth::ALL.iter().map(|h| h.as_str()).collect();
        ApiError::invalid("health", format!("unknown health {text:?}: one of {}", names.join(", ")))
    })
}

/// One certificate, with its health (drift and the next attempt included).
pub async fn get(auth: &Authorized, id: CertificateId) -> Result<CertificateView, ApiError> {
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    let mut views = [CertificateView::from(cert)];
    annotate(auth.state(), &scope, &mut views).await?;
    let [view] = views;
    Ok(view)
}

/// Completes the health of views of `scope`'s certificates with what their records alone do not
/// say: drift (one read of the project's drifted certificates) and, for the failing and the overdue,
/// when the next attempt runs (one batch read of their newest jobs). GraphQL's `Certificate.health`
/// reads the same through its loaders, with the same rules.
pub async fn annotate(state: &AppState, scope: &ProjectScope, views: &mut [CertificateView]) -> Result<(), ApiError> {
    let store = state.store()?;
    let drifted: HashSet<CertificateId> = store.drifted_certificates(scope).await?.into_iter().collect();
    for view in views.iter_mut().filter(|v| drifted.contains(&v.id)) {
        view.health.drifted();
    }
    let retrying: Vec<String> =
        views.iter().filter(|v| shows_next_attempt(v.health.state)).map(|v| v.id.to_string()).collect();
    if retrying.is_empty() {
        return Ok(());
    }
    let jobs = store.subject_jobs(scope, &retrying, 1).await?;
    for view in views.iter_mut().filter(|v| shows_next_attempt(v.health.state)) {
        let subject = view.id.to_string();
        view.health.next_attempt_at = next_attempt(jobs.iter().find(|j| j.subject.as_deref() == Some(&subject)));
    }
    Ok(())
}

/// Whether a health names the next attempt: only where one is what the operator waits for.
pub fn shows_next_attempt(health: CertificateHealth) -> bool {
    matches!(health, CertificateHealth::RenewalFailing | CertificateHealth::Overdue)
}

/// When the certificate's newest job (`job`) runs next: queued, or failed with attempts left (it
/// is claimable again from `run_at`); none while it runs, once it is done, or dead.
pub fn next_attempt(job: Option<&Job>) -> Option<Timestamp> {
    job.filter(|j| matches!(j.status, JobStatus::Queued | JobStatus::Failed)).map(|j| j.run_at)
}

/// Whether a scheduler is ticking, as every node tells from the store.
#[derive(Debug, Clone)]
pub struct SchedulerLiveness {
    /// The newest heartbeat, if a scheduler ever ticked.
    pub last_beat: Option<SchedulerBeat>,
    /// No heartbeat within the threshold: nothing is queueing renewals.
    pub absent: bool,
}

/// How a node judges the heartbeats: the threshold, and when the node started.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerWatch {
    pub absent_after: std::time::Duration,
    pub started: Timestamp,
}

impl SchedulerWatch {
    /// Whether the newest heartbeat is older than the threshold at `now`; with none at all, whether
    /// this node has been up longer than it, so a node that has just started beside a scheduler
    /// that has not finished its first scan yet says nothing.
    pub fn absent(&self, beat: Option<&SchedulerBeat>, now: Timestamp) -> bool {
        let since = beat.map_or(self.started, |b| b.at);
        now.as_unix_millis() - since.as_unix_millis() > self.absent_after.as_millis() as i64
    }

    /// The newest heartbeat in `store`, judged at `now`.
    pub async fn liveness(
        &self,
        store: &dyn certautopilot_core::store::Store,
        now: Timestamp,
    ) -> Result<SchedulerLiveness, certautopilot_core::StoreError> {
        let last_beat = store.last_scheduler_beat().await?;
        Ok(SchedulerLiveness { absent: self.absent(last_beat.as_ref(), now), last_beat })
    }
}

/// This node's judgement of the scheduler's heartbeats.
pub async fn scheduler_liveness(state: &AppState) -> Result<SchedulerLiveness, ApiError> {
    let watch = SchedulerWatch { absent_after: state.scheduler_absent_after, started: state.started_at };
    Ok(watch.liveness(state.store()?.as_ref(), state.now()).await?)
}
