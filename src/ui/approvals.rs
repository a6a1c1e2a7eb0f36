//! The approvals inbox of a project (`listApprovals`): requests waiting for an admin, each with
//! why, who asked and until when, and the approve and reject forms (`approveRequest`,
//! `rejectRequest`); below, the decided ones; and the project's policy with its form
//! (`getApprovalPolicy`, `setApprovalPolicy`: the rules as REST's JSON).
//! Invariant: the page decides nothing; the forms call the same service operations as REST.

use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{ApprovalStatus, Role};
use certautopilot_core::store::PageRequest;

use crate::api::views::{ApprovalPolicyView, ApprovalView, DecideApproval};
use crate::service::error::{ApiError, ErrorCode};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, see_other};
use crate::ui::display::{query_value, when};
use crate::ui::forms::FormData;

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    layout: Layout,
    pending: Vec<ApprovalView>,
    decided: Vec<ApprovalView>,
    can_decide: bool,
    policy: ApprovalPolicyView,
    rules_json: String,
    problem: Option<String>,
}

impl ApprovalsPage {
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }

    fn require_is(&self, name: &str) -> bool {
        serde_json::to_value(self.policy.require).ok().and_then(|v| v.as_str().map(|s| s == name)).unwrap_or(false)
    }
}

fn project_of(ui: &Ui, req: &HttpRequest) -> Result<ProjectId, UiError> {
    ui.project_or_first(query_value(req, "project").as_deref())?.ok_or_else(|| UiError::Redirect("/projects".into()))
}

async fn page(
    ui: &Ui,
    project: ProjectId,
    problem: Option<String>,
    rules_json: Option<String>,
    notice: Option<&str>,
) -> UiResult {
    let found =
        crate::service::approvals::list(&ui.auth("listApprovals")?, project, None, PageRequest::first(200)).await?;
    let (pending, decided): (Vec<_>, Vec<_>) =
        found.items.into_iter().rev().partition(|a| a.status == ApprovalStatus::PendingApproval);
    let policy = crate::service::approvals::policy(&ui.auth("getApprovalPolicy")?, project).await?;
    let rules_json = rules_json.unwrap_or_else(|| serde_json::to_string_pretty(&policy.rules).unwrap_or_default());
    let mut layout = ui.layout("Approvals", "approvals", Some(project));
    layout.notice = notice.map(str::to_owned);
    render(&ApprovalsPage {
        layout,
        pending,
        decided,
        can_decide: ui.can(project, Role::Admin),
        policy,
        rules_json,
        problem,
    })
}

pub async fn list(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project = project_of(&ui, &req)?;
    let notice = query_value(&req, "notice").and_then(|code| notice_text(&code));
    page(&ui, project, None, None, notice).await
}

/// What a `?notice=` after a decision says; unknown codes say nothing (no text is echoed).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "approve" => "Approved: its job is queued.",
        "reject" => "Rejected.",
        "policy" => "Approval policy saved.",
        _ => return None,
    })
}

/// Approve or reject, with the comment; back to the inbox with what happened.
pub async fn decide(req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let (id, action) = path.into_inner();
    let id = id.parse().map_err(|_| UiError::from(ApiError::not_found("approval request")))?;
    let input = DecideApproval { comment: form.optional("comment") };
    let decided = match action.as_str() {
        "approve" => crate::service::approvals::decide(&ui.auth("approveRequest")?, id, true, input).await?,
        "reject" => crate::service::approvals::decide(&ui.auth("rejectRequest")?, id, false, input).await?,
        _ => return Err(ApiError::not_found("action").into()),
    };
    let project = decided.approval.project_id;
    Ok(see_other(&format!("/approvals?project={project}&notice={action}")))
}

/// Replaces the policy from the form; a refusal shows on the page with what was typed.
pub async fn set_policy(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let project: ProjectId =
        form.text("project_id").parse().map_err(|_| UiError::from(ApiError::not_found("project")))?;
    let rules_text = form.text("rules");
    let input = serde_json::json!({
        "require": form.text("require"),
        "rules": serde_json::from_str::<serde_json::Value>(if rules_text.trim().is_empty() { "[]" } else { &rules_text })
            .unwrap_or(serde_json::Value::String(rules_text.clone())),
        "expire_after_hours": form.text("expire_after_hours").parse::<u32>().unwrap_or(0),
    });
    let result = match crate::api::json::decode::<ApprovalPolicyView>(input.to_string().as_bytes()) {
        Ok(policy) => crate::service::approvals::set_policy(&ui.auth("setApprovalPolicy")?, project, policy).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other(&format!("/approvals?project={project}&notice=policy"))),
        Err(e)
            if e.field.is_some()
                || matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::InvalidJson | ErrorCode::BadRequest) =>
        {
            let problem = format!("{}{}", e.field.map(|f| format!("{f}: ")).unwrap_or_default(), e.detail);
            page(&ui, project, Some(problem), Some(rules_text), None).await
        }
        Err(e) => Err(e.into()),
    }
}
