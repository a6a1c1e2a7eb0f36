//! DNS credential forms: create (on the DNS screen), edit and test (a page per credential). The
//! inputs of each provider come from core's one field list (`DnsProvider::fields`); choosing a
//! provider swaps the field set (htmx `hx-get` + `hx-select` on the same page, or the "Show
//! fields" button without script). Writes are `createDnsCredential`, `updateDnsCredential` and
//! `testDnsCredential`.
//! Invariants: secret fields are write-only (never refilled; on an edit an empty one keeps the
//! stored secret); owner-only providers are offered to owners only (the service refuses others
//! anyway); a refused form stores nothing and shows the message beside its field.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::{DnsCredentialId, ProjectId};
use certautopilot_core::model::{DnsProvider, FieldKind, Role};
use certautopilot_core::store::PageRequest;
use serde_json::{Map, Value, json};

use crate::api::views::{
    CreateDnsCredential, CredentialTestResult, DnsCredentialView, TestDnsCredential, UpdateDnsCredential, ZoneView,
};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::validate::serde_names;
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::display::query_value;
use crate::ui::forms::{FieldErrors, FormData};

/// A provider in the form's select.
pub struct ProviderOption {
    pub name: String,
    pub label: &'static str,
    pub selected: bool,
}

/// One input of the chosen provider's settings, as the template renders it.
pub struct FieldView {
    pub name: &'static str,
    pub label: &'static str,
    /// `text`, `url`, `password`, `number`, `textarea`, `secret-textarea` or `select`.
    pub input: &'static str,
    pub value: String,
    pub hint: String,
    pub choices: Vec<&'static str>,
}

impl FieldView {
    /// Whether `choice` is the select's current value.
    pub fn selected(&self, choice: &str) -> bool {
        self.value == choice
    }
}

/// The provider part of a credential form: the choice of provider and its fields.
pub struct ProviderForm {
    pub provider: String,
    pub label: &'static str,
    pub options: Vec<ProviderOption>,
    pub fields: Vec<FieldView>,
}

/// The provider spelled `name`, if this build accepts it.
fn provider_named(name: &str) -> Option<DnsProvider> {
    let names = serde_names(&DnsProvider::ACCEPTED);
    names.iter().position(|n| n == name).map(|at| DnsProvider::ACCEPTED[at])
}

fn name_of(provider: DnsProvider) -> String {
    serde_names(&[provider]).concat()
}

impl ProviderForm {
    /// The form for `chosen` (the first provider when none or unknown), its inputs filled from
    /// `values` except secrets; `stored_secret` is `Some(set)` on an edit.
    pub fn new(is_owner: bool, chosen: Option<&str>, values: &FormData, stored_secret: Option<bool>) -> ProviderForm {
        let offered = |p: &DnsProvider| is_owner || !p.owner_only();
        let provider = chosen.and_then(provider_named).filter(offered).unwrap_or(DnsProvider::ACCEPTED[0]);
        let options = DnsProvider::ACCEPTED
            .iter()
            .filter(|p| offered(p))
            .map(|p| ProviderOption { name: name_of(*p), label: p.label(), selected: *p == provider })
            .collect();
        let fields = provider
            .fields()
            .iter()
            .map(|f| {
                let (input, choices) = match f.kind {
                    FieldKind::Text => ("text", Vec::new()),
                    FieldKind::Url => ("url", Vec::new()),
                    FieldKind::Secret => ("password", Vec::new()),
                    FieldKind::SecretText => ("secret-textarea", Vec::new()),
                    FieldKind::Number => ("number", Vec::new()),
                    FieldKind::Lines => ("textarea", Vec::new()),
                    FieldKind::Choice(choices) => ("select", choices.to_vec()),
                };
                let mut hint = f.hint.to_owned();
                if f.is_secret() {
                    let write_only = match stored_secret {
                        Some(true) => "set; write-only: empty keeps it",
                        Some(false) => "not set; write-only",
                        None => "write-only",
                    };
                    hint = if hint.is_empty() { write_only.to_owned() } else { format!("{hint}; {write_only}") };
                }
                let value = if f.is_secret() { String::new() } else { values.text(f.name) };
                FieldView { name: f.name, label: f.label, input, value, hint, choices }
            })
            .collect();
        ProviderForm { provider: name_of(provider), label: provider.label(), options, fields }
    }

    /// The names of the form's inputs, for placing the service's messages.
    pub fn shown(&self) -> Vec<&str> {
        let mut shown = vec!["name", "provider"];
        shown.extend(self.fields.iter().map(|f| f.name));
        shown
    }
}

