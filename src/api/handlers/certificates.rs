//! Certificates over HTTP (`service::certificates`); the chain downloads as
//! `application/pem-certificate-chain` (RFC 8555 §9.1).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{
    CertificatePage, CertificateView, CreateCertificate, DeploymentList, ImportCertificate, LiveStatus,
    ManageCertificate, RevokeCertificate, SetTargets, TimelineView, UpdateCertificate,
};
use crate::service::certificates as service;

/// `?project_id=&health=&cursor=&limit=`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateListQuery {
    project_id: Option<String>,
    health: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    auth: Authorized,
    query: web::Query<CertificateListQuery>,
) -> Result<web::Json<CertificatePage>, ApiError> {
    // `serde(flatten)` would read `limit` from a query string as text: the fields are spelled out.
    let query = query.into_inner();
    let health = query.health.as_deref().map(service::parse_health).transpose()?;
    let list = ListQuery { project_id: query.project_id, cursor: query.cursor, limit: query.limit };
    Ok(web::Json(service::list(&auth, list.project()?, health, list.page()).await?))
}

pub async fn create(auth: Authorized, ApiJson(body): ApiJson<CreateCertificate>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(service::create(&auth, body).await?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<CertificateView>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn renew(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(service::renew(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn revoke(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<RevokeCertificate>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(service::revoke(&auth, path_id(&id, "certificate")?, body).await?))
}

pub async fn timeline(auth: Authorized, id: web::Path<String>) -> Result<web::Json<TimelineView>, ApiError> {
    Ok(web::Json(service::timeline(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn live(auth: Authorized, id: web::Path<String>) -> Result<web::Json<LiveStatus>, ApiError> {
    Ok(web::Json(service::live(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn chain(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let chain = service::chain(&auth, path_id(&id, "certificate")?).await?;
    Ok(HttpResponse::Ok().content_type("application/pem-certificate-chain").body(chain))
}

pub async fn distribute(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(service::distribute(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn deployments(auth: Authorized, id: web::Path<String>) -> Result<web::Json<DeploymentList>, ApiError> {
    Ok(web::Json(service::deployments(&auth, path_id(&id, "certificate")?).await?))
}

pub async fn set_targets(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<SetTargets>,
) -> Result<web::Json<CertificateView>, ApiError> {
    Ok(web::Json(service::set_targets(&auth, path_id(&id, "certificate")?, body).await?))
}

pub async fn update(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateCertificate>,
) -> Result<web::Json<CertificateView>, ApiError> {
    Ok(web::Json(service::update(&auth, path_id(&id, "certificate")?, body).await?))
}

pub async fn import(auth: Authorized, ApiJson(body): ApiJson<ImportCertificate>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(crate::service::certificate_import::import(&auth, body).await?))
}

pub async fn manage(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<ManageCertificate>,
) -> Result<web::Json<CertificateView>, ApiError> {
    Ok(web::Json(crate::service::certificate_import::manage(&auth, path_id(&id, "certificate")?, body).await?))
}

pub async fn discover(
    auth: Authorized,
    ApiJson(body): ApiJson<crate::api::views::StartDiscoveryScan>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Accepted().json(crate::service::discovery::start(&auth, body).await?))
}

pub async fn delete(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    service::delete(&auth, path_id(&id, "certificate")?).await?;
    Ok(HttpResponse::NoContent().finish())
}
