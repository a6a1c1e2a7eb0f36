//! `POST /setup`: the organization and its owner, once (`service::setup`).

use actix_web::HttpResponse;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::json::ApiJson;
use crate::api::views::SetupRequest;
use crate::service::setup as service;

pub async fn setup(auth: Authorized, ApiJson(body): ApiJson<SetupRequest>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(service::setup(&auth, body).await?))
}
