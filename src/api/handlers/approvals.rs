//! Approvals over HTTP (`service::approvals`): the inbox, a decision (its body, a comment, may be
//! left out), a project's policy.

use actix_web::{HttpResponse, web};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::{ApiJson, OptionalApiJson};
use crate::api::views::{ApprovalPage, ApprovalPolicyView, ApprovalView, DecideApproval};
use crate::service::approvals as service;

/// `?project_id=&status=&cursor=&limit=`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalListQuery {
    project_id: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn list(auth: Authorized, query: web::Query<ApprovalListQuery>) -> Result<web::Json<ApprovalPage>, ApiError> {
    let query = query.into_inner();
    let status = query.status.as_deref().map(service::parse_status).transpose()?;
    let list = ListQuery { project_id: query.project_id, cursor: query.cursor, limit: query.limit };
    Ok(web::Json(service::list(&auth, list.project()?, status, list.page()).await?))
}

pub async fn get(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ApprovalView>, ApiError> {
    Ok(web::Json(service::get(&auth, path_id(&id, "approval request")?).await?))
}

pub async fn approve(
    auth: Authorized,
    id: web::Path<String>,
    OptionalApiJson(body): OptionalApiJson<DecideApproval>,
) -> Result<HttpResponse, ApiError> {
    let decided = service::decide(&auth, path_id(&id, "approval request")?, true, body).await?;
    Ok(HttpResponse::Ok().json(decided))
}

pub async fn reject(
    auth: Authorized,
    id: web::Path<String>,
    OptionalApiJson(body): OptionalApiJson<DecideApproval>,
) -> Result<HttpResponse, ApiError> {
    let decided = service::decide(&auth, path_id(&id, "approval request")?, false, body).await?;
    Ok(HttpResponse::Ok().json(decided))
}

pub async fn policy(auth: Authorized, id: web::Path<String>) -> Result<web::Json<ApprovalPolicyView>, ApiError> {
    Ok(web::Json(service::policy(&auth, path_id(&id, "project")?).await?))
}

pub async fn set_policy(
    auth: Authorized,
    id: web::Path<String>,
    ApiJson(body): ApiJson<ApprovalPolicyView>,
) -> Result<web::Json<ApprovalPolicyView>, ApiError> {
    Ok(web::Json(service::set_policy(&auth, path_id(&id, "project")?, body).await?))
}
