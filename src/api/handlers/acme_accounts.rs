//! ACME accounts over HTTP (`service::acme_accounts`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{AcmeAccountPage, AcmeAccountView, AcmeCatalogueView, CreateAcmeAccount, UpdateAcmeAccount};
use crate::service::acme_accounts as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<AcmeAccountPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.project()?, query.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateAcmeAccount>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create(&auth, body).await?))
}

pub async fn catalogue(auth: Authorized) -> Result<web::Json<AcmeCatalogueView>, ApiError> {
    Ok(web::Json(service::catalogue(&auth)?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<AcmeAccountView>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "acme account")?).await?))
}

pub async fn update(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateAcmeAccount>,
) -> Result<web::Json<AcmeAccountView>, ApiError> {
    Ok(web::Json(service::update(&auth, path_id(&id, "acme account")?, body).await?))
}

pub async fn delete(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete(&auth, path_id(&id, "acme account")?).await?;
    Ok(HttpResponse::NoContent().finish())
}