/// The request `config` of a posted form: each field of `provider` that was filled in (empty ones
/// are left out: a default applies, a required one is reported missing, a secret is kept).
fn config_from_form(provider: DnsProvider, form: &FormData) -> Value {
    let mut config = Map::new();
    for f in provider.fields() {
        let value = match f.kind {
            FieldKind::Lines => match form.all(f.name) {
                items if items.is_empty() => continue,
                items => json!(items),
            },
            FieldKind::Number => match form.optional(f.name) {
                None => continue,
                Some(text) => text.parse::<u64>().map(Value::from).unwrap_or(Value::String(text)),
            },
            _ => match form.optional(f.name) {
                None => continue,
                Some(text) => Value::String(text),
            },
        };
        config.insert(f.name.to_owned(), value);
    }
    Value::Object(config)
}

/// The stored settings as form values (lists one item per line).
fn values_of(credential: &DnsCredentialView) -> FormData {
    let mut pairs = vec![("name".to_owned(), credential.name.clone())];
    if let Value::Object(config) = &credential.config {
        for (key, value) in config {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
                _ => continue,
            };
            pairs.push((key.clone(), text));
        }
    }
    FormData::from_pairs(pairs)
}

/// Creates a credential from the DNS screen's form; a refusal re-renders the screen.
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project: ProjectId =
        form.text("project_id").parse().map_err(|_| UiError::from(ApiError::not_found("project")))?;
    let chosen = form.text("provider");
    let result = match provider_named(&chosen) {
        Some(provider) => {
            let input = CreateDnsCredential {
                project_id: project,
                name: form.text("name"),
                provider: chosen.clone(),
                config: config_from_form(provider, &form),
            };
            crate::service::dns::create_credential(&ui.auth("createDnsCredential")?, input).await.map(drop)
        }
        None => Err(ApiError::invalid("provider", "choose a provider")),
    };
    match result {
        Ok(()) => Ok(see_other(&format!("/dns?project={project}&notice=created"))),
        Err(e) if e.field.is_some() || e.code == ErrorCode::Conflict => {
            let shown = ProviderForm::new(ui.caller.is_owner(), Some(&chosen), &form, None);
            let errors = FieldErrors::from_api(&e, &shown.shown());
            crate::ui::resources::dns_refused(&ui, project, form.without(&["csrf_token"]), errors).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "credential.html")]
struct CredentialPage {
    layout: Layout,
    can_admin: bool,
    errors: FieldErrors,
    credential: DnsCredentialView,
    form: ProviderForm,
    /// The name input's value (the stored name, or the refused post's).
    name_value: String,
    version: u64,
    zones: Vec<ZoneView>,
    test: Option<CredentialTestResult>,
}

async fn credential_page(
    ui: &Ui,
    credential: DnsCredentialView,
    values: &FormData,
    errors: FieldErrors,
) -> Result<CredentialPage, UiError> {
    let project = credential.project_id;
    let all = PageRequest::first(1_000);
    let zones = crate::service::dns::list_zones(&ui.auth("listZones")?, project, all).await?.items;
    let provider = name_of(credential.provider);
    Ok(CredentialPage {
        layout: ui.layout(format!("DNS credential {}", credential.name), "dns", Some(project)),
        // An owner-only provider's settings change only by owners (the service refuses others).
        can_admin: ui.can(project, Role::Admin) && (!credential.provider.owner_only() || ui.caller.is_owner()),
        errors,
        form: ProviderForm::new(true, Some(&provider), values, Some(credential.has_secret)),
        name_value: values.text("name"),
        version: credential.version,
        zones: zones.into_iter().filter(|z| z.credential_id == credential.id).collect(),
        test: None,
        credential,
    })
}

fn id_of(text: &str) -> Result<DnsCredentialId, UiError> {
    text.parse().map_err(|_| ApiError::not_found("dns credential").into())
}

pub async fn edit_page(req: HttpRequest, path: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let credential = crate::service::dns::get_credential(&ui.auth("getDnsCredential")?, id_of(&path)?).await?;
    let values = values_of(&credential);
    let mut page = credential_page(&ui, credential, &values, FieldErrors::default()).await?;
    page.layout.notice = query_value(&req, "notice").filter(|n| n == "updated").map(|_| "Saved.".to_owned());
    render(&page)
}

