//! The inventory (filters and cursor paging over `service::inventory`) and the new-certificate
//! form (`createCertificate`). The form's choices (accounts, targets) are the project's, read
//! through the same list operations as REST; the service checks every value again.
//! Invariant: a refused request re-renders the form with the service's message beside its field
//! and stores nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{CertificateHealth, CertificateStatus, KeyType, Role};
use certautopilot_core::store::PageRequest;

use crate::api::views::{AcmeAccountView, CertificateView, CreateCertificate, TargetView};
use crate::service::error::ApiError;
use crate::service::inventory::{InventoryFilter, InventorySort, SCAN_BUDGET};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::display::{ProjectNames, query_value, span, when_opt};
use crate::ui::forms::{FieldErrors, FormData};

pub const STATUSES: [&str; 8] =
    ["requested", "issuing", "issued", "renewing", "failed", "revoked", "expired", "unmanaged"];
const PAGE_SIZE: usize = 50;

#[derive(Template)]
#[template(path = "inventory.html")]
struct InventoryPage {
    layout: Layout,
    /// The filter as given, to fill the form and the paging links.
    status: String,
    q: String,
    expiring: String,
    expires_on: String,
    /// The order shown (`sort`), and the orders offered with their labels.
    sort: &'static str,
    sorts: [(&'static str, &'static str); 2],
    all_projects: bool,
    rows: Vec<(CertificateView, String)>,
    filter_query: String,
    next_cursor: Option<String>,
    paged: bool,
    budget_hit: bool,
    problem: Option<String>,
    statuses: &'static [&'static str],
    health: String,
    healths: [&'static str; 9],
}

impl InventoryPage {
    fn expires(&self, cert: &CertificateView) -> String {
        match cert.expires_in_seconds {
            Some(s) => format!("{} ({})", when_opt(cert.not_after), span(s)),
            None => "—".to_owned(),
        }
    }
}

/// The filter of the inventory's query string; a value that cannot be one is reported, not
/// ignored.
fn read_filter(req: &HttpRequest) -> Result<InventoryFilter, String> {
    let mut filter = InventoryFilter { text: query_value(req, "q"), ..Default::default() };
    if let Some(s) = query_value(req, "status") {
        filter.status = Some(
            serde_json::from_value::<CertificateStatus>(serde_json::Value::String(s.clone()))
                .map_err(|_| format!("unknown status {s:?}"))?,
        );
    }
    if let Some(days) = query_value(req, "expiring") {
        filter.expiring_within_days =
            Some(days.parse().map_err(|_| "expiring within: a number of days, 0 or more".to_owned())?);
    }
    if let Some(day) = query_value(req, "expires_on") {
        filter.expires_on_day = Some(crate::ui::calendar::parse_day(&day).ok_or("expires on: a date YYYY-MM-DD")?);
    }
    if let Some(health) = query_value(req, "health") {
        filter.health = Some(CertificateHealth::parse(&health).ok_or_else(|| format!("unknown health {health:?}"))?);
    }
    if let Some(issuer) = query_value(req, "issuer") {
        filter.issuer = Some(issuer.parse().map_err(|_| "issuer: an ACME account id".to_owned())?);
    }
    Ok(filter)
}

/// The order of the query string's `sort`. The expiry order is one project's: across projects it
/// is refused here, with the reason shown, like a bad filter value.
fn read_sort(req: &HttpRequest, project: Option<ProjectId>) -> Result<InventorySort, String> {
    let Some(text) = query_value(req, "sort") else { return Ok(InventorySort::Default) };
    let sort = InventorySort::parse(&text).map_err(|e| format!("order: {}", e.detail))?;
    if sort == InventorySort::Expires && project.is_none() {
        return Err("order: expires soonest is shown for one project at a time; choose a project".to_owned());
    }
    Ok(sort)
}

fn sort_label(sort: InventorySort) -> &'static str {
    match sort {
        InventorySort::Default => "Default order",
        InventorySort::Expires => "Expires soonest",
    }
}

