//! Users of the organization over HTTP (`service::users`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateUser, UserPage, UserView};
use crate::service::users as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<UserPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateUser>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create(&auth, body).await?))
}

pub async fn disable(auth: Authorized, id: web::Path<String>) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(service::disable(&auth, path_id(&id, "user")?).await?))
}

pub async fn enable(auth: Authorized, id: web::Path<String>) -> Result<web::Json<UserView>, ApiError> {
    Ok(web::Json(service::enable(&auth, path_id(&id, "user")?).await?))
}
