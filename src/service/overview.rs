//! The overview of every certificate the caller can see, across their projects: counts by state,
//! what needs attention, the next 90 days of expiries by day, and the latest jobs. One read
//! operation for the web console's first screen (and any other interface that wants the same
//! summary); it only reads, through the caller's project scopes.
//! Invariant: a project the caller cannot read under the operation's policy contributes nothing;
//! every figure is derived from stored records by the rules below, never by the interface.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::{CertificateId, ProjectId};
use certautopilot_core::model::{Certificate, CertificateStatus, Deployment, DeploymentStatus};
use certautopilot_core::store::{PageRequest, RecordStore};
use certautopilot_core::{ProjectScope, Store};

use crate::api::views::JobView;
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;

/// How many days the expiry calendar covers, today first.
pub const CALENDAR_DAYS: usize = 90;
/// Past its renewal window by more than this, a certificate that is still not renewed is overdue:
/// the scheduler queues a renewal within minutes of `renew_at`, so a day means it is not working.
pub const OVERDUE_AFTER_SECS: i64 = 86_400;
const ATTENTION_LIMIT: usize = 50;
const LATEST_JOBS: usize = 10;
const SCAN_PAGE: usize = 1_000;
const DAY_MILLIS: i64 = 86_400_000;

/// Certificates by what an operator asks first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatusCounts {
    pub issued: usize,
    pub renewing: usize,
    /// Requested or issuing: not yet issued.
    pub pending: usize,
    /// Issued or renewing, and inside the renewal window (`renew_at` passed, not yet expired).
    pub in_window: usize,
    /// In the window for more than `OVERDUE_AFTER_SECS`, or paused in it.
    pub overdue: usize,
    /// Past `not_after` and not revoked.
    pub expired: usize,
    /// Failed, or issued with an error from the last renewal attempt.
    pub failing: usize,
    pub revoked: usize,
    pub total: usize,
}

/// Why a certificate is on the attention list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKind {
    Failing,
    Overdue,
    Expired,
    Drift,
    DeploymentFailed,
}

impl AttentionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttentionKind::Failing => "failing",
            AttentionKind::Overdue => "overdue",
            AttentionKind::Expired => "expired",
            AttentionKind::Drift => "drift",
            AttentionKind::DeploymentFailed => "deployment failed",
        }
    }
}

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
        let names = tally_certificates(&*store, &scope, now, &mut summary).await?;
        note_deployments(&*store, &scope, &names, &mut summary).await?;
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

/// Counts one project's certificates into `summary`; returns their names for the deployments.
async fn tally_certificates(
    store: &dyn Store,
    scope: &ProjectScope,
    now: Timestamp,
    summary: &mut OverviewSummary,
) -> Result<std::collections::HashMap<CertificateId, String>, ApiError> {
    let mut names = std::collections::HashMap::new();
    let mut page = PageRequest::first(SCAN_PAGE);
    loop {
        let batch = store.list::<Certificate>(scope, &page).await?;
        for cert in &batch.items {
            if let Some(item) = classify(cert, now, &mut summary.counts) {
                summary.attention.push(item);
            }
            if let Some(day) = calendar_day(cert, summary.calendar_start) {
                summary.calendar[day] += 1;
            }
            names.insert(cert.id, cert.common_name.clone());
        }
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(SCAN_PAGE, cursor),
            None => return Ok(names),
        }
    }
}

/// The day of the calendar a live certificate expires on, if within it.
fn calendar_day(cert: &Certificate, start: Timestamp) -> Option<usize> {
    if cert.status == CertificateStatus::Revoked {
        return None;
    }
    let offset = cert.not_after?.as_unix_millis() - start.as_unix_millis();
    let day = usize::try_from(offset.div_euclid(DAY_MILLIS)).ok()?;
    (day < CALENDAR_DAYS).then_some(day)
}

/// Counts `cert` and says why it needs attention, if it does.
fn classify(cert: &Certificate, now: Timestamp, counts: &mut StatusCounts) -> Option<AttentionItem> {
    counts.total += 1;
    let item = |kind, detail: String| AttentionItem {
        certificate_id: cert.id,
        project_id: cert.project_id,
        common_name: cert.common_name.clone(),
        kind,
        detail,
        not_after: cert.not_after,
    };
    let live = matches!(cert.status, CertificateStatus::Issued | CertificateStatus::Renewing);
    if cert.status == CertificateStatus::Revoked {
        counts.revoked += 1;
        return None;
    }
    if cert.status == CertificateStatus::Expired || cert.not_after.is_some_and(|t| t <= now) {
        counts.expired += 1;
        return Some(item(AttentionKind::Expired, "expired".into()));
    }
    match cert.status {
        CertificateStatus::Issued => counts.issued += 1,
        CertificateStatus::Renewing => counts.renewing += 1,
        CertificateStatus::Requested | CertificateStatus::Issuing => counts.pending += 1,
        _ => {}
    }
    let failing = cert.status == CertificateStatus::Failed || (live && cert.last_error.is_some());
    let in_window = live && cert.renew_at.is_some_and(|t| t <= now);
    let overdue = in_window
        && (cert.paused
            || cert.renew_at.is_some_and(|t| now.as_unix_millis() - t.as_unix_millis() > OVERDUE_AFTER_SECS * 1_000));
    counts.in_window += usize::from(in_window);
    counts.overdue += usize::from(overdue);
    if failing {
        counts.failing += 1;
        return Some(item(AttentionKind::Failing, cert.last_error.clone().unwrap_or_else(|| "failed".into())));
    }
    if overdue {
        let why = if cert.paused { "past its renewal window, renewal paused" } else { "past its renewal window" };
        return Some(item(AttentionKind::Overdue, why.into()));
    }
    None
}

