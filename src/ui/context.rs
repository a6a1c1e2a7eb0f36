//! Who is using the console, and how a page answers. A page request is signed in by the API's
//! session cookie (`api::auth::authenticate`); a form post must also carry the session's CSRF
//! token as the `csrf_token` field, checked by the same code as the API's header
//! (`authenticate_presenting`). Each operation runs with `Authorized` built from the caller and
//! the route table's policy for the REST operation of the same id (`routes::policy_of`).
//! Invariant: the console never decides who may do what; a refused operation renders the
//! service's answer (not found, forbidden, a field error) and changes nothing.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::Role;
use certautopilot_core::store::{MAX_PAGE_SIZE, PageRequest};

use crate::api::auth::{Authorized, Caller, SESSION_COOKIE, authenticate, authenticate_presenting};
use crate::api::routes::policy_of;
use crate::api::views::ProjectView;
use crate::service::AppState;
use crate::service::error::{ApiError, ErrorCode};
use crate::ui::forms::FormData;

/// The cookie that gives the console the session's CSRF token to put in its forms. HttpOnly and
/// SameSite=Strict like the session cookie: a page of another site can neither read nor send it.
pub const CSRF_COOKIE: &str = "cap_csrf";

/// Every console page: scripts and styles from this origin only (no inline script or style, no
/// eval), forms post only here, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// A signed-in console user: the caller, their CSRF token, and the projects they see with their
/// role in each.
pub struct Ui {
    pub caller: Caller,
    pub csrf: String,
    pub projects: Vec<(ProjectView, Role)>,
    state: web::Data<AppState>,
    /// Set when no scheduler has finished a scan within the threshold: every page says so.
    scheduler_warning: Option<String>,
}

impl Ui {
    /// The user of a page request (GET): signed in by the session cookie.
    pub async fn page(req: &HttpRequest) -> Result<Ui, UiError> {
        let state = app_state(req)?;
        let caller = match authenticate(&state, req).await {
            Ok(Some(caller)) => caller,
            Ok(None) => return Err(UiError::SignIn { expired: false }),
            Err(e) if e.code == ErrorCode::Unauthenticated => return Err(UiError::SignIn { expired: true }),
            Err(e) => return Err(e.into()),
        };
        Ui::with_caller(req, state, caller).await
    }

    /// The user of a form post: signed in by the cookie, and the form carries the CSRF token.
    pub async fn form(req: &HttpRequest, form: &FormData) -> Result<Ui, UiError> {
        let state = app_state(req)?;
        let caller = match authenticate_presenting(&state, req, form.get("csrf_token")).await {
            Ok(Some(caller)) => caller,
            Ok(None) => return Err(UiError::SignIn { expired: false }),
            Err(e) if e.code == ErrorCode::Unauthenticated => return Err(UiError::SignIn { expired: true }),
            Err(e) => return Err(e.into()),
        };
        Ui::with_caller(req, state, caller).await
    }

