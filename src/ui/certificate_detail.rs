//! One certificate: its facts, validity, targets with their deployment status, the timeline
//! (newest first), the actions the caller's role allows (renew, revoke with a reason, redeploy,
//! download the chain), and, while a job runs, its latest step, polled by htmx from `live`.
//! Invariant: each action is the REST operation of the same id; the page only shows a control the
//! caller's role reaches, and the service refuses the rest anyway.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::model::{CertificateStatus, Role, SUBSCRIBER_REVOCATION_REASONS};

use crate::api::views::{CertificateView, DeploymentView, LiveStatus, RevokeCertificate, TimelineEntry};
use crate::service::certificates as service;
use crate::service::error::ApiError;
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, see_other};
use crate::ui::display::{ProjectNames, query_value, span, when, when_opt};
use crate::ui::forms::FormData;

const TIMELINE_SHOWN: usize = 200;

fn certificate_id(text: &str) -> Result<CertificateId, UiError> {
    text.parse().map_err(|_| ApiError::not_found("certificate").into())
}

/// The certificate's live status (`service::certificates::live`) and how long ago its step was
/// logged.
pub struct LiveStep {
    pub live: LiveStatus,
    pub ago: String,
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveFragment {
    id: CertificateId,
    live: LiveStep,
}

#[derive(Template)]
#[template(path = "certificate.html")]
struct CertificatePage {
    layout: Layout,
    /// The certificate's id, as the live box (`live.html`, included) names it.
    id: CertificateId,
    cert: CertificateView,
    project_name: String,
    /// The first issuer and its fallbacks, in order.
    issuer: String,
    /// The account that issued the current certificate.
    issued_by: Option<String>,
    deployments: Vec<(String, String, Option<DeploymentView>)>,
    timeline: Vec<TimelineEntry>,
    live: LiveStep,
    validity: Option<(i64, i64)>,
    can_operate: bool,
    can_revoke: bool,
    reasons: &'static [&'static str],
    /// Unmanaged, and the reader may put it under management: the accounts to choose from.
    manage_with: Option<Vec<crate::api::views::AcmeAccountView>>,
}

impl CertificatePage {
    fn unmanaged(&self) -> bool {
        self.cert.status == CertificateStatus::Unmanaged
    }
}

impl CertificatePage {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }
    fn when_opt(&self, at: &Option<certautopilot_core::Timestamp>) -> String {
        when_opt(*at)
    }
    fn key_type(&self) -> String {
        crate::service::validate::serde_names(&[self.cert.key_type]).concat()
    }
    fn has_chain(&self) -> bool {
        self.cert.serial.is_some() && self.cert.status != CertificateStatus::Revoked
    }
    fn details(&self, e: &TimelineEntry) -> String {
        match &e.details {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }
}

/// What the live box shows: the newest job's newest step, and the servers an order waits for.
async fn live_step(ui: &Ui, id: CertificateId) -> Result<LiveStep, UiError> {
    let live = service::live(&ui.auth("getCertificateLive")?, id).await?;
    let now = ui.state().now();
    let ago = live.step.as_ref().map(|s| span(-(now.duration_since(s.at).as_secs() as i64))).unwrap_or_default();
    Ok(LiveStep { live, ago })
}

/// An account's name; its id when it cannot be read (deleted, or beyond the reader's roles).
async fn account_name(ui: &Ui, id: certautopilot_core::ids::AcmeAccountId) -> Result<String, UiError> {
    Ok(crate::service::acme_accounts::get(&ui.auth("getAcmeAccount")?, id)
        .await
        .map_or_else(|_| id.to_string(), |a| a.name))
}

