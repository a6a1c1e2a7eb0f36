//! Projects over HTTP (`service::projects`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateProject, ProjectPage, ProjectView, UpdateProject};
use crate::service::projects as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<ProjectPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateProject>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create(&auth, body).await?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ProjectView>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "project")?).await?))
}

pub async fn update(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateProject>,
) -> Result<web::Json<ProjectView>, ApiError> {
    Ok(web::Json(service::update(&auth, path_id(&id, "project")?, body).await?))
}

pub async fn delete(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete(&auth, path_id(&id, "project")?).await?;
    Ok(HttpResponse::NoContent().finish())
}
