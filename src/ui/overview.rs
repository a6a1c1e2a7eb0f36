//! The overview: counts by state (each a link to the inventory so filtered), the expiry calendar,
//! what needs attention and the latest jobs, across every project the caller sees
//! (`service::overview`, under the policy of `listCertificates`).
//! Invariant: the page shows the service's figures as they are; it computes none of its own.

use actix_web::{HttpRequest, web};
use askama::Template;

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
    let layout = ui.layout("Overview", "overview", project);
    render(&OverviewPage { layout, summary, calendar_svg, attention, jobs, can_request })
}
