//! Users of the organization (owners manage them).

use actix_web::{HttpResponse, web};
use certautopilot_core::model::{OrgRole, User};
use certautopilot_core::store::RecordStore;

use crate::api::auth::{Authorized, password};
use crate::api::error::ApiError;
use crate::api::handlers::ListQuery;
use crate::api::handlers::setup::hash_off_thread;
use crate::api::json::ApiJson;
use crate::api::views::{CreateUser, UserPage, UserView};
use crate::api::{AppState, validate};

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<UserPage>, ApiError> {
    let caller = auth.caller()?;
    let page = state.store()?.list::<User>(&caller.org_scope(), &query.page()?).await?;
    Ok(web::Json(page.map(UserView::from).into()))
}

pub async fn create(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller()?;
    let email = validate::email("email", &body.email)?;
    password::check_policy(&body.password).map_err(|m| ApiError::invalid("password", m))?;
    let mut user = User::new(caller.user.org_id, &email, OrgRole::Member, state.now());
    user.password_hash = Some(hash_off_thread(body.password).await?);
    let audit = state.org().await?.audit(
        caller.principal(),
        "user.created",
        Some(("user", user.id.to_string())),
        None,
        serde_json::json!({ "email": user.email }),
    );
    state.store()?.insert_audited(&caller.org_scope(), &user, audit).await?;
    tracing::info!(by = %caller.user.id, user_id = %user.id, "user created");
    Ok(HttpResponse::Created().json(UserView::from(user)))
}
