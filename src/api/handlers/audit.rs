//! The audit chain over HTTP (`service::audit`).

use actix_web::web;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::views::{AuditEventPage, AuditQuery, AuditVerifyQuery, AuditVerifyResult};
use crate::service::audit as service;

pub async fn events(auth: Authorized, query: web::Query<AuditQuery>) -> Result<web::Json<AuditEventPage>, ApiError> {
    Ok(web::Json(service::events(&auth, query.into_inner()).await?))
}

pub async fn verify(
    auth: Authorized,
    query: web::Query<AuditVerifyQuery>,
) -> Result<web::Json<AuditVerifyResult>, ApiError> {
    Ok(web::Json(service::verify(&auth, query.full).await?))
}
