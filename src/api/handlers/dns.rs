//! DNS credentials and zones over HTTP (`service::dns`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::{ApiJson, OptionalApiJson};
use crate::api::views::{
    CreateDnsCredential, CreateZone, CredentialTestResult, DnsCredentialPage, DnsCredentialView, TestDnsCredential,
    UpdateDnsCredential, UpdateZone, ZonePage, ZoneView,
};
use crate::service::dns as service;

pub async fn list_credentials(
    auth: Authorized,
    query: web::Query<ListQuery>,
) -> Result<web::Json<DnsCredentialPage>, ApiError> {
    Ok(web::Json(service::list_credentials(&auth, query.project()?, query.page()).await?))
}

pub async fn create_credential(
    auth: Authorized,
    ApiJson(body): ApiJson<CreateDnsCredential>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create_credential(&auth, body).await?))
}

pub async fn get_credential(auth: Authorized, id: web::Path<String>) -> Result<web::Json<DnsCredentialView>, ApiError> {
    Ok(web::Json(service::get_credential(&auth, path_id(&id, "dns credential")?).await?))
}

pub async fn update_credential(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateDnsCredential>,
) -> Result<web::Json<DnsCredentialView>, ApiError> {
    Ok(web::Json(service::update_credential(&auth, path_id(&id, "dns credential")?, body).await?))
}

pub async fn test_credential(
    auth: Authorized,
    id: web::Path<String>,
    OptionalApiJson(body): OptionalApiJson<TestDnsCredential>,
) -> Result<web::Json<CredentialTestResult>, ApiError> {
    let id = path_id(&id, "dns credential")?;
    Ok(web::Json(crate::service::dns_probe::test_credential(&auth, id, body).await?))
}

pub async fn delete_credential(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete_credential(&auth, path_id(&id, "dns credential")?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_zones(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<ZonePage>, ApiError> {
    Ok(web::Json(service::list_zones(&auth, query.project()?, query.page()).await?))
}

pub async fn create_zone(auth: Authorized, ApiJson(body): ApiJson<CreateZone>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::create_zone(&auth, body).await?))
}

pub async fn get_zone(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ZoneView>, ApiError> {
    Ok(web::Json(service::get_zone(&auth, path_id(&id, "zone")?).await?))
}

pub async fn update_zone(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateZone>,
) -> Result<web::Json<ZoneView>, ApiError> {
    Ok(web::Json(service::update_zone(&auth, path_id(&id, "zone")?, body).await?))
}

pub async fn delete_zone(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete_zone(&auth, path_id(&id, "zone")?).await?;
    Ok(HttpResponse::NoContent().finish())
}