pub async fn detail(req: HttpRequest, id: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id = certificate_id(&id)?;
    let cert = service::get(&ui.auth("getCertificate")?, id).await?;
    let mut timeline = service::timeline(&ui.auth("getCertificateTimeline")?, id).await?.items;
    let deployed = service::deployments(&ui.auth("getCertificateDeployments")?, id).await?.items;
    let mut issuer = match cert.acme_account_id {
        Some(first) => account_name(&ui, first).await?,
        None => format!("none: {} here and not under management", cert.origin.as_str()),
    };
    for fallback in &cert.fallback_account_ids {
        issuer = format!("{issuer}, then {}", account_name(&ui, *fallback).await?);
    }
    let issued_by = match cert.issued_by {
        Some(by) => Some(account_name(&ui, by).await?),
        None => None,
    };
    let mut deployments = Vec::new();
    for target in &cert.target_ids {
        let name = crate::service::targets::get(&ui.auth("getTarget")?, *target)
            .await
            .map(|t| t.name)
            .unwrap_or_else(|_| "(deleted)".into());
        let d = deployed.iter().find(|d| d.target_id == *target).cloned();
        deployments.push((target.to_string(), name, d));
    }
    let live = live_step(&ui, id).await?;
    let now = ui.state().now();
    timeline.reverse();
    timeline.truncate(TIMELINE_SHOWN);
    let validity = match (cert.not_before, cert.not_after) {
        (Some(from), Some(to)) => {
            let total = (to.as_unix_millis() - from.as_unix_millis()).max(1) / 1_000;
            let used = ((now.as_unix_millis() - from.as_unix_millis()) / 1_000).clamp(0, total);
            Some((used, total))
        }
        _ => None,
    };
    let can_operate = ui.can(cert.project_id, Role::Operator);
    let manage_with = if can_operate && cert.status == CertificateStatus::Unmanaged {
        let page = certautopilot_core::store::PageRequest::first(1_000);
        Some(crate::service::acme_accounts::list(&ui.auth("listAcmeAccounts")?, cert.project_id, page).await?.items)
    } else {
        None
    };
    let mut layout = ui.layout(cert.common_name.clone(), "certificates", Some(cert.project_id));
    layout.notice = query_value(&req, "notice").and_then(|n| notice_text(&n)).map(str::to_owned);
    let page = CertificatePage {
        layout,
        id,
        project_name: ProjectNames::of(&ui).name(cert.project_id),
        issuer,
        issued_by,
        deployments,
        timeline,
        live,
        validity,
        can_operate,
        manage_with,
        can_revoke: ui.can(cert.project_id, Role::Admin),
        reasons: &SUBSCRIBER_REVOCATION_REASONS,
        cert,
    };
    render(&page)
}

/// What a `?notice=` after an action says; unknown codes say nothing (no text is echoed).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "requested" => "Certificate requested: its issue job is queued.",
        "renew" => "Renewal queued.",
        "revoke" => "Revocation queued.",
        "distribute" => "Deployment to every target queued.",
        "imported" => "Certificate imported: it is watched, not renewed, until you put it under management.",
        "manage" => "Under management: its issuer renews it when its renewal window opens.",
        "awaiting_approval" => "The request waits for an admin's approval (Approvals lists it).",
        _ => return None,
    })
}

/// The live box alone, for htmx to poll. When the job it showed has ended, htmx is told to reload
/// the whole page (`HX-Refresh`), so the facts, targets and timeline show the outcome.
pub async fn live(req: HttpRequest, id: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id = certificate_id(&id)?;
    let live = live_step(&ui, id).await?;
    let was_running = query_value(&req, "running").is_some();
    if was_running && !live.live.running {
        return Ok(HttpResponse::Ok().insert_header(("HX-Refresh", "true")).finish());
    }
    render(&LiveFragment { id, live })
}

/// The actions: each one form post, answered by a redirect back to the page with a notice.
pub async fn action(req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let (id, action) = path.into_inner();
    let id = certificate_id(&id)?;
    let requested = match action.as_str() {
        "renew" => service::renew(&ui.auth("renewCertificate")?, id).await?,
        "revoke" => {
            let input = RevokeCertificate { reason: form.optional("reason") };
            service::revoke(&ui.auth("revokeCertificate")?, id, input).await?
        }
        "distribute" => service::distribute(&ui.auth("distributeCertificate")?, id).await?,
        "manage" => {
            let input = manage_input(&form)?;
            crate::service::certificate_import::manage(&ui.auth("manageCertificate")?, id, input).await?;
            return Ok(see_other(&format!("/certificates/{id}?notice=manage")));
        }
        _ => return Err(ApiError::not_found("action").into()),
    };
    let notice = if requested.approval.is_some() { "awaiting_approval" } else { action.as_str() };
    Ok(see_other(&format!("/certificates/{id}?notice={notice}")))
}

/// The put-under-management form as the operation's input; a value of the wrong shape is refused
/// naming its field.
fn manage_input(form: &FormData) -> Result<crate::api::views::ManageCertificate, ApiError> {
    let version = form.text("version").parse().map_err(|_| ApiError::invalid("version", "reload the page"))?;
    let acme_account_id = form
        .text("acme_account_id")
        .parse()
        .map_err(|_| ApiError::invalid("acme_account_id", "choose an ACME account"))?;
    let renew_before_days = form
        .optional("renew_before_days")
        .map(|d| d.parse::<u32>())
        .transpose()
        .map_err(|_| ApiError::invalid("renew_before_days", "a whole number of days"))?;
    Ok(crate::api::views::ManageCertificate {
        version,
        acme_account_id,
        fallback_account_ids: Vec::new(),
        keep_fallback_issuer: false,
        renew_before_days,
        renew_before_hours: None,
    })
}

/// The issued chain as a PEM file download.
pub async fn chain(req: HttpRequest, id: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id = certificate_id(&id)?;
    let cert = service::get(&ui.auth("getCertificate")?, id).await?;
    let chain = service::chain(&ui.auth("getCertificateChain")?, id).await?;
    let file: String = cert
        .common_name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pem-certificate-chain"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}.pem\"")))
        .body(chain))
}
