//! A project's notifications: its channels (with a test button each and a form to add one), its
//! rules (events, channels, an expiry threshold, a digest) and the latest deliveries with their
//! outcome (`listNotificationChannels`, `createNotificationChannel`, `testNotificationChannel`,
//! `deleteNotificationChannel`, `listNotificationRules`, `createNotificationRule`,
//! `deleteNotificationRule`, `listJobs`).
//! Invariant: the page decides nothing; the forms build REST's bodies and call the same service
//! operations, so a refusal reads as the API's, and a secret typed in is never shown back.

use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{EventKind, JobKind, Role};
use certautopilot_core::store::PageRequest;
use serde_json::{Value, json};

use crate::api::views::{ChannelTested, ChannelView, CreateChannel, CreateRule, JobView, RuleView};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::{notification_channels as channels, notification_rules as rules};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, see_other};
use crate::ui::display::{query_value, when};
use crate::ui::forms::FormData;

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    layout: Layout,
    channels: Vec<ChannelView>,
    rules: Vec<RuleView>,
    deliveries: Vec<JobView>,
    events: Vec<String>,
    can_edit: bool,
    problem: Option<String>,
    tested: Option<(String, ChannelTested)>,
}

impl NotificationsPage {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }

    fn channel_name(&self, id: &certautopilot_core::ids::ChannelId) -> String {
        self.channels.iter().find(|c| c.id == *id).map(|c| c.name.clone()).unwrap_or_else(|| id.to_string())
    }

    fn events_of(&self, rule: &RuleView) -> String {
        rule.events.iter().map(|e| e.name()).collect::<Vec<_>>().join(", ")
    }

    fn expiry_of(&self, rule: &RuleView) -> String {
        rule.expiry.map(|t| format!("within {}", t.describe())).unwrap_or_default()
    }

    /// Where a channel sends, without its secret.
    fn destination(&self, channel: &ChannelView) -> String {
        use certautopilot_core::model::ChannelSettings::*;
        match &channel.settings {
            Email { host, port, to, .. } => format!("{} via {host}:{port}", to.join(", ")),
            Webhook { url, .. } => url.clone(),
            Ntfy { server_url, topic } => format!("{server_url}/{topic}"),
            Telegram { chat_id, .. } => format!("chat {chat_id}"),
            Slack {} | Teams {} | Discord {} | Mattermost {} => "its incoming webhook (kept secret)".into(),
        }
    }
}

fn project_of(ui: &Ui, req: &HttpRequest) -> Result<ProjectId, UiError> {
    ui.project_or_first(query_value(req, "project").as_deref())?.ok_or_else(|| UiError::Redirect("/projects".into()))
}

async fn page(
    ui: &Ui,
    project: ProjectId,
    problem: Option<String>,
    tested: Option<(String, ChannelTested)>,
    notice: Option<&str>,
) -> UiResult {
    let channels = channels::list(&ui.auth("listNotificationChannels")?, project, PageRequest::first(200)).await?.items;
    let rules = rules::list(&ui.auth("listNotificationRules")?, project, PageRequest::first(200)).await?.items;
    let jobs = crate::service::jobs::list(&ui.auth("listJobs")?, project, PageRequest::first(200)).await?;
    let mut deliveries: Vec<JobView> = jobs.items.into_iter().filter(|j| j.kind == JobKind::Notify).collect();
    deliveries.reverse();
    deliveries.truncate(50);
    let mut layout = ui.layout("Notifications", "notifications", Some(project));
    layout.notice = notice.map(str::to_owned);
    render(&NotificationsPage {
        layout,
        channels,
        rules,
        deliveries,
        events: EventKind::all().into_iter().map(EventKind::name).collect(),
        can_edit: ui.can(project, Role::Admin),
        problem,
        tested,
    })
}

pub async fn list(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project = project_of(&ui, &req)?;
    let notice = query_value(&req, "notice").and_then(|code| notice_text(&code));
    page(&ui, project, None, None, notice).await
}

/// What a `?notice=` says; unknown codes say nothing (no text is echoed).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "channel" => "Channel added.",
        "channel-deleted" => "Channel deleted.",
        "rule" => "Rule added.",
        "rule-deleted" => "Rule deleted.",
        _ => return None,
    })
}

fn project_field(form: &FormData) -> Result<ProjectId, UiError> {
    form.text("project_id").parse().map_err(|_| UiError::from(ApiError::not_found("project")))
}

