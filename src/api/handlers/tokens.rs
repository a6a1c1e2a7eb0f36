//! API tokens over HTTP (`service::tokens`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{ApiTokenPage, CreateApiToken};
use crate::service::tokens as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<ApiTokenPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateApiToken>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create(&auth, body).await?))
}

pub async fn revoke(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::revoke(&auth, path_id(&id, "api token")?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_for_user(
    auth: Authorized,
    id: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<ApiTokenPage>, ApiError> {
    Ok(web::Json(service::list_for_user(&auth, path_id(&id, "user")?, query.page()).await?))
}
