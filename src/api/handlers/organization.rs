//! The organization over HTTP (`service::organization`).

use actix_web::web;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::json::ApiJson;
use crate::api::views::{OrganizationDetail, OwnerTransferred, SetAuditRetention, TransferOwnership};
use crate::service::organization as service;

pub async fn get(auth: Authorized) -> Result<web::Json<OrganizationDetail>, ApiError> {
    Ok(web::Json(service::get(&auth).await?))
}

pub async fn transfer_owner(
    auth: Authorized,
    ApiJson(body): ApiJson<TransferOwnership>,
) -> Result<web::Json<OwnerTransferred>, ApiError> {
    Ok(web::Json(service::transfer_owner(&auth, body).await?))
}

pub async fn set_audit_retention(
    auth: Authorized,
    ApiJson(body): ApiJson<SetAuditRetention>,
) -> Result<web::Json<OrganizationDetail>, ApiError> {
    Ok(web::Json(service::set_audit_retention(&auth, body).await?))
}
