//! The project's building blocks, one screen each: ACME accounts, DNS credentials with their
//! zones, and distribution targets: list, create, delete, and a drift scan for targets. Each
//! write is the REST operation of the same id; secret fields (EAB key, TSIG secret, target
//! credentials) are write-only: the lists show only whether one is set.
//! Invariant: a refused create re-renders the screen with the service's message beside its field
//! and stores nothing; a form never echoes a secret back.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{PropagationStrategy, Role, TargetKind};
use certautopilot_core::store::PageRequest;

use crate::api::views::{
    AcmeAccountView, CatalogueEntryView, CreateAcmeAccount, CreateTarget, CreateZone, DnsCredentialView,
    PropagationBody, TargetView, ZoneView,
};
use crate::service::error::ApiError;
use crate::service::validate::serde_names;
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::credentials::ProviderForm;
use crate::ui::display::query_value;
use crate::ui::forms::{FieldErrors, FormData};

/// Which screen a form belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Accounts,
    Dns,
    Targets,
}

impl Screen {
    fn path(self) -> &'static str {
        match self {
            Screen::Accounts => "/accounts",
            Screen::Dns => "/dns",
            Screen::Targets => "/targets",
        }
    }
}

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    layout: Layout,
    screen: &'static str,
    can_admin: bool,
    can_operate: bool,
    errors: FieldErrors,
    /// Which create form the errors belong to (`account`, `credential`, `zone`, `target`).
    failed_form: &'static str,
    form: FormData,
    accounts: Vec<AcmeAccountView>,
    /// The CAs an account may be created from by name.
    catalogue: Vec<CatalogueEntryView>,
    credentials: Vec<DnsCredentialView>,
    zones: Vec<ZoneView>,
    targets: Vec<TargetView>,
    /// The create-credential form's provider and its fields.
    credential_form: ProviderForm,
    /// The zone form's propagation strategies, the default first.
    strategies: Vec<String>,
    target_kinds: Vec<String>,
}

impl ResourcesPage {
    fn errors_for(&self, form: &str) -> FieldErrors {
        if self.failed_form == form { self.errors.clone() } else { FieldErrors::default() }
    }
    fn value(&self, form: &str, field: &str) -> String {
        if self.failed_form == form { self.form.text(field) } else { String::new() }
    }
    fn account_status(&self, account: &AcmeAccountView) -> String {
        serde_names(&[account.status]).concat()
    }
    fn json(&self, value: &serde_json::Value) -> String {
        value.to_string()
    }
    fn credential_name(&self, id: &certautopilot_core::ids::DnsCredentialId) -> String {
        self.credentials.iter().find(|c| c.id == *id).map(|c| c.name.clone()).unwrap_or_default()
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Created.",
        "deleted" => "Deleted.",
        "updated" => "Saved.",
        "scan" => "Drift scan queued.",
        _ => return None,
    })
}