    async fn with_caller(req: &HttpRequest, state: web::Data<AppState>, caller: Caller) -> Result<Ui, UiError> {
        // A session signed in through the API (not the console) has no CSRF cookie: its pages
        // show, and its forms are refused like any post without the token.
        let csrf = req.cookie(CSRF_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
        let liveness = crate::service::health::scheduler_liveness(&state).await?;
        let scheduler_warning = liveness.absent.then(|| match &liveness.last_beat {
            Some(beat) => format!(
                "No scheduler has run since {} (node {}): renewals are not being queued.",
                crate::ui::display::when(beat.at),
                beat.node
            ),
            None => "No scheduler has run yet: renewals are not being queued.".to_owned(),
        });
        let mut ui = Ui { caller, csrf, projects: Vec::new(), state, scheduler_warning };
        let me = crate::service::session::me(&ui.auth("me")?).await?;
        let auth = ui.auth("listProjects")?;
        let mut page = PageRequest::first(MAX_PAGE_SIZE);
        loop {
            let batch = crate::service::projects::list(&auth, page).await?;
            for project in batch.items {
                let role = if ui.caller.is_owner() {
                    Role::Owner
                } else {
                    me.memberships.iter().find(|m| m.project_id == project.id).map_or(Role::Viewer, |m| m.role)
                };
                ui.projects.push((project, role));
            }
            match batch.next_cursor {
                Some(cursor) => page = PageRequest::after(MAX_PAGE_SIZE, cursor),
                None => break,
            }
        }
        Ok(ui)
    }

    /// The context of one call of the REST operation `operation_id`, with its declared policy.
    pub fn auth(&self, operation_id: &str) -> Result<Authorized, UiError> {
        let policy = policy_of(operation_id)
            .ok_or_else(|| UiError::from(ApiError::internal("ui", &format!("unknown operation {operation_id}"))))?;
        Ok(Authorized::new(Some(self.caller.clone()), policy, self.state.clone()))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The caller's role in `project` (owners: owner), or `None` when they cannot see it.
    pub fn role(&self, project: ProjectId) -> Option<Role> {
        self.projects.iter().find(|(p, _)| p.id == project).map(|(_, r)| *r)
    }

    /// Whether the caller's role in `project` reaches `need`: what decides to show a control.
    /// The service decides whether the operation runs.
    pub fn can(&self, project: ProjectId, need: Role) -> bool {
        self.role(project).is_some_and(|r| r >= need)
    }

    /// The project a project-scoped screen shows: the one asked for, else the first one.
    pub fn project_or_first(&self, asked: Option<&str>) -> Result<Option<ProjectId>, UiError> {
        match asked.filter(|s| !s.is_empty()) {
            Some(text) => text.parse().map(Some).map_err(|_| UiError::from(ApiError::not_found("project"))),
            None => Ok(self.projects.first().map(|(p, _)| p.id)),
        }
    }

    /// The frame around a page: title, navigation, project switcher, the CSRF token for forms.
    pub fn layout(&self, title: impl Into<String>, section: &'static str, project: Option<ProjectId>) -> Layout {
        Layout {
            title: title.into(),
            section,
            user_email: self.caller.user.email.clone(),
            is_owner: self.caller.is_owner(),
            csrf: self.csrf.clone(),
            project_id: project.map(|p| p.to_string()).unwrap_or_default(),
            projects: self
                .projects
                .iter()
                .map(|(p, role)| ProjectChoice {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    role: role.as_str(),
                    selected: Some(p.id) == project,
                })
                .collect(),
            notice: None,
            scheduler_warning: self.scheduler_warning.clone(),
        }
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, UiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal("state", &"missing").into())
}

/// What every page's frame shows.
pub struct Layout {
    pub title: String,
    /// The navigation entry to mark current (`overview`, `certificates`, …).
    pub section: &'static str,
    pub user_email: String,
    pub is_owner: bool,
    pub csrf: String,
    /// The current project (empty when none).
    pub project_id: String,
    pub projects: Vec<ProjectChoice>,
    /// A short message about what just happened (a queued job, a created record).
    pub notice: Option<String>,
    /// No scheduler is ticking (`service::health::scheduler_liveness`): shown on every page.
    pub scheduler_warning: Option<String>,
}

impl Layout {
    /// `?project=…` for links to project-scoped screens.
    pub fn project_query(&self) -> String {
        if self.project_id.is_empty() { String::new() } else { format!("?project={}", self.project_id) }
    }

    /// `aria-current` for the navigation entry of this page.
    pub fn current(&self, section: &str) -> &'static str {
        if self.section == section { "page" } else { "false" }
    }
}

pub struct ProjectChoice {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub selected: bool,
}

/// Why a console request did not render its page.
#[derive(Debug)]
pub enum UiError {
    /// Not signed in, or the session ended: the sign-in page (saying so when it expired).
    SignIn { expired: bool },
    /// Go elsewhere (303).
    Redirect(String),
    /// The service's refusal, rendered as an error page.
    Api(ApiError),
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::Api(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    detail: &'a str,
}

impl UiError {
    pub fn into_response(self) -> HttpResponse {
        match self {
            UiError::SignIn { expired } => {
                let to = if expired { "/login?expired=1" } else { "/login" };
                let mut response = see_other(to);
                if expired {
                    for name in [SESSION_COOKIE, CSRF_COOKIE] {
                        let _ = response.add_cookie(&removal(name));
                    }
                }
                response
            }
            UiError::Redirect(to) => see_other(&to),
            UiError::Api(e) => {
                let (status, title) = match e.code {
                    ErrorCode::NotFound => (StatusCode::NOT_FOUND, "Not found"),
                    ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "Not allowed"),
                    ErrorCode::CsrfTokenMissing => (StatusCode::FORBIDDEN, "Form refused"),
                    ErrorCode::ServiceUnavailable | ErrorCode::StorageFull => {
                        (StatusCode::SERVICE_UNAVAILABLE, "Unavailable")
                    }
                    ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong"),
                    _ => (StatusCode::UNPROCESSABLE_ENTITY, "Not done"),
                };
                let detail = match e.code {
                    ErrorCode::CsrfTokenMissing => {
                        "the form did not carry this session's token; reload the page and try again".to_owned()
                    }
                    _ => e.detail.clone(),
                };
                render_status(status, &ErrorPage { title, detail: &detail })
            }
        }
    }
}

impl actix_web::ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::SEE_OTHER
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::SignIn { expired } => UiError::SignIn { expired: *expired }.into_response(),
            UiError::Redirect(to) => UiError::Redirect(to.clone()).into_response(),
            UiError::Api(e) => UiError::Api(e.clone()).into_response(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::SignIn { .. } => f.write_str("sign-in required"),
            UiError::Redirect(to) => write!(f, "redirect to {to}"),
            UiError::Api(e) => write!(f, "{e}"),
        }
    }
}

pub type UiResult = Result<HttpResponse, UiError>;

/// A page as HTML with the console's security headers.
pub fn render(page: &impl Template) -> UiResult {
    Ok(render_status(StatusCode::OK, page))
}

pub fn render_status(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            HttpResponse::InternalServerError().body("internal error; see the server log")
        }
    }
}

/// 303 See Other: after a form post, the browser loads the next page with GET.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// The cookies of a console sign-in: the API's session cookie, and the CSRF token beside it.
pub fn session_cookies(state: &AppState, token: &str, csrf: &str) -> [Cookie<'static>; 2] {
    let build = |name: &'static str, value: String| {
        Cookie::build(name, value)
            .http_only(true)
            .secure(state.secure_cookies)
            .same_site(SameSite::Strict)
            .path("/")
            .max_age(CookieDuration::seconds(state.auth.session_ttl.as_secs() as i64))
            .finish()
    };
    [build(SESSION_COOKIE, token.to_owned()), build(CSRF_COOKIE, csrf.to_owned())]
}

pub fn removal(name: &'static str) -> Cookie<'static> {
    let mut gone = Cookie::build(name, "").path("/").http_only(true).same_site(SameSite::Strict).finish();
    gone.make_removal();
    gone
}
