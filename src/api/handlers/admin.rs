//! Actor inspection over HTTP (`service::admin`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::views::{ActorList, ActorView};
use crate::service::admin as service;

/// `?kind=` of the actor list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsQuery {
    pub kind: Option<String>,
}

pub async fn list(auth: Authorized, query: web::Query<ActorsQuery>) -> Result<web::Json<ActorList>, ApiError> {
    Ok(web::Json(service::list(&auth, query.kind.as_deref()).await?))
}

pub async fn get(auth: Authorized, path: web::Path<(String, String)>) -> Result<web::Json<ActorView>, ApiError> {
    let (kind, key) = path.into_inner();
    Ok(web::Json(service::get(&auth, &kind, &key).await?))
}

pub async fn panic(auth: Authorized, path: web::Path<(String, String)>) -> Result<HttpResponse, ApiError> {
    let (kind, key) = path.into_inner();
    service::panic(&auth, &kind, &key).await?;
    Ok(HttpResponse::Accepted().finish())
}
