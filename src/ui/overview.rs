//! The overview: counts by state and by health (each a link to the inventory so filtered), the expiry calendar,
//! what needs attention and the latest jobs, across every project the caller sees
//! (`service::overview`, under the policy of `listCertificates`).
//! Invariant: the page shows the service's figures as they are; it computes none of its own.

use actix_web::{HttpRequest, web};
use askama::Template;

use certautopilot_core::model::CertificateHealth;

use crate::api::views::JobView;
use crate::service::AppState;
use crate::service::overview::{AttentionItem, OverviewSummary};
use crate::ui::calendar::heatmap_svg;
use crate::ui::context::{Layout, Ui, UiResult, render, see_other};
use crate::ui::display::{ProjectNames, when};

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    layout: Layout,
    summary: OverviewSummary,
    calendar_svg: String,
    attention: Vec<(AttentionItem, String)>,
    jobs: Vec<(JobView, String)>,
    can_request: bool,
    /// Each health with its count and the card's tone, in `CertificateHealth::ALL`'s order.
    health: Vec<(&'static str, usize, &'static str)>,
}

impl OverviewPage {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }
}

pub async fn overview(state: web::Data<AppState>, req: HttpRequest) -> UiResult {
    if state.organization().await?.is_none() {
        return Ok(see_other("/setup"));
    }
    let ui = Ui::page(&req).await?;
    let project = ui.project_or_first(crate::ui::display::query_value(&req, "project").as_deref())?;
    let summary = crate::service::overview::overview(&ui.auth("listCertificates")?).await?;
    let names = ProjectNames::of(&ui);
    let calendar_svg = heatmap_svg(summary.calendar_start, &summary.calendar, "");
    let attention = summary.attention.iter().map(|a| (a.clone(), names.name(a.project_id))).collect();
    let jobs = summary
        .latest_jobs
        .iter()
        .map(|j| (j.clone(), j.project_id.map(|p| names.name(p)).unwrap_or_default()))
        .collect();
    let can_request = ui.projects.iter().any(|(p, _)| ui.can(p.id, certautopilot_core::model::Role::Operator));
    let health = summary.counts.health.iter().map(|(h, n)| (h.as_str(), n, tone(h))).collect();
    let layout = ui.layout("Overview", "overview", project);
    render(&OverviewPage { layout, summary, calendar_svg, attention, jobs, can_request, health })
}

/// The card colour of a health: the same class names as the status cards.
pub fn tone(health: CertificateHealth) -> &'static str {
    match health {
        CertificateHealth::Ok => "ok",
        CertificateHealth::RenewalDue | CertificateHealth::Drifted | CertificateHealth::Pending => "warn",
        CertificateHealth::RenewalFailing | CertificateHealth::Overdue | CertificateHealth::Expired => "bad",
        CertificateHealth::Revoked | CertificateHealth::Unmanaged => "",
    }
}