async fn screen(
    ui: &Ui,
    which: Screen,
    project: ProjectId,
    failed: Option<(&'static str, FormData, FieldErrors)>,
) -> Result<ResourcesPage, UiError> {
    let all = || PageRequest::first(1_000);
    let (title, section) = match which {
        Screen::Accounts => ("ACME accounts", "accounts"),
        Screen::Dns => ("DNS credentials and zones", "dns"),
        Screen::Targets => ("Distribution targets", "targets"),
    };
    let mut page = ResourcesPage {
        layout: ui.layout(title, section, Some(project)),
        screen: section,
        can_admin: ui.can(project, Role::Admin),
        can_operate: ui.can(project, Role::Operator),
        errors: FieldErrors::default(),
        failed_form: "",
        form: FormData::default(),
        accounts: Vec::new(),
        catalogue: Vec::new(),
        credentials: Vec::new(),
        zones: Vec::new(),
        targets: Vec::new(),
        credential_form: ProviderForm::new(ui.caller.is_owner(), None, &FormData::default(), None),
        strategies: PropagationStrategy::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        target_kinds: serde_names(&TargetKind::ALL),
    };
    match which {
        Screen::Accounts => {
            page.accounts =
                crate::service::acme_accounts::list(&ui.auth("listAcmeAccounts")?, project, all()).await?.items;
            page.catalogue = crate::service::acme_accounts::catalogue(&ui.auth("listAcmeCatalogue")?)?.items;
        }
        Screen::Dns => {
            page.credentials =
                crate::service::dns::list_credentials(&ui.auth("listDnsCredentials")?, project, all()).await?.items;
            page.zones = crate::service::dns::list_zones(&ui.auth("listZones")?, project, all()).await?.items;
        }
        Screen::Targets => {
            page.targets = crate::service::targets::list(&ui.auth("listTargets")?, project, all()).await?.items
        }
    }
    if let Some((form_name, form, errors)) = failed {
        if form_name == "credential" {
            page.credential_form = ProviderForm::new(ui.caller.is_owner(), form.get("provider"), &form, None);
        }
        page.failed_form = form_name;
        page.form = form;
        page.errors = errors;
    }
    Ok(page)
}

async fn show(req: HttpRequest, which: Screen) -> UiResult {
    let ui = Ui::page(&req).await?;
    let Some(project) = ui.project_or_first(query_value(&req, "project").as_deref())? else {
        return Err(UiError::Redirect("/projects".into()));
    };
    let mut page = screen(&ui, which, project, None).await?;
    // The provider whose fields the create-credential form shows (the select's `hx-get`).
    if let Some(provider) = query_value(&req, "provider") {
        page.credential_form = ProviderForm::new(ui.caller.is_owner(), Some(&provider), &FormData::default(), None);
    }
    page.layout.notice = query_value(&req, "notice").and_then(|n| notice_text(&n)).map(str::to_owned);
    render(&page)
}

pub async fn accounts(req: HttpRequest) -> UiResult {
    show(req, Screen::Accounts).await
}

pub async fn dns(req: HttpRequest) -> UiResult {
    show(req, Screen::Dns).await
}

pub async fn targets(req: HttpRequest) -> UiResult {
    show(req, Screen::Targets).await
}

fn project_field(form: &FormData) -> Result<ProjectId, UiError> {
    form.text("project_id").parse().map_err(|_| ApiError::not_found("project").into())
}

/// A create form's outcome: back to the screen with a notice, or the screen again with the
/// service's message beside its field (fields whose values are secret are never refilled).
async fn created(
    ui: &Ui,
    which: Screen,
    project: ProjectId,
    form_name: &'static str,
    mut form: FormData,
    result: Result<(), ApiError>,
    shown: &[&str],
) -> UiResult {
    match result {
        Ok(()) => Ok(see_other(&format!("{}?project={project}&notice=created", which.path()))),
        Err(e) if e.field.is_some() || e.code == crate::service::error::ErrorCode::Conflict => {
            let errors = FieldErrors::from_api(&e, shown);
            form = form.without(&["eab_hmac_key", "csrf_token"]);
            let page = screen(ui, which, project, Some((form_name, form, errors))).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn create_account(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let input = CreateAcmeAccount {
        project_id: project,
        name: form.text("name"),
        directory_url: form.optional("directory_url"),
        ca: form.optional("ca"),
        staging: form.checked("staging"),
        contact: form.all("contact"),
        tos_agreed: form.checked("tos_agreed"),
        eab_kid: form.optional("eab_kid"),
        eab_hmac_key: form.optional("eab_hmac_key"),
        ca_bundle_pem: form.optional("ca_bundle_pem"),
    };
    let result = crate::service::acme_accounts::create(&ui.auth("createAcmeAccount")?, input).await.map(drop);
    let shown =
        ["name", "ca", "staging", "directory_url", "contact", "tos_agreed", "eab_kid", "eab_hmac_key", "ca_bundle_pem"];
    created(&ui, Screen::Accounts, project, "account", form, result, &shown).await
}

/// The DNS screen again after a refused credential form: the message beside its field, the
/// posted values (without secrets) in the inputs, nothing stored.
pub async fn dns_refused(ui: &Ui, project: ProjectId, form: FormData, errors: FieldErrors) -> UiResult {
    let page = screen(ui, Screen::Dns, project, Some(("credential", form, errors))).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub async fn create_zone(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let result = match form.text("credential_id").parse() {
        Ok(credential_id) => match zone_propagation(&form) {
            Ok(propagation) => {
                let input = CreateZone { project_id: project, apex: form.text("apex"), credential_id, propagation };
                crate::service::dns::create_zone(&ui.auth("createZone")?, input).await.map(drop)
            }
            Err(e) => Err(e),
        },
        Err(_) => Err(ApiError::invalid("credential_id", "choose a DNS credential")),
    };
    created(&ui, Screen::Dns, project, "zone", form, result, &ZONE_FIELDS).await
}

/// The zone form's fields, as the API names them (a refusal marks its field).
pub(crate) const ZONE_FIELDS: [&str; 8] = [
    "apex",
    "credential_id",
    "propagation.strategy",
    "propagation.nameservers",
    "propagation.resolvers",
    "propagation.delay_seconds",
    "propagation.timeout_seconds",
    "propagation.poll_interval_ms",
];

/// The zone form's propagation settings (`None` when the form leaves them all blank); a number
/// that does not read is refused with its field.
pub(crate) fn zone_propagation(form: &FormData) -> Result<Option<PropagationBody>, ApiError> {
    let number = |name: &str| -> Result<Option<u32>, ApiError> {
        let field = format!("propagation.{name}");
        form.optional(&field)
            .map(|v| v.parse::<u32>().map_err(|_| ApiError::invalid(&field, "must be a whole number")))
            .transpose()
    };
    let body = PropagationBody {
        strategy: form.optional("propagation.strategy"),
        nameservers: form.all("propagation.nameservers"),
        resolvers: form.all("propagation.resolvers"),
        delay_seconds: number("delay_seconds")?,
        timeout_seconds: number("timeout_seconds")?,
        poll_interval_ms: number("poll_interval_ms")?,
    };
    let blank = body.strategy.is_none()
        && body.nameservers.is_empty()
        && body.resolvers.is_empty()
        && body.delay_seconds.is_none()
        && body.timeout_seconds.is_none()
        && body.poll_interval_ms.is_none();
    Ok((!blank).then_some(body))
}

pub async fn create_target(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let result = match serde_json::from_str::<serde_json::Value>(&form.text("config")) {
        Ok(config) => {
            let input = CreateTarget { project_id: project, name: form.text("name"), kind: form.text("type"), config };
            crate::service::targets::create(&ui.auth("createTarget")?, input).await.map(drop)
        }
        Err(_) => {
            Err(ApiError::invalid("config", "must be a JSON object, e.g. {\"cert_path\": \"/etc/ssl/a.pem\", …}"))
        }
    };
    // The configuration may hold a credential: it is not refilled either.
    let form = form.without(&["config"]);
    created(&ui, Screen::Targets, project, "target", form, result, &["name", "type", "config"]).await
}

/// Deletes one record (`kind`: `accounts`, `credentials`, `zones`, `targets`) or queues a
/// target's drift scan (`targets/{id}/scan`).
pub async fn record_action(req: HttpRequest, path: web::Path<(String, String, String)>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let (kind, id, action) = path.into_inner();
    let missing = || UiError::from(ApiError::not_found(&kind));
    let project = project_field(&form)?;
    let (screen, notice) = match (kind.as_str(), action.as_str()) {
        ("accounts", "delete") => {
            let id = id.parse().map_err(|_| missing())?;
            crate::service::acme_accounts::delete(&ui.auth("deleteAcmeAccount")?, id).await?;
            (Screen::Accounts, "deleted")
        }
        ("credentials", "delete") => {
            let id = id.parse().map_err(|_| missing())?;
            crate::service::dns::delete_credential(&ui.auth("deleteDnsCredential")?, id).await?;
            (Screen::Dns, "deleted")
        }
        ("zones", "delete") => {
            let id = id.parse().map_err(|_| missing())?;
            crate::service::dns::delete_zone(&ui.auth("deleteZone")?, id).await?;
            (Screen::Dns, "deleted")
        }
        ("targets", "delete") => {
            let id = id.parse().map_err(|_| missing())?;
            crate::service::targets::delete(&ui.auth("deleteTarget")?, id).await?;
            (Screen::Targets, "deleted")
        }
        ("targets", "scan") => {
            let id = id.parse().map_err(|_| missing())?;
            crate::service::targets::scan(&ui.auth("scanTarget")?, id).await?;
            (Screen::Targets, "scan")
        }
        _ => return Err(missing()),
    };
    Ok(see_other(&format!("{}?project={project}&notice={notice}", screen.path())))
}
