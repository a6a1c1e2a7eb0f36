//! Edit forms for one record: an ACME account (contact, CA bundle, External Account Binding) and a
//! distribution target (name, settings, its secret). Each form carries the record's `version`; a
//! post is the REST operation of the same id (`updateAcmeAccount`, `updateTarget`).
//! Invariant: secrets are write-only (the form says whether one is set; an empty field keeps it;
//! a refused form never echoes one); a refused or stale edit changes nothing and shows why.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::{AcmeAccountId, TargetId};
use certautopilot_core::model::Role;
use serde_json::Value;

use crate::api::views::{AcmeAccountView, TargetView, UpdateAcmeAccount, UpdateTarget};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::validate::serde_names;
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::forms::{FieldErrors, FormData};

/// The account form's inputs; the service's `field` names map onto them.
const ACCOUNT_FIELDS: [&str; 4] = ["contact", "ca_bundle_pem", "eab_kid", "eab_hmac_key"];

#[derive(Template)]
#[template(path = "edit.html")]
struct EditPage {
    layout: Layout,
    can_admin: bool,
    errors: FieldErrors,
    account: Option<AcmeAccountView>,
    target: Option<TargetView>,
    /// What the inputs show: the record's values, or those of the refused post (never a secret).
    form: FormData,
    /// The version the form edits: the record's, or the refused post's (so a stale form stays stale).
    version: u64,
}

impl EditPage {
    fn new(ui: &Ui, title: String, section: &'static str, project: certautopilot_core::ids::ProjectId) -> EditPage {
        EditPage {
            layout: ui.layout(title, section, Some(project)),
            can_admin: ui.can(project, Role::Admin),
            errors: FieldErrors::default(),
            account: None,
            target: None,
            form: FormData::default(),
            version: 0,
        }
    }

    fn account_status(&self, account: &AcmeAccountView) -> String {
        serde_names(&[account.status]).concat()
    }

    /// The answer to a stale post: the record as it is now (this page), 409, saying why.
    fn stale(mut self, message: String) -> UiResult {
        self.errors = FieldErrors::whole(message);
        Ok(render_status(StatusCode::CONFLICT, &self))
    }

    /// The answer to a refused value: this page with the post's version and the message, 422.
    fn refused(mut self, posted: &FormData, errors: FieldErrors) -> UiResult {
        self.version = version_of(posted).unwrap_or(self.version);
        self.errors = errors;
        Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &self))
    }

    /// The name of the target's secret setting (`hmac_secret`, `private_key`, …), empty if none.
    fn secret_field(&self) -> &'static str {
        self.target.as_ref().and_then(|t| t.kind.secret_field()).unwrap_or_default()
    }
}

fn account_page(ui: &Ui, account: AcmeAccountView) -> EditPage {
    let mut page = EditPage::new(ui, format!("Edit ACME account {}", account.name), "accounts", account.project_id);
    page.form = FormData::from_pairs(vec![
        ("contact".into(), account.contact.join("\n")),
        ("eab_kid".into(), account.eab_kid.clone().unwrap_or_default()),
    ]);
    page.version = account.version;
    page.account = Some(account);
    page
}

fn target_page(ui: &Ui, target: TargetView) -> EditPage {
    let mut page = EditPage::new(ui, format!("Edit target {}", target.name), "targets", target.project_id);
    let config = serde_json::to_string_pretty(&target.config).unwrap_or_default();
    page.form = FormData::from_pairs(vec![("name".into(), target.name.clone()), ("config".into(), config)]);
    page.version = target.version;
    page.target = Some(target);
    page
}

fn id_of<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, UiError> {
    text.parse().map_err(|_| ApiError::not_found(what).into())
}

fn version_of(form: &FormData) -> Result<u64, ApiError> {
    form.text("version").parse().map_err(|_| ApiError::invalid("version", "missing; reload the page and try again"))
}

/// What a refused edit shows: a stale version re-renders the record as it is now with a message;
/// a refused value re-renders the post (without secrets) with the message beside its field.
enum Refusal {
    Stale(String),
    Invalid(FieldErrors),
}

fn refusal(e: ApiError, shown: &[&str]) -> Result<Refusal, UiError> {
    match e.code {
        ErrorCode::VersionConflict => Ok(Refusal::Stale(format!(
            "this record changed since the form was opened ({}): the form now shows its current values; make your change again",
            e.detail
        ))),
        ErrorCode::Conflict => Ok(Refusal::Invalid(FieldErrors::from_api(&e, shown))),
        _ if e.field.is_some() => Ok(Refusal::Invalid(FieldErrors::from_api(&e, shown))),
        _ => Err(e.into()),
    }
}

