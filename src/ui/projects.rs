//! Projects, their members, users (owners) and the caller's API tokens. Creating a project or a
//! user is the owner's (`createProject`, `createUser`); members are added, given another role and
//! removed by a project's admins (`addMember`, `updateMember`, `removeMember`); a new API token's
//! secret is shown once, on the page that answers its creation, and never again.
//! Invariant: every write is the REST operation of the same id; a refused form shows the
//! service's message beside its field and stores nothing.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::Role;
use certautopilot_core::store::PageRequest;

use crate::api::views::{
    AddMember, ApiTokenView, CreateApiToken, CreateProject, CreateUser, CreatedApiToken, MemberView, UpdateMember,
    UserView,
};
use crate::service::error::{ApiError, ErrorCode};
use crate::ui::context::{Layout, Ui, UiError, UiResult, render, render_status, see_other};
use crate::ui::display::{query_value, when, when_opt};
use crate::ui::forms::{FieldErrors, FormData};

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    layout: Layout,
    users: Vec<UserView>,
    errors: FieldErrors,
    failed_form: &'static str,
    form: FormData,
}

impl ProjectsPage {
    fn errors_for(&self, form: &str) -> FieldErrors {
        if self.failed_form == form { self.errors.clone() } else { FieldErrors::default() }
    }
    fn value(&self, form: &str, field: &str) -> String {
        if self.failed_form == form { self.form.text(field) } else { String::new() }
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    layout: Layout,
    name: String,
    members: Vec<(MemberView, String)>,
    /// Users an admin may add (owners only see the list; others type the user's id).
    candidates: Vec<UserView>,
    can_admin: bool,
    errors: FieldErrors,
    roles: [&'static str; 3],
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<ApiTokenView>,
    created: Option<CreatedApiToken>,
    errors: FieldErrors,
}

impl TokensPage {
    fn when_opt(&self, at: &Option<certautopilot_core::Timestamp>) -> String {
        when_opt(*at)
    }
    fn when(&self, at: &certautopilot_core::Timestamp) -> String {
        when(*at)
    }
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "created" => "Created.",
        "member" => "Member added.",
        "removed" => "Member removed.",
        "role" => "Role changed.",
        "revoked" => "Token revoked.",
        _ => return None,
    })
}

async fn users_if_owner(ui: &Ui) -> Result<Vec<UserView>, UiError> {
    if !ui.caller.is_owner() {
        return Ok(Vec::new());
    }
    Ok(crate::service::users::list(&ui.auth("listUsers")?, PageRequest::first(1_000)).await?.items)
}