/// Adds drifted and failed deployments of one project to the attention list.
async fn note_deployments(
    store: &dyn Store,
    scope: &ProjectScope,
    names: &std::collections::HashMap<CertificateId, String>,
    summary: &mut OverviewSummary,
) -> Result<(), ApiError> {
    let mut page = PageRequest::first(SCAN_PAGE);
    loop {
        let batch = store.list::<Deployment>(scope, &page).await?;
        for d in &batch.items {
            let (kind, detail) = match (&d.drift, d.status) {
                (Some(drift), _) => (AttentionKind::Drift, format!("target {}: {drift}", d.target_id)),
                (None, DeploymentStatus::Failed) => (
                    AttentionKind::DeploymentFailed,
                    format!("target {}: {}", d.target_id, d.last_error.as_deref().unwrap_or("failed")),
                ),
                _ => continue,
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
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(SCAN_PAGE, cursor),
            None => return Ok(()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::ids::AcmeAccountId;
    use certautopilot_core::model::KeyType;

    fn cert(status: CertificateStatus, now: Timestamp, renew_in_h: i64, expires_in_h: i64) -> Certificate {
        let mut c = Certificate::new(
            ProjectId::new(),
            "a.example.test",
            vec!["a.example.test".into()],
            KeyType::EcdsaP256,
            AcmeAccountId::new(),
            now,
        );
        c.status = status;
        let h = |n: i64| Timestamp::from_unix_millis(now.as_unix_millis() + n * 3_600_000);
        c.renew_at = Some(h(renew_in_h));
        c.not_after = Some(h(expires_in_h));
        c
    }

    /// Each rule of the summary, one certificate at a time: the counts it lands in and whether it
    /// needs attention (an issued certificate well before its window does not).
    #[test]
    fn certificates_are_counted_by_the_overview_rules() {
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let mut counts = StatusCounts::default();
        assert!(classify(&cert(CertificateStatus::Issued, now, 100, 1_000), now, &mut counts).is_none());
        let window = classify(&cert(CertificateStatus::Issued, now, -2, 1_000), now, &mut counts);
        assert!(window.is_none(), "two hours into the window is not overdue yet");
        let overdue = classify(&cert(CertificateStatus::Issued, now, -48, 1_000), now, &mut counts).unwrap();
        assert_eq!(overdue.kind, AttentionKind::Overdue);
        let expired = classify(&cert(CertificateStatus::Issued, now, -500, -1), now, &mut counts).unwrap();
        assert_eq!(expired.kind, AttentionKind::Expired);
        let mut failing = cert(CertificateStatus::Issued, now, -1, 100);
        failing.last_error = Some("dns update refused".into());
        assert_eq!(classify(&failing, now, &mut counts).unwrap().detail, "dns update refused");
        assert!(classify(&cert(CertificateStatus::Revoked, now, -500, -1), now, &mut counts).is_none());
        let expected = StatusCounts {
            issued: 4,
            renewing: 0,
            pending: 0,
            in_window: 3,
            overdue: 1,
            expired: 1,
            failing: 1,
            revoked: 1,
            total: 6,
        };
        assert_eq!(counts, expected);
    }

    /// The calendar puts a certificate on the UTC day of its `not_after`, counting from today;
    /// revoked certificates and those beyond 90 days are left out.
    #[test]
    fn calendar_days_count_from_midnight_utc() {
        let start = Timestamp::from_unix_millis(1_800_000_000_000 / DAY_MILLIS * DAY_MILLIS);
        let now = Timestamp::from_unix_millis(start.as_unix_millis() + 3_600_000);
        assert_eq!(calendar_day(&cert(CertificateStatus::Issued, now, 0, 1), start), Some(0));
        assert_eq!(calendar_day(&cert(CertificateStatus::Issued, now, 0, 24 * 89), start), Some(89));
        assert_eq!(calendar_day(&cert(CertificateStatus::Issued, now, 0, 24 * 90), start), None);
        assert_eq!(calendar_day(&cert(CertificateStatus::Revoked, now, 0, 5), start), None);
        assert_eq!(calendar_day(&cert(CertificateStatus::Issued, now, 0, -2), start), None);
    }
}
