//! Notification channels and rules over HTTP (`service::notification_channels`,
//! `service::notification_rules`).

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{
    ChannelPage, ChannelTested, ChannelView, CreateChannel, CreateRule, RulePage, RuleView, UpdateChannel, UpdateRule,
};
use crate::service::{notification_channels as channels, notification_rules as rules};

const CHANNEL: &str = "notification channel";
const RULE: &str = "notification rule";

pub async fn list_channels(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<ChannelPage>, ApiError> {
    Ok(web::Json(channels::list(&auth, query.project()?, query.page()).await?))
}

pub async fn create_channel(auth: Authorized, ApiJson(body): ApiJson<CreateChannel>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(channels::create(&auth, body).await?))
}

pub async fn get_channel(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ChannelView>, ApiError> {
    Ok(web::Json(channels::get(&auth, path_id(&id, CHANNEL)?).await?))
}

pub async fn update_channel(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateChannel>,
) -> Result<web::Json<ChannelView>, ApiError> {
    Ok(web::Json(channels::update(&auth, path_id(&id, CHANNEL)?, body).await?))
}

pub async fn delete_channel(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    channels::delete(&auth, path_id(&id, CHANNEL)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn test_channel(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ChannelTested>, ApiError> {
    Ok(web::Json(channels::test(&auth, path_id(&id, CHANNEL)?).await?))
}

pub async fn list_rules(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<RulePage>, ApiError> {
    Ok(web::Json(rules::list(&auth, query.project()?, query.page()).await?))
}

pub async fn create_rule(auth: Authorized, ApiJson(body): ApiJson<CreateRule>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(rules::create(&auth, body).await?))
}

pub async fn get_rule(auth: Authorized, id: web::Path<String>) -> Result<web::Json<RuleView>, ApiError> {
    Ok(web::Json(rules::get(&auth, path_id(&id, RULE)?).await?))
}

pub async fn update_rule(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateRule>,
) -> Result<web::Json<RuleView>, ApiError> {
    Ok(web::Json(rules::update(&auth, path_id(&id, RULE)?, body).await?))
}

pub async fn delete_rule(auth: Authorized, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    rules::delete(&auth, path_id(&id, RULE)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