async fn projects_page(
    ui: &Ui,
    failed: Option<(&'static str, FormData, FieldErrors)>,
) -> Result<ProjectsPage, UiError> {
    let (failed_form, form, errors) = failed.unwrap_or(("", FormData::default(), FieldErrors::default()));
    Ok(ProjectsPage {
        layout: ui.layout("Projects", "projects", None),
        users: users_if_owner(ui).await?,
        errors,
        failed_form,
        form,
    })
}

pub async fn projects(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let mut page = projects_page(&ui, None).await?;
    page.layout.notice = query_value(&req, "notice").and_then(|n| notice_text(&n)).map(str::to_owned);
    render(&page)
}

/// Creates a project (`form=project`) or a user (`form=user`).
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let (which, result): (&'static str, Result<(), ApiError>) = if form.get("form") == Some("user") {
        let input = CreateUser { email: form.text("email"), password: form.text("password") };
        ("user", crate::service::users::create(&ui.auth("createUser")?, input).await.map(drop))
    } else {
        let input = CreateProject { name: form.text("name") };
        ("project", crate::service::projects::create(&ui.auth("createProject")?, input).await.map(drop))
    };
    match result {
        Ok(()) => Ok(see_other("/projects?notice=created")),
        Err(e) if e.field.is_some() || e.code == ErrorCode::Conflict => {
            let errors = FieldErrors::from_api(&e, &["name", "email", "password"]);
            let page = projects_page(&ui, Some((which, form.without(&["password", "csrf_token"]), errors))).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

fn project_id(text: &str) -> Result<ProjectId, UiError> {
    text.parse().map_err(|_| ApiError::not_found("project").into())
}

async fn project_page(ui: &Ui, project: ProjectId, errors: FieldErrors) -> Result<ProjectPage, UiError> {
    let view = crate::service::projects::get(&ui.auth("getProject")?, project).await?;
    let listed = crate::service::members::list(&ui.auth("listMembers")?, project).await?.items;
    let users = users_if_owner(ui).await?;
    let email = |id| users.iter().find(|u| u.id == id).map_or_else(|| id.to_string(), |u| u.email.clone());
    let members = listed.into_iter().map(|m| (email(m.user_id), m)).map(|(e, m)| (m, e)).collect();
    let candidates =
        users.iter().filter(|u| u.org_role != certautopilot_core::model::OrgRole::Owner).cloned().collect();
    Ok(ProjectPage {
        layout: ui.layout(format!("Project {}", view.name), "projects", Some(project)),
        name: view.name,
        members,
        candidates,
        can_admin: ui.can(project, Role::Admin),
        errors,
        roles: ["viewer", "operator", "admin"],
    })
}

pub async fn project(req: HttpRequest, id: web::Path<String>) -> UiResult {
    let ui = Ui::page(&req).await?;
    let project = project_id(&id)?;
    let mut page = project_page(&ui, project, FieldErrors::default()).await?;
    page.layout.notice = query_value(&req, "notice").and_then(|n| notice_text(&n)).map(str::to_owned);
    render(&page)
}

/// Adds a member (`members/add`), changes a member's role (`members/role`) or removes one
/// (`members/remove`).
pub async fn members(req: HttpRequest, path: web::Path<(String, String)>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let (id, action) = path.into_inner();
    let project = project_id(&id)?;
    let user_id = form.text("user_id").trim().parse().map_err(|_| ApiError::invalid("user_id", "choose a user"));
    let role = serde_json::from_value(serde_json::Value::String(form.text("role")))
        .map_err(|_| ApiError::invalid("role", "choose a role"));
    let result = match (action.as_str(), user_id) {
        ("add", Ok(user_id)) => match role {
            Ok(role) => crate::service::members::add(&ui.auth("addMember")?, project, AddMember { user_id, role })
                .await
                .map(|_| "member"),
            Err(e) => Err(e),
        },
        ("remove", Ok(user_id)) => {
            crate::service::members::remove(&ui.auth("removeMember")?, project, user_id).await.map(|_| "removed")
        }
        ("role", Ok(user_id)) => match role {
            Ok(role) => {
                crate::service::members::update(&ui.auth("updateMember")?, project, user_id, UpdateMember { role })
                    .await
                    .map(|_| "role")
            }
            Err(e) => Err(e),
        },
        ("add" | "role" | "remove", Err(e)) => Err(e),
        _ => return Err(ApiError::not_found("action").into()),
    };
    match result {
        Ok(notice) => Ok(see_other(&format!("/projects/{project}?notice={notice}"))),
        Err(e) if e.field.is_some() || e.code == ErrorCode::Conflict => {
            let page = project_page(&ui, project, FieldErrors::from_api(&e, &["user_id", "role"])).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

async fn tokens_page(ui: &Ui, created: Option<CreatedApiToken>, errors: FieldErrors) -> Result<TokensPage, UiError> {
    let tokens = crate::service::tokens::list(&ui.auth("listApiTokens")?, PageRequest::first(1_000)).await?.items;
    Ok(TokensPage { layout: ui.layout("API tokens", "tokens", None), tokens, created, errors })
}

pub async fn tokens(req: HttpRequest) -> UiResult {
    let ui = Ui::page(&req).await?;
    let mut page = tokens_page(&ui, None, FieldErrors::default()).await?;
    page.layout.notice = query_value(&req, "notice").and_then(|n| notice_text(&n)).map(str::to_owned);
    render(&page)
}

/// Creates a token and shows its secret on this answer only.
pub async fn create_token(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let days = form.optional("expires_in_days").map(|d| d.parse::<u32>()).transpose();
    let result = match days {
        Ok(expires_in_days) => {
            let input = CreateApiToken { name: form.text("name"), expires_in_days };
            crate::service::tokens::create(&ui.auth("createApiToken")?, input).await
        }
        Err(_) => Err(ApiError::invalid("expires_in_days", "a whole number of days")),
    };
    match result {
        Ok(created) => render(&tokens_page(&ui, Some(created), FieldErrors::default()).await?),
        Err(e) if e.field.is_some() => {
            let page = tokens_page(&ui, None, FieldErrors::from_api(&e, &["name", "expires_in_days"])).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn revoke_token(req: HttpRequest, id: web::Path<String>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    let id = id.parse().map_err(|_| UiError::from(ApiError::not_found("api token")))?;
    crate::service::tokens::revoke(&ui.auth("revokeApiToken")?, id).await?;
    Ok(see_other("/tokens?notice=revoked"))
}
