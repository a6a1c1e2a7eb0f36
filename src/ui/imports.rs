//! The import form (`importCertificate`): a certificate issued elsewhere, as a PEM chain with or
//! without its key, or a PKCS#12 file (base64) with its password, recorded unmanaged to be watched;
//! and, for admins, the discovery scan form (`startDiscoveryScan`), which opens the scan's job.
//! Invariant: a refused import re-renders the form with the service's message beside its field and
//! stores nothing; the key, the PKCS#12 file and its password are never written back into the page.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::Role;
use certautopilot_core::store::PageRequest;

use crate::api::views::{ImportCertificate, StartDiscoveryScan, TargetView};
use crate::service::error::ApiError;
use crate::ui::certificates::{form_project, target_ids};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::display::{ProjectNames, query_value};
use crate::ui::forms::{FieldErrors, FormData};

/// The fields whose refusals show beside them.
const FIELDS: [&str; 9] = [
    "chain_pem",
    "private_key_pem",
    "pkcs12_base64",
    "password",
    "target_ids",
    "endpoints",
    "cidrs",
    "ports",
    "server_name",
];

#[derive(Template)]
#[template(path = "import_certificate.html")]
struct ImportPage {
    layout: Layout,
    errors: FieldErrors,
    project_name: String,
    targets: Vec<TargetView>,
    /// The chain as given (public); nothing secret is kept for the page.
    chain_pem: String,
    chosen_targets: Vec<String>,
    /// The reader may scan for certificates (admin), and the scan form as given.
    can_scan: bool,
    scan: FormData,
}

impl ImportPage {
    fn chosen(&self, target: &str) -> bool {
        self.chosen_targets.iter().any(|t| t == target)
    }
}

async fn page(
    ui: &Ui,
    project: ProjectId,
    chain_pem: String,
    chosen_targets: Vec<String>,
    errors: FieldErrors,
) -> Result<ImportPage, UiError> {
    let targets =
        crate::service::targets::list(&ui.auth("listTargets")?, project, PageRequest::first(1_000)).await?.items;
    Ok(ImportPage {
        layout: ui.layout("Import a certificate", "certificates", Some(project)),
        errors,
        project_name: ProjectNames::of(ui).name(project),
        targets,
        chain_pem,
        chosen_targets,
        can_scan: ui.can(project, Role::Admin),
        scan: FormData::default(),
    })
}

pub async fn import_page(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project = form_project(&ui, query_value(&req, "project").as_deref())?;
    if !ui.can(project, Role::Operator) {
        return Err(ApiError::forbidden("importing certificates needs the operator role in the project").into());
    }
    render(&page(&ui, project, String::new(), Vec::new(), FieldErrors::default()).await?)
}

fn input(form: &FormData, project: ProjectId) -> Result<ImportCertificate, ApiError> {
    let target_ids = target_ids(form)?;
    Ok(ImportCertificate {
        project_id: project,
        chain_pem: form.optional("chain_pem"),
        private_key_pem: form.optional("private_key_pem"),
        pkcs12_base64: form.optional("pkcs12_base64"),
        password: form.optional("password"),
        target_ids,
    })
}

/// The scan form as the operation's input: one endpoint or range per line, ports comma-separated.
fn scan_input(form: &FormData, project: ProjectId) -> Result<StartDiscoveryScan, ApiError> {
    let lines = |field: &str| -> Vec<String> {
        form.text(field).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let ports = form
        .text("ports")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u16>().map_err(|_| ApiError::invalid("ports", "comma-separated port numbers, 1 to 65535")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StartDiscoveryScan {
        project_id: project,
        endpoints: lines("endpoints"),
        cidrs: lines("cidrs"),
        ports,
        server_name: form.optional("server_name"),
    })
}

/// Starts a discovery scan and opens its job, whose log is the scan report.
pub async fn discover(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = form_project(&ui, form.get("project_id"))?;
    let result = match scan_input(&form, project) {
        Ok(input) => crate::service::discovery::start(&ui.auth("startDiscoveryScan")?, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(queued) => Ok(see_other(&format!("/jobs/{}", queued.job.id))),
        Err(e) if e.field.is_some() => {
            let mut page = page(&ui, project, String::new(), Vec::new(), FieldErrors::from_api(&e, &FIELDS)).await?;
            page.scan = form;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn import(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = form_project(&ui, form.get("project_id"))?;
    let result = match input(&form, project) {
        Ok(input) => crate::service::certificate_import::import(&ui.auth("importCertificate")?, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(view) => Ok(see_other(&format!("/certificates/{}?notice=imported", view.id))),
        Err(e) if e.field.is_some() || e.code == crate::service::error::ErrorCode::Conflict => {
            let errors = FieldErrors::from_api(&e, &FIELDS);
            // A pasted bundle may hold the key too: such a chain is not written back either.
            let chain = Some(form.text("chain_pem")).filter(|c| !c.contains("PRIVATE KEY")).unwrap_or_default();
            let page = page(&ui, project, chain, form.all("target_ids"), errors).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}
