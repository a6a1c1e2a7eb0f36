//! The cluster over HTTP (`service::cluster`).

use actix_web::web;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::json::ApiJson;
use crate::api::views::{ClusterChanged, ClusterStatusView, JoinCluster, LeaveCluster};
use crate::service::cluster as service;

pub async fn status(auth: Authorized) -> Result<web::Json<ClusterStatusView>, ApiError> {
    Ok(web::Json(service::status(&auth).await?))
}

pub async fn init(auth: Authorized) -> Result<web::Json<ClusterChanged>, ApiError> {
    Ok(web::Json(service::init(&auth).await?))
}

pub async fn join(
    auth: Authorized,
    ApiJson(body): ApiJson<JoinCluster>,
) -> Result<web::Json<ClusterChanged>, ApiError> {
    Ok(web::Json(service::join(&auth, body).await?))
}

pub async fn leave(
    auth: Authorized,
    ApiJson(body): ApiJson<LeaveCluster>,
) -> Result<web::Json<ClusterChanged>, ApiError> {
    Ok(web::Json(service::leave(&auth, body).await?))
}
