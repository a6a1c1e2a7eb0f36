//! The overview of every certificate the caller can see, across their projects: counts by state,
//! what needs attention, the next 90 days of expiries by day, and the latest jobs. One read
//! operation for the web console's first screen (and any other interface that wants the same
//! summary); it only reads, through the caller's project scopes.
//! Invariant: a project the caller cannot read under the operation's policy contributes nothing;
//! every figure is derived from stored records by the store (`CertificateStats`) under the rules
//! of `certautopilot_core::model::OverviewRules`, never by the interface.

use std::collections::HashMap;

use certautopilot_core::Timestamp;
use certautopilot_core::ids::{CertificateId, ProjectId};
use certautopilot_core::model::{
    Certificate, CertificateFacts, DeploymentCondition, DeploymentFacts, OverviewRules, ProjectCertificateStats,
    StatsRequest,
};
use certautopilot_core::store::{PageRequest, RecordStore};
use certautopilot_core::{ProjectScope, Store};

pub use certautopilot_core::model::{AttentionKind, DAY_MILLIS, StatusCounts};

use crate::api::views::JobView;
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;

/// How many days the expiry calendar covers, today first.
pub const CALENDAR_DAYS: usize = 90;
const ATTENTION_LIMIT: usize = 50;
const LATEST_JOBS: usize = 10;
const SCAN_PAGE: usize = 1_000;

#[derive(Debug, Clone)]
pub struct AttentionItem {
    pub certificate_id: CertificateId,
    pub project_id: ProjectId,
    pub common_name: String,
    pub kind: AttentionKind,
    pub detail: String,
    pub not_after: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct OverviewSummary {
    pub counts: StatusCounts,
    /// Midnight UTC of the calendar's first day (today).
    pub calendar_start: Timestamp,
    /// Live certificates whose `not_after` falls on each day, `CALENDAR_DAYS` entries.
    pub calendar: Vec<usize>,
    /// Soonest expiry first, at most 50.
    pub attention: Vec<AttentionItem>,
    /// Newest first, across the caller's projects.
    pub latest_jobs: Vec<JobView>,
    pub projects: usize,
}

/// The summary of every project the caller can read (`auth`'s policy: reading certificates).
pub async fn overview(auth: &Authorized) -> Result<OverviewSummary, ApiError> {
    let now = auth.state().now();
    let calendar_start = Timestamp::from_unix_millis(now.as_unix_millis().div_euclid(DAY_MILLIS) * DAY_MILLIS);
    let request = StatsRequest { now, calendar_start, calendar_days: CALENDAR_DAYS, attention_limit: ATTENTION_LIMIT };
    let mut summary = OverviewSummary {
        counts: StatusCounts::default(),
        calendar_start,
        calendar: vec![0; CALENDAR_DAYS],
        attention: Vec::new(),
        latest_jobs: Vec::new(),
        projects: 0,
    };
    let store = auth.state().store()?.clone();
    for project in visible_projects(auth).await? {
        let scope = auth.project_scope(project).await?;
        summary.projects += 1;
        let stats = store.certificate_stats(&scope, &request).await?;
        add_project(&*store, &scope, &request, stats, &mut summary).await?;
        latest_jobs(&*store, &scope, &mut summary.latest_jobs).await?;
    }
    summary.attention.sort_by_key(|a| (a.not_after.map_or(i64::MAX, Timestamp::as_unix_millis), a.certificate_id));
    summary.attention.truncate(ATTENTION_LIMIT);
    Ok(summary)
}

/// Every project the caller sees (an owner: all of them; a member: theirs).
pub async fn visible_projects(auth: &Authorized) -> Result<Vec<ProjectId>, ApiError> {
    let mut ids = Vec::new();
    let mut page = PageRequest::first(SCAN_PAGE);
    loop {
        let batch = crate::service::projects::list(auth, page).await?;
        ids.extend(batch.items.iter().map(|p| p.id));
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(SCAN_PAGE, cursor),
            None => return Ok(ids),
        }
    }
}

/// Adds one project's figures to `summary`, and its attention items with their wording; the
/// certificates a deployment item names are read for their names (at most `ATTENTION_LIMIT`).
async fn add_project(
    store: &dyn Store,
    scope: &ProjectScope,
    request: &StatsRequest,
    stats: ProjectCertificateStats,
    summary: &mut OverviewSummary,
) -> Result<(), ApiError> {
    summary.counts.merge(&stats.counts);
    for (day, n) in summary.calendar.iter_mut().zip(&stats.calendar) {
        *day += n;
    }
    let rules = request.rules();
    let mut names: HashMap<CertificateId, String> = HashMap::new();
    for cert in &stats.attention {
        names.insert(cert.id, cert.common_name.clone());
        if let Some(item) = certificate_item(&rules, cert) {
            summary.attention.push(item);
        }
    }
    let unnamed: Vec<CertificateId> =
        stats.deployments.iter().map(|d| d.certificate_id).filter(|id| !names.contains_key(id)).collect();
    if !unnamed.is_empty() {
        for cert in store.get_many::<Certificate>(scope, &unnamed).await? {
            names.insert(cert.id, cert.common_name);
        }
    }
    for d in &stats.deployments {
        let Some(kind) = DeploymentCondition::attention_kind(&DeploymentFacts::of(d)) else { continue };
        let detail = match kind {
            AttentionKind::Drift => format!("target {}: {}", d.target_id, d.drift.as_deref().unwrap_or_default()),
            _ => format!("target {}: {}", d.target_id, d.last_error.as_deref().unwrap_or("failed")),
        };
        summary.attention.push(AttentionItem {
            certificate_id: d.certificate_id,
            project_id: scope.project_id(),
            common_name: names.get(&d.certificate_id).cloned().unwrap_or_default(),
            kind,
            detail,
            not_after: None,
        });
    }
    Ok(())
}

/// A certificate's attention item, worded for the operator, if the rules put it on the list.
fn certificate_item(rules: &OverviewRules, cert: &Certificate) -> Option<AttentionItem> {
    let kind = rules.attention_kind(&CertificateFacts::of(cert))?;
    let detail = match kind {
        AttentionKind::Failing => cert.last_error.clone().unwrap_or_else(|| "failed".into()),
        AttentionKind::Overdue if cert.paused => "past its renewal window, renewal paused".into(),
        AttentionKind::Overdue => "past its renewal window".into(),
        _ => kind.as_str().into(),
    };
    Some(AttentionItem {
        certificate_id: cert.id,
        project_id: cert.project_id,
        common_name: cert.common_name.clone(),
        kind,
        detail,
        not_after: cert.not_after,
    })
}

/// Keeps the `LATEST_JOBS` newest jobs of `scope` in `latest` (jobs page oldest first).
async fn latest_jobs(store: &dyn Store, scope: &ProjectScope, latest: &mut Vec<JobView>) -> Result<(), ApiError> {
    let mut page = PageRequest::first(SCAN_PAGE);
    loop {
        let batch = store.list_project_jobs(scope, &page).await?;
        latest.extend(batch.items.into_iter().rev().take(LATEST_JOBS).map(JobView::from));
        latest.sort_by_key(|j| std::cmp::Reverse(j.queued_at));
        latest.truncate(LATEST_JOBS);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(SCAN_PAGE, cursor),
            None => return Ok(()),
        }
    }
}
