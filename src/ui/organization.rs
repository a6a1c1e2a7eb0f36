//! The organization's page: its name and owner for everyone, and for the owner the transfer of
//! ownership to another active user, with their password re-entered (`getOrganization`,
//! `transferOwnership`, `listUsers`).
//! Invariant: the transfer is the REST operation of the same id; a refused form says why beside
//! its field and changes nothing; the password is never rendered back.

use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::store::PageRequest;

use crate::api::views::{OrganizationDetail, TransferOwnership, UserView};
use crate::service::error::ApiError;
use crate::ui::context::{Layout, Ui, UiResult, render, render_status, see_other};
use crate::ui::display::{query_value, when};
use crate::ui::forms::{FieldErrors, FormData};

#[derive(Template)]
#[template(path = "organization.html")]
struct OrganizationPage {
    layout: Layout,
    org: OrganizationDetail,
    /// Who could be the next owner: the other active users (the owner's view only).
    candidates: Vec<UserView>,
    errors: FieldErrors,
}

impl OrganizationPage {
    fn created(&self) -> String {
        when(self.org.created_at)
    }
    fn retention(&self) -> String {
        self.org.audit_retention_days.map(|d| d.to_string()).unwrap_or_default()
    }
}

async fn page(ui: &Ui, errors: FieldErrors) -> Result<OrganizationPage, crate::ui::context::UiError> {
    let org = crate::service::organization::get(&ui.auth("getOrganization")?).await?;
    let layout = ui.layout("Organization", "organization", None);
    let candidates = if layout.is_owner {
        let users = crate::service::users::list(&ui.auth("listUsers")?, PageRequest::first(1_000)).await?.items;
        users.into_iter().filter(|u| u.id != org.owner.id && !u.disabled).collect()
    } else {
        Vec::new()
    };
    Ok(OrganizationPage { layout, org, candidates, errors })
}

pub async fn show(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let mut page = page(&ui, FieldErrors::default()).await?;
    match query_value(&req, "notice").as_deref() {
        Some("transferred") => {
            page.layout.notice =
                Some(format!("{} now owns the organization; you are an ordinary user.", page.org.owner.email))
        }
        Some("retention") => page.layout.notice = Some("Audit retention saved.".into()),
        _ => {}
    }
    render(&page)
}

/// Sets the audit retention (empty: forever); back to this page.
pub async fn set_retention(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let days = form.optional("days").map(|d| d.trim().parse::<u32>());
    let result = match days {
        Some(Err(_)) => Err(ApiError::invalid("days", "a whole number of days, or empty to keep everything")),
        Some(Ok(days)) => Ok(Some(days)),
        None => Ok(None),
    };
    let result = match result {
        Ok(days) => {
            let input = crate::api::views::SetAuditRetention { days };
            crate::service::organization::set_audit_retention(&ui.auth("setAuditRetention")?, input).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/organization?notice=retention")),
        Err(e) => {
            let errors = FieldErrors::from_api(&e, &["days"]);
            Ok(render_status(e.code.status(), &page(&ui, errors).await?))
        }
    }
}

/// Hands the organization over; back to this page, now as an ordinary user.
pub async fn transfer(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let input = match form.text("user_id").parse() {
        Ok(user_id) => Ok(TransferOwnership { user_id, password: form.optional("password") }),
        Err(_) => Err(ApiError::invalid("user_id", "choose the next owner")),
    };
    let result = match input {
        Ok(input) => {
            crate::service::organization::transfer_owner(&ui.auth("transferOwnership")?, input).await.map(|_| ())
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(see_other("/organization?notice=transferred")),
        Err(e) => {
            let errors = if e.field.is_some() {
                FieldErrors::from_api(&e, &["user_id", "password"])
            } else {
                FieldErrors::whole(e.detail.clone())
            };
            let page = page(&ui, errors).await?;
            Ok(render_status(e.code.status(), &page))
        }
    }
}