/// A refusal the form can show (a field or a validation problem), else the error page.
async fn refused(ui: &Ui, project: ProjectId, e: ApiError) -> UiResult {
    if e.field.is_some()
        || matches!(
            e.code,
            ErrorCode::ValidationFailed | ErrorCode::InvalidJson | ErrorCode::BadRequest | ErrorCode::Conflict
        )
    {
        let problem = format!("{}{}", e.field.map(|f| format!("{f}: ")).unwrap_or_default(), e.detail);
        return page(ui, project, Some(problem), None, None).await;
    }
    Err(e.into())
}

/// The settings REST takes for the chosen type, from the form's fields for that type only.
fn settings_from(form: &FormData) -> Value {
    let kind = form.text("type");
    let mut settings = json!({ "type": kind });
    let fields: &[&str] = match kind.as_str() {
        "email" => &["host", "port", "security", "username", "from", "to", "trusted_roots_pem"],
        "webhook" => &["url", "trusted_roots_pem"],
        "ntfy" => &["server_url", "topic"],
        "telegram" => &["chat_id", "api_base_url"],
        _ => &[],
    };
    for field in fields {
        let Some(value) = form.optional(field).filter(|v| !v.trim().is_empty()) else { continue };
        settings[*field] = match *field {
            "port" => value.trim().parse::<u16>().map(Value::from).unwrap_or(Value::String(value)),
            "to" => Value::from(value.split([',', '\n']).map(str::trim).filter(|a| !a.is_empty()).collect::<Vec<_>>()),
            _ => Value::String(value),
        };
    }
    settings
}

pub async fn create_channel(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let input = json!({
        "project_id": project,
        "name": form.text("name"),
        "settings": settings_from(&form),
        "secret": form.optional("secret").filter(|s| !s.is_empty()),
    });
    let result = match crate::api::json::decode::<CreateChannel>(input.to_string().as_bytes()) {
        Ok(input) => channels::create(&ui.auth("createNotificationChannel")?, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/notifications?project={project}&notice=channel"))),
        Err(e) => refused(&ui, project, e).await,
    }
}

/// A channel's test, or its deletion.
pub async fn channel_action(req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let (id, action) = path.into_inner();
    let id = id.parse().map_err(|_| UiError::from(ApiError::not_found("notification channel")))?;
    match action.as_str() {
        "test" => {
            let view = channels::get(&ui.auth("getNotificationChannel")?, id).await?;
            let tested = channels::test(&ui.auth("testNotificationChannel")?, id).await?;
            page(&ui, project, None, Some((view.name, tested)), None).await
        }
        "delete" => match channels::delete(&ui.auth("deleteNotificationChannel")?, id).await {
            Ok(()) => Ok(see_other(&format!("/notifications?project={project}&notice=channel-deleted"))),
            Err(e) => refused(&ui, project, e).await,
        },
        _ => Err(ApiError::not_found("action").into()),
    }
}

pub async fn create_rule(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let expiry = match form.text("expiry_kind").as_str() {
        "days" => json!({ "kind": "days", "days": form.text("expiry_value").trim().parse::<u32>().unwrap_or(0) }),
        "hours" => json!({ "kind": "hours", "hours": form.text("expiry_value").trim().parse::<u32>().unwrap_or(0) }),
        "percent" => {
            let percent = form.text("expiry_value").trim().parse::<f64>().unwrap_or(0.0);
            json!({ "kind": "fraction", "fraction": percent / 100.0 })
        }
        _ => Value::Null,
    };
    let digest = form.text("digest_minutes").trim().parse::<u32>().ok();
    let input = json!({
        "project_id": project,
        "name": form.text("name"),
        "events": form.all("events"),
        "channel_ids": form.all("channel_ids"),
        "expiry": expiry,
        "digest_minutes": digest,
    });
    let result = match crate::api::json::decode::<CreateRule>(input.to_string().as_bytes()) {
        Ok(input) => rules::create(&ui.auth("createNotificationRule")?, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/notifications?project={project}&notice=rule"))),
        Err(e) => refused(&ui, project, e).await,
    }
}

pub async fn delete_rule(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project = project_field(&form)?;
    let id = path.into_inner().parse().map_err(|_| UiError::from(ApiError::not_found("notification rule")))?;
    match rules::delete(&ui.auth("deleteNotificationRule")?, id).await {
        Ok(()) => Ok(see_other(&format!("/notifications?project={project}&notice=rule-deleted"))),
        Err(e) => refused(&ui, project, e).await,
    }
}
