//! Project members over HTTP (`service::members`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::path_id;
use crate::api::json::ApiJson;
use crate::api::views::{AddMember, MemberPage, MemberView, UpdateMember};
use crate::service::members as service;

pub async fn list(auth: Authorized, id: web::Path<String>) -> Result<web::Json<MemberPage>, ApiError> {
    Ok(web::Json(service::list(&auth, path_id(&id, "project")?).await?))
}

pub async fn add(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::add(&auth, path_id(&id, "project")?, body).await?))
}

pub async fn remove(auth: Authorized, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (project, user) = path.into_inner();
    service::remove(&auth, path_id(&project, "project")?, path_id(&user, "member")?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn update(
    auth: Authorized,
    path: web::Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Result<web::Json<MemberView>, ApiError> {
    let (project, user) = path.into_inner();
    Ok(web::Json(service::update(&auth, path_id(&project, "project")?, path_id(&user, "member")?, body).await?))
}
