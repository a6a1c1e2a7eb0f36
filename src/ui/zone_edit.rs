//! The zone edit form: which credential changes the zone and how an order waits for its challenge
//! records (the propagation settings). A post is the REST operation `updateZone` at the version the
//! form was opened with.
//! Invariant: a refused or stale edit changes nothing and shows why, beside the field it names.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ZoneId;
use certautopilot_core::model::{PropagationStrategy, Role};
use certautopilot_core::store::PageRequest;

use crate::api::views::{DnsCredentialView, UpdateZone, ZoneView};
use crate::service::error::{ApiError, ErrorCode};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::display::query_value;
use crate::ui::forms::{FieldErrors, FormData};
use crate::ui::resources::{ZONE_FIELDS, zone_propagation};

#[derive(Template)]
#[template(path = "zone_edit.html")]
struct ZoneEditPage {
    layout: Layout,
    can_admin: bool,
    errors: FieldErrors,
    zone: ZoneView,
    credentials: Vec<DnsCredentialView>,
    strategies: Vec<String>,
    /// What the inputs show: the zone's settings, or those of the refused post.
    form: FormData,
    version: u64,
}

impl ZoneEditPage {
    fn selected(&self, name: &str, value: &str) -> bool {
        self.form.text(name) == value
    }
}

async fn page(ui: &Ui, zone: ZoneView) -> Result<ZoneEditPage, UiError> {
    let credentials = crate::service::dns::list_credentials(
        &ui.auth("listDnsCredentials")?,
        zone.project_id,
        PageRequest::first(200),
    )
    .await?
    .items;
    let p = &zone.propagation;
    let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    let form = FormData::from_pairs(vec![
        ("credential_id".into(), zone.credential_id.to_string()),
        ("propagation.strategy".into(), p.strategy.clone().unwrap_or_default()),
        ("propagation.nameservers".into(), p.nameservers.join("\n")),
        ("propagation.resolvers".into(), p.resolvers.join("\n")),
        ("propagation.delay_seconds".into(), number(p.delay_seconds)),
        ("propagation.timeout_seconds".into(), number(p.timeout_seconds)),
        ("propagation.poll_interval_ms".into(), number(p.poll_interval_ms)),
    ]);
    Ok(ZoneEditPage {
        layout: ui.layout(format!("Edit zone {}", zone.apex), "dns", Some(zone.project_id)),
        can_admin: ui.can(zone.project_id, Role::Admin),
        errors: FieldErrors::default(),
        credentials,
        strategies: PropagationStrategy::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
        form,
        version: zone.version,
        zone,
    })
}

fn zone_id(text: &str) -> Result<ZoneId, UiError> {
    text.parse().map_err(|_| ApiError::not_found("zone").into())
}

pub async fn edit_page(req: HttpRequest, path: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let zone = crate::service::dns::get_zone(&ui.auth("getZone")?, zone_id(&path)?).await?;
    let mut page = page(&ui, zone).await?;
    page.layout.notice = query_value(&req, "notice").filter(|n| n == "updated").map(|_| "Saved.".to_owned());
    render(&page)
}

pub async fn update(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id = zone_id(&path)?;
    let current = crate::service::dns::get_zone(&ui.auth("getZone")?, id).await?;
    let input = || -> Result<UpdateZone, ApiError> {
        let version = form
            .text("version")
            .parse()
            .map_err(|_| ApiError::invalid("version", "missing; reload the page and try again"))?;
        let credential_id = form
            .text("credential_id")
            .parse()
            .map_err(|_| ApiError::invalid("credential_id", "choose a DNS credential"))?;
        // A form with every propagation field blank means the default strategy, stated.
        let propagation = zone_propagation(&form)?.unwrap_or_default();
        Ok(UpdateZone { credential_id: Some(credential_id), propagation: Some(propagation), version })
    };
    let result = match input() {
        Ok(input) => crate::service::dns::update_zone(&ui.auth("updateZone")?, id, input).await,
        Err(e) => Err(e),
    };
    let e = match result {
        Ok(_) => return Ok(see_other(&format!("/zones/{id}/edit?notice=updated"))),
        Err(e) => e,
    };
    if e.code == ErrorCode::VersionConflict {
        let fresh = crate::service::dns::get_zone(&ui.auth("getZone")?, id).await?;
        let mut page = page(&ui, fresh).await?;
        page.errors = FieldErrors::whole(format!(
            "this zone changed since the form was opened ({}): the form now shows its current settings; make your change again",
            e.detail
        ));
        return Ok(render_status(StatusCode::CONFLICT, &page));
    }
    if e.field.is_none() {
        return Err(e.into());
    }
    let mut page = page(&ui, current).await?;
    page.errors = FieldErrors::from_api(&e, &ZONE_FIELDS);
    page.version = form.text("version").parse().unwrap_or(page.version);
    page.form = form.without(&["csrf_token"]);
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}
