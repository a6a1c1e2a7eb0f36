//! Jobs over HTTP (`service::jobs`).

use actix_web::web;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::views::{JobDetail, JobPage};
use crate::service::jobs as service;

pub async fn list(auth: Authorized, query: web::Query<ListQuery>) -> Result<web::Json<JobPage>, ApiError> {
    Ok(web::Json(service::list(&auth, query.project()?, query.page()).await?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<JobDetail>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "job")?).await?))
}