pub async fn inventory(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project: Option<ProjectId> = match query_value(&req, "project") {
        Some(p) => Some(p.parse().map_err(|_| UiError::from(ApiError::not_found("project")))?),
        None => None,
    };
    let names = ProjectNames::of(&ui);
    let (filter, sort, problem) = match (read_filter(&req), read_sort(&req, project)) {
        (Ok(f), Ok(s)) => (f, s, None),
        (Err(p), _) | (_, Err(p)) => (InventoryFilter::default(), InventorySort::Default, Some(p)),
    };
    // A refused request shows the first page of everything, so a cursor of the refused order is not read.
    let cursor = query_value(&req, "cursor").filter(|_| problem.is_none());
    let paged = cursor.is_some();
    let page = PageRequest { limit: Some(PAGE_SIZE), cursor };
    let found = crate::service::inventory::search(&ui.auth("listCertificates")?, project, &filter, sort, page).await?;
    let keep = ["project", "status", "health", "q", "expiring", "expires_on", "issuer", "sort"];
    let filter_query: String =
        keep.iter().filter_map(|k| query_value(&req, k).map(|v| format!("&{k}={}", urlencode(&v)))).collect();
    let rows = found.items.into_iter().map(|c| {
        let name = names.name(c.project_id);
        (c, name)
    });
    let page = InventoryPage {
        layout: ui.layout("Certificates", "certificates", project),
        status: query_value(&req, "status").unwrap_or_default(),
        health: query_value(&req, "health").unwrap_or_default(),
        healths: CertificateHealth::ALL.map(CertificateHealth::as_str),
        q: query_value(&req, "q").unwrap_or_default(),
        expiring: query_value(&req, "expiring").unwrap_or_default(),
        expires_on: query_value(&req, "expires_on").unwrap_or_default(),
        sort: sort.name(),
        sorts: InventorySort::ALL.map(|s| (s.name(), sort_label(s))),
        all_projects: project.is_none(),
        rows: rows.collect(),
        filter_query,
        next_cursor: found.next_cursor,
        paged,
        budget_hit: found.scanned >= SCAN_BUDGET,
        problem,
        statuses: &STATUSES,
    };
    render(&page)
}

/// Percent-encodes a query value (what `serde_urlencoded` writes).
pub fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("v", value)]).unwrap_or_default().trim_start_matches("v=").to_owned()
}

#[derive(Template)]
#[template(path = "new_certificate.html")]
struct NewCertificatePage {
    layout: Layout,
    errors: FieldErrors,
    project_name: String,
    accounts: Vec<AcmeAccountView>,
    targets: Vec<TargetView>,
    key_types: Vec<String>,
    form: FormData,
}

impl NewCertificatePage {
    fn chosen(&self, field: &str, value: &str) -> bool {
        self.form.all(field).iter().any(|v| v == value)
    }
}

/// The project the form is for: given, else the caller's first project where they may request.
pub(super) fn form_project(ui: &Ui, asked: Option<&str>) -> Result<ProjectId, UiError> {
    match ui.project_or_first(asked)? {
        Some(p) => Ok(p),
        None => Err(UiError::Redirect("/projects".into())),
    }
}

async fn new_form(
    ui: &Ui,
    project: ProjectId,
    form: FormData,
    errors: FieldErrors,
) -> Result<NewCertificatePage, UiError> {
    let first = || PageRequest::first(1_000);
    let accounts = crate::service::acme_accounts::list(&ui.auth("listAcmeAccounts")?, project, first()).await?.items;
    let targets = crate::service::targets::list(&ui.auth("listTargets")?, project, first()).await?.items;
    Ok(NewCertificatePage {
        layout: ui.layout("Request a certificate", "certificates", Some(project)),
        errors,
        project_name: ProjectNames::of(ui).name(project),
        accounts,
        targets,
        key_types: crate::service::validate::serde_names(&KeyType::ALL),
        form,
    })
}