pub async fn edit_account_page(req: HttpRequest, path: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id: AcmeAccountId = id_of(&path, "acme account")?;
    let account = crate::service::acme_accounts::get(&ui.auth("getAcmeAccount")?, id).await?;
    render(&account_page(&ui, account))
}

pub async fn update_account(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id: AcmeAccountId = id_of(&path, "acme account")?;
    let current = crate::service::acme_accounts::get(&ui.auth("getAcmeAccount")?, id).await?;
    let (eab_kid, eab_hmac_key) = match (form.optional("eab_kid"), form.optional("eab_hmac_key")) {
        (kid, Some(key)) => (kid, Some(key)),
        // A key id typed without its key: the service says the key is required.
        (Some(kid), None) if current.eab_kid.as_deref() != Some(kid.as_str()) => (Some(kid), None),
        _ => (None, None),
    };
    let ca_bundle_pem =
        if form.checked("remove_ca_bundle") { Some(None) } else { form.optional("ca_bundle_pem").map(Some) };
    let result = match version_of(&form) {
        Ok(version) => {
            let input = UpdateAcmeAccount {
                version,
                contact: Some(form.all("contact")),
                ca_bundle_pem,
                eab_kid,
                eab_hmac_key,
                directory_url: None,
            };
            crate::service::acme_accounts::update(&ui.auth("updateAcmeAccount")?, id, input).await
        }
        Err(e) => Err(e),
    };
    let project = current.project_id;
    let e = match result {
        Ok(_) => return Ok(see_other(&format!("/accounts?project={project}&notice=updated"))),
        Err(e) => e,
    };
    match refusal(e, &ACCOUNT_FIELDS)? {
        Refusal::Stale(message) => {
            let fresh = crate::service::acme_accounts::get(&ui.auth("getAcmeAccount")?, id).await?;
            account_page(&ui, fresh).stale(message)
        }
        Refusal::Invalid(errors) => {
            let mut page = account_page(&ui, current);
            page.form = form.clone().without(&["eab_hmac_key", "csrf_token"]);
            page.refused(&form, errors)
        }
    }
}

pub async fn edit_target_page(req: HttpRequest, path: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let id: TargetId = id_of(&path, "target")?;
    let target = crate::service::targets::get(&ui.auth("getTarget")?, id).await?;
    render(&target_page(&ui, target))
}

pub async fn update_target(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id: TargetId = id_of(&path, "target")?;
    let current = crate::service::targets::get(&ui.auth("getTarget")?, id).await?;
    let secret_field = current.kind.secret_field();
    let posted_config = serde_json::from_str::<Value>(&form.text("config"));
    let result = match (&posted_config, version_of(&form)) {
        (_, Err(e)) => Err(e),
        (Ok(Value::Object(config)), Ok(version)) => {
            let mut config = config.clone();
            // The secret has its own write-only input; an empty one keeps the stored secret.
            if let Some(field) = secret_field
                && let Some(secret) = form.optional(field)
            {
                config.insert(field.to_owned(), Value::String(secret));
            }
            let input = UpdateTarget { name: Some(form.text("name")), config: Some(Value::Object(config)), version };
            crate::service::targets::update(&ui.auth("updateTarget")?, id, input).await
        }
        _ => Err(ApiError::invalid("config", "must be a JSON object, e.g. {\"cert_path\": \"/etc/ssl/a.pem\", …}")),
    };
    let project = current.project_id;
    let e = match result {
        Ok(_) => return Ok(see_other(&format!("/targets?project={project}&notice=updated"))),
        Err(e) => e,
    };
    let mut shown = vec!["name", "config"];
    shown.extend(secret_field);
    match refusal(e, &shown)? {
        Refusal::Stale(message) => {
            let fresh = crate::service::targets::get(&ui.auth("getTarget")?, id).await?;
            target_page(&ui, fresh).stale(message)
        }
        Refusal::Invalid(errors) => {
            let mut page = target_page(&ui, current);
            // The posted settings come back only as parsed JSON with every secret setting taken
            // out; text that is not JSON may hold one, so the stored settings are shown instead.
            let config = match posted_config {
                Ok(Value::Object(mut config)) => {
                    for field in page.target.as_ref().map(|t| t.kind.secret_fields()).unwrap_or_default() {
                        config.remove(*field);
                    }
                    serde_json::to_string_pretty(&config).unwrap_or_default()
                }
                _ => page.form.text("config"),
            };
            page.form = FormData::from_pairs(vec![("name".into(), form.text("name")), ("config".into(), config)]);
            page.refused(&form, errors)
        }
    }
}
