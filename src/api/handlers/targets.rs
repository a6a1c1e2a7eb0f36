//! Distribution targets over HTTP (`service::targets`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateTarget, TargetPage, TargetView, UpdateTarget};
use crate::service::targets as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<TargetPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.project()?, query.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateTarget>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create(&auth, body).await?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<TargetView>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "target")?).await?))
}

pub async fn update(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateTarget>,
) -> Result<web::Json<TargetView>, ApiError> {
    Ok(web::Json(service::update(&auth, path_id(&id, "target")?, body).await?))
}

pub async fn delete(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete(&auth, path_id(&id, "target")?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn scan(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(service::scan(&auth, path_id(&id, "target")?).await?))
}