pub async fn new_page(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project = form_project(&ui, query_value(&req, "project").as_deref())?;
    if !ui.can(project, Role::Operator) {
        return Err(ApiError::forbidden("requesting certificates needs the operator role in the project").into());
    }
    render(&new_form(&ui, project, FormData::default(), FieldErrors::default()).await?)
}

/// Reads the form into the operation's input; a value of the wrong shape is that field's error.
fn create_input(form: &FormData, project: ProjectId) -> Result<CreateCertificate, ApiError> {
    let csr_pem = form.optional("csr_pem");
    // With a CSR the key type comes from it; the form's select is left alone.
    let key_type = match &csr_pem {
        Some(_) => None,
        None => Some(
            serde_json::from_value(serde_json::Value::String(form.text("key_type")))
                .map_err(|_| ApiError::invalid("key_type", "choose a key type"))?,
        ),
    };
    // The policy matters only with a CSR; the select keeps its default otherwise.
    let csr_renewal = match (&csr_pem, form.optional("csr_renewal")) {
        (Some(_), Some(policy)) => Some(
            serde_json::from_value(serde_json::Value::String(policy))
                .map_err(|_| ApiError::invalid("csr_renewal", "choose reuse or new"))?,
        ),
        _ => None,
    };
    let acme_account_id = form
        .text("acme_account_id")
        .parse()
        .map_err(|_| ApiError::invalid("acme_account_id", "choose an ACME account"))?;
    let whole = |field: &str, unit: &str| {
        form.optional(field)
            .map(|d| d.parse::<u32>())
            .transpose()
            .map_err(|_| ApiError::invalid(field, format!("a whole number of {unit}")))
    };
    let renew_before_days = whole("renew_before_days", "days")?;
    let renew_before_hours = whole("renew_before_hours", "hours")?;
    let fallback_account_ids = form
        .all("fallback_account_ids")
        .iter()
        .filter(|a| !a.is_empty())
        .enumerate()
        .map(|(i, a)| a.parse().map_err(|_| ApiError::invalid(format!("fallback_account_ids[{i}]"), "unknown account")))
        .collect::<Result<Vec<_>, _>>()?;
    let target_ids = target_ids(form)?;
    Ok(CreateCertificate {
        project_id: project,
        common_name: form.text("common_name"),
        sans: form.all("sans"),
        key_type,
        csr_renewal,
        csr_pem,
        acme_account_id,
        fallback_account_ids,
        keep_fallback_issuer: form.optional("keep_fallback_issuer").is_some(),
        profile: form.optional("profile"),
        renew_before_days,
        renew_before_hours,
        target_ids,
    })
}

/// The targets ticked in a form; one that is not an id is refused naming its place.
pub(super) fn target_ids(form: &FormData) -> Result<Vec<certautopilot_core::ids::TargetId>, ApiError> {
    form.all("target_ids")
        .iter()
        .enumerate()
        .map(|(i, t)| t.parse().map_err(|_| ApiError::invalid(format!("target_ids[{i}]"), "unknown target")))
        .collect()
}

pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = form_project(&ui, form.get("project_id"))?;
    let result = match create_input(&form, project) {
        Ok(input) => crate::service::certificates::create(&ui.auth("createCertificate")?, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(created) => {
            let notice = if created.approval.is_some() { "awaiting_approval" } else { "requested" };
            Ok(see_other(&format!("/certificates/{}?notice={notice}", created.certificate.id)))
        }
        Err(e) if e.field.is_some() || e.code == crate::service::error::ErrorCode::Conflict => {
            let shown = [
                "common_name",
                "sans",
                "key_type",
                "csr_pem",
                "csr_renewal",
                "acme_account_id",
                "fallback_account_ids",
                "profile",
                "renew_before_days",
                "renew_before_hours",
                "target_ids",
            ];
            let errors = FieldErrors::from_api(&e, &shown);
            let page = new_form(&ui, project, form, errors).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}
