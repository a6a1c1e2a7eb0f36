//! First run, sign-in and sign-out pages. Setup and sign-in are public operations (`setup`,
//! `login`); a console sign-in sets the API's session cookie and keeps the session's CSRF token in
//! a second cookie for the console's forms (`context::session_cookies`).
//! Invariant: the setup page exists only until the organization does; a failed sign-in says only
//! that e-mail or password is wrong, as the API does.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use crate::api::auth::{Authorized, SESSION_COOKIE};
use crate::api::handlers::session::client_address;
use crate::api::routes::policy_of;
use crate::api::views::{LoginRequest, SetupRequest};
use crate::service::AppState;
use crate::service::error::{ApiError, ErrorCode};
use crate::ui::context::{
    CSRF_COOKIE, Ui, UiError, UiResult, removal, render, render_status, see_other, session_cookies,
};
use crate::ui::forms::{FieldErrors, FormData};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    title: &'static str,
    errors: FieldErrors,
    org_name: String,
    email: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    title: &'static str,
    errors: FieldErrors,
    notice: Option<&'static str>,
    email: String,
}

/// The operation's context for an anonymous caller (setup and sign-in are public).
fn anonymous(state: &web::Data<AppState>, operation_id: &str) -> Result<Authorized, UiError> {
    let policy = policy_of(operation_id).ok_or_else(|| ApiError::internal("ui", &"unknown operation"))?;
    Ok(Authorized::new(None, policy, state.clone()))
}

async fn is_set_up(state: &AppState) -> Result<bool, UiError> {
    Ok(state.organization().await?.is_some())
}

pub async fn setup_page(state: web::Data<AppState>) -> UiResult {
    if is_set_up(&state).await? {
        return Ok(see_other("/login"));
    }
    render(&SetupPage {
        title: "Set up",
        errors: FieldErrors::default(),
        org_name: String::new(),
        email: String::new(),
    })
}

pub async fn setup(state: web::Data<AppState>, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let input =
        SetupRequest { org_name: form.text("org_name"), email: form.text("email"), password: form.text("password") };
    let (org_name, email) = (input.org_name.clone(), input.email.clone());
    match crate::service::setup::setup(&anonymous(&state, "setup")?, input).await {
        Ok(_) => Ok(see_other("/login?setup=1")),
        Err(e) if e.code == ErrorCode::AlreadySetUp => Ok(see_other("/login")),
        Err(e) if e.code == ErrorCode::ValidationFailed => {
            let errors = FieldErrors::from_api(&e, &["org_name", "email", "password"]);
            Ok(render_status(
                actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
                &SetupPage { title: "Set up", errors, org_name, email },
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn login_page(state: web::Data<AppState>, req: HttpRequest) -> UiResult {
    if !is_set_up(&state).await? {
        return Ok(see_other("/setup"));
    }
    let query = web::Query::<Vec<(String, String)>>::from_query(req.query_string()).map(|q| q.into_inner());
    let flag = |name: &str| query.as_ref().is_ok_and(|q| q.iter().any(|(k, _)| k == name));
    let notice = if flag("expired") {
        Some("Your session has expired. Sign in again.")
    } else if flag("setup") {
        Some("The organization is set up. Sign in as its owner.")
    } else if flag("signed_out") {
        Some("You have signed out.")
    } else {
        None
    };
    render(&LoginPage { title: "Sign in", errors: FieldErrors::default(), notice, email: String::new() })
}

pub async fn login(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let email = form.text("email");
    let input = LoginRequest { email: email.clone(), password: form.text("password") };
    match crate::service::session::login(&anonymous(&state, "login")?, input, client_address(&req)).await {
        Ok(signed_in) => {
            let mut response = see_other("/");
            for cookie in session_cookies(&state, &signed_in.token, &signed_in.csrf_token) {
                let _ = response.add_cookie(&cookie);
            }
            Ok(response)
        }
        Err(e) if matches!(e.code, ErrorCode::InvalidCredentials | ErrorCode::TooManyRequests) => {
            let errors = FieldErrors::whole(e.detail.clone());
            let status = if e.code == ErrorCode::TooManyRequests {
                actix_web::http::StatusCode::TOO_MANY_REQUESTS
            } else {
                actix_web::http::StatusCode::UNAUTHORIZED
            };
            Ok(render_status(status, &LoginPage { title: "Sign in", errors, notice: None, email }))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(req: HttpRequest, body: web::Bytes) -> UiResult {
    let form = FormData::parse(&body);
    let ui = Ui::form(&req, &form).await?;
    crate::service::session::logout(&ui.auth("logout")?).await?;
    let mut response: HttpResponse = see_other("/login?signed_out=1");
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        let _ = response.add_cookie(&removal(name));
    }
    Ok(response)
}
