//! Inspection for owners: every live actor of this process with its state, mailbox depth, counters,
//! restarts and last error, straight from the actor registry.

use actix_web::web;
use certautopilot_actors::registry::KINDS;
use serde::Deserialize;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::views::{ActorList, ActorView};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorsQuery {
    pub kind: Option<String>,
}

fn known_kind(kind: &str) -> Result<&'static str, ApiError> {
    KINDS
        .iter()
        .copied()
        .find(|k| *k == kind)
        .ok_or_else(|| ApiError::invalid("kind", format!("must be one of: {}", KINDS.join(", "))))
}

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ActorsQuery>,
) -> Result<web::Json<ActorList>, ApiError> {
    auth.caller()?;
    let kind = query.kind.as_deref().map(known_kind).transpose()?;
    Ok(web::Json(ActorList { items: state.actors.list(kind).into_iter().map(ActorView::from).collect() }))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ActorView>, ApiError> {
    auth.caller()?;
    let (kind, key) = path.into_inner();
    let kind = known_kind(&kind)?;
    state.actors.get(kind, &key).map(|s| web::Json(ActorView::from(s))).ok_or_else(|| ApiError::not_found("actor"))
}

/// Makes one actor panic so its supervision can be watched (`debug.fault_injection` only).
pub async fn panic(
    auth: Authorized,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<actix_web::HttpResponse, ApiError> {
    let caller = auth.caller()?;
    let (kind, key) = path.into_inner();
    let kind = known_kind(&kind)?;
    let faults = state.fault_injector().ok_or_else(|| {
        ApiError::conflict("fault injection is off on this node (set debug.fault_injection = true to allow it)")
    })?;
    state.actors.get(kind, &key).ok_or_else(|| ApiError::not_found("actor"))?;
    faults(kind.to_owned(), key.clone()).await.map_err(ApiError::conflict)?;
    tracing::warn!(kind, key, by = ?caller.principal(), "forced panic requested");
    Ok(actix_web::HttpResponse::Accepted().finish())
}