pub async fn update(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id = id_of(&path)?;
    let current = crate::service::dns::get_credential(&ui.auth("getDnsCredential")?, id).await?;
    let version = form.text("version").parse::<u64>();
    let result = match version {
        Ok(version) => {
            let input = UpdateDnsCredential {
                name: Some(form.text("name")),
                provider: None,
                config: Some(config_from_form(current.provider, &form)),
                version,
            };
            crate::service::dns::update_credential(&ui.auth("updateDnsCredential")?, id, input).await.map(drop)
        }
        Err(_) => Err(ApiError::invalid("version", "missing; reload the page and try again")),
    };
    let e = match result {
        Ok(()) => return Ok(see_other(&format!("/credentials/{id}/edit?notice=updated"))),
        Err(e) => e,
    };
    if e.code == ErrorCode::VersionConflict {
        let fresh = crate::service::dns::get_credential(&ui.auth("getDnsCredential")?, id).await?;
        let values = values_of(&fresh);
        let message = format!(
            "this credential changed since the form was opened ({}): the form now shows its current settings; make your change again",
            e.detail
        );
        let page = credential_page(&ui, fresh, &values, FieldErrors::whole(message)).await?;
        return Ok(render_status(StatusCode::CONFLICT, &page));
    }
    if e.field.is_none() && e.code != ErrorCode::Conflict {
        return Err(e.into());
    }
    let shown = ProviderForm::new(true, Some(&name_of(current.provider)), &form, None);
    let errors = FieldErrors::from_api(&e, &shown.shown());
    let mut page = credential_page(&ui, current, &form, errors).await?;
    // A refused post keeps its version, so a stale form stays stale.
    page.version = version.unwrap_or(page.version);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Runs the credential's test and shows its steps on the credential's page.
pub async fn test(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id = id_of(&path)?;
    let credential = crate::service::dns::get_credential(&ui.auth("getDnsCredential")?, id).await?;
    let zone_id = match form.optional("zone_id").map(|z| z.parse()) {
        None => None,
        Some(Ok(zone)) => Some(zone),
        Some(Err(_)) => return Err(ApiError::not_found("zone").into()),
    };
    let outcome =
        crate::service::dns_probe::test_credential(&ui.auth("testDnsCredential")?, id, TestDnsCredential { zone_id })
            .await;
    let values = values_of(&credential);
    match outcome {
        Ok(result) => {
            let mut page = credential_page(&ui, credential, &values, FieldErrors::default()).await?;
            page.test = Some(result);
            render(&page)
        }
        Err(e) if e.field.is_some() => {
            let page = credential_page(&ui, credential, &values, FieldErrors::whole(e.detail)).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use certautopilot_core::model::{DnsProviderConfig, example_request};

    use super::*;

    /// A form filled with each provider's example request (one input per field of the provider's
    /// list, lists one item per line) posts the same settings the request decodes to: the field
    /// list covers every accepted provider, and no input is lost on the way.
    #[test]
    fn the_form_of_every_provider_posts_its_settings() {
        for provider in DnsProvider::ACCEPTED {
            let example = example_request(provider);
            let mut pairs = Vec::new();
            for (key, value) in example.as_object().unwrap() {
                let text = match value {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
                    other => other.to_string(),
                };
                pairs.push((key.clone(), text));
            }
            let posted = config_from_form(provider, &FormData::from_pairs(pairs));
            let decode = |v: Value| DnsProviderConfig::decode_request(provider, v.as_object().unwrap().clone());
            let (from_form, secret) = decode(posted).unwrap_or_else(|e| panic!("{provider:?}: {e}"));
            let (from_request, _) = decode(example).unwrap();
            assert_eq!(from_form, from_request, "{provider:?}");
            assert_eq!(secret.is_some(), !provider.secret_fields().is_empty(), "{provider:?}");
        }
    }

    /// Owner-only providers are offered to owners only; an unknown or withheld choice falls back
    /// to the first provider; secrets are never refilled, and say whether one is stored.
    #[test]
    fn the_provider_form_offers_what_the_caller_may_configure() {
        let exec = name_of(DnsProvider::Exec);
        let admin = ProviderForm::new(false, Some(&exec), &FormData::default(), None);
        assert!(admin.options.iter().all(|o| o.name != exec) && admin.provider == "rfc2136");
        let owner = ProviderForm::new(true, Some(&exec), &FormData::default(), None);
        assert_eq!(owner.provider, exec);
        let values = FormData::from_pairs(vec![("api_url".into(), "http://x".into()), ("api_key".into(), "k".into())]);
        let edit = ProviderForm::new(true, Some("pdns"), &values, Some(true));
        let key = edit.fields.iter().find(|f| f.name == "api_key").unwrap();
        assert_eq!((key.value.as_str(), key.input), ("", "password"));
        assert!(key.hint.contains("set; write-only: empty keeps it"), "{}", key.hint);
        assert_eq!(edit.fields.iter().find(|f| f.name == "api_url").unwrap().value, "http://x");
    }
}
