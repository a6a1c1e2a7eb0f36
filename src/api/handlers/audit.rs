//! The audit chain over HTTP: list events with filters, and verify the chain (owners only).

use actix_web::web;
use certautopilot_core::audit::{VerifyError, verify_chain};
use certautopilot_core::ids::ProjectId;
use certautopilot_core::store::AuditFilter;
use serde::Deserialize;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::views::{AuditEventPage, AuditEventView, AuditVerifyResult};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub project_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<usize>,
}

fn instant(field: &str, text: &Option<String>) -> Result<Option<certautopilot_core::Timestamp>, ApiError> {
    text.as_deref()
        .map(|t| {
            // `Timestamp` deserializes from RFC 3339 text.
            serde_json::from_value(serde_json::Value::String(t.to_owned()))
                .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 timestamp"))
        })
        .transpose()
}

pub async fn events(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<AuditEventPage>, ApiError> {
    let caller = auth.caller()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let after = match &query.cursor {
        Some(c) => c.parse::<u64>().map_err(|_| ApiError::invalid("cursor", "invalid pagination cursor"))?,
        None => 0,
    };
    let project_id = query
        .project_id
        .as_deref()
        .map(|p| p.parse::<ProjectId>().map_err(|_| ApiError::invalid("project_id", "must be a project id (UUID)")))
        .transpose()?;
    let filter = AuditFilter {
        project_id,
        object_id: None,
        action: query.action.clone(),
        from: instant("from", &query.from)?,
        until: instant("until", &query.until)?,
    };
    state.flush_audit(caller.org_scope().org_id()).await;
    let mut items = state.store()?.search_audit_events(&caller.org_scope(), &filter, after, limit + 1).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(web::Json(AuditEventPage { items: items.into_iter().map(AuditEventView::from).collect(), next_cursor }))
}

pub async fn verify(auth: Authorized, state: web::Data<AppState>) -> Result<web::Json<AuditVerifyResult>, ApiError> {
    let caller = auth.caller()?;
    let org = state.org().await?;
    let store = state.store()?;
    state.flush_audit(org.org.id).await;
    let verified = verify_chain(store.as_ref(), &caller.org_scope(), &org.audit_secret, |_| {}).await;
    // Read after the walk, so an event chained meanwhile is not counted twice.
    let pending = certautopilot_core::audit::pending_count(store.as_ref(), org.org.id).await?;
    match verified {
        Ok(summary) => Ok(web::Json(AuditVerifyResult {
            intact: true,
            entries: summary.entries,
            head: summary.head,
            broken_at: None,
            reason: None,
            pending,
        })),
        Err(VerifyError::Broken(link)) => {
            tracing::error!(seq = link.seq, fault = %link.fault, "audit chain verification failed");
            Ok(web::Json(AuditVerifyResult {
                intact: false,
                entries: link.seq.saturating_sub(1),
                head: None,
                broken_at: Some(link.seq),
                reason: Some(link.fault.to_string()),
                pending,
            }))
        }
        Err(VerifyError::Store(e)) => Err(e.into()),
    }
}
