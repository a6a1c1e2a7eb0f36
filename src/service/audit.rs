//! The audit chain: search its events with filters, and verify it (owners only).
//! Invariant: a read of the chain first has this process's audit actor chain what it committed,
//! so a caller sees their own changes.

use certautopilot_core::audit::{FromMark, VerifiedMark, VerifyError, pending_count, verify_chain, verify_from_mark};
use certautopilot_core::ids::ProjectId;
use certautopilot_core::store::AuditFilter;

use crate::api::views::{AuditEventPage, AuditEventView, AuditQuery, AuditVerifyResult};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;

fn instant(field: &str, text: &Option<String>) -> Result<Option<certautopilot_core::Timestamp>, ApiError> {
    text.as_deref()
        .map(|t| {
            // `Timestamp` deserializes from RFC 3339 text.
            serde_json::from_value(serde_json::Value::String(t.to_owned()))
                .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 timestamp"))
        })
        .transpose()
}

/// Events in chain order, filtered by project, action and time; the cursor is the last `seq` seen.
pub async fn events(auth: &Authorized, query: AuditQuery) -> Result<AuditEventPage, ApiError> {
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
    let state = auth.state();
    state.flush_audit(caller.org_scope().org_id()).await;
    let mut items = state.store()?.search_audit_events(&caller.org_scope(), &filter, after, limit + 1).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(AuditEventPage { items: items.into_iter().map(AuditEventView::from).collect(), next_cursor })
}

/// How far the scheduler's verifier has verified the chain: (seq, when), if its mark is genuine.
pub async fn verified_mark(auth: &Authorized) -> Result<Option<(u64, certautopilot_core::Timestamp)>, ApiError> {
    let caller = auth.caller()?;
    let org = auth.state().org().await?;
    let doc = auth.state().store()?.audit_mark(caller.user.org_id).await?;
    let mark = doc.as_deref().and_then(VerifiedMark::from_json).filter(|m| m.is_genuine(&org.audit_secret, org.org.id));
    Ok(mark.map(|m| (m.seq, m.at)))
}

/// Verifies the chain from its verified-up-to mark (the scheduler's verifier keeps it near the
/// head, so this reads the entries since), or from the first entry when `full`; names the first
/// broken link, if any. Reads only: the mark is the verifier's to move.
pub async fn verify(auth: &Authorized, full: bool) -> Result<AuditVerifyResult, ApiError> {
    let caller = auth.caller()?;
    let state = auth.state();
    let org = state.org().await?;
    let store = state.store()?;
    state.flush_audit(org.org.id).await;
    let scope = caller.org_scope();
    let verified = if full {
        verify_chain(store.as_ref(), &scope, &org.audit_secret, |_| {}).await.map(FromMark::from)
    } else {
        verify_from_mark(store.as_ref(), &scope, &org.audit_secret, |_| {}).await
    };
    // Read after the walk, so an event chained meanwhile is not counted twice.
    let pending = pending_count(store.as_ref(), org.org.id).await?;
    let mode = if full { "full" } else { "from_mark" }.to_owned();
    match verified {
        Ok(found) => Ok(AuditVerifyResult {
            intact: true,
            entries: found.entries,
            mode,
            verified_from: found.from_seq,
            marked_at: found.marked_at,
            checked: found.checked,
            head: found.head.map(|(_, hmac)| hmac),
            broken_at: None,
            reason: None,
            pending,
        }),
        Err(VerifyError::Broken(link)) => {
            tracing::error!(seq = link.seq, fault = %link.fault, "audit chain verification failed");
            Ok(AuditVerifyResult {
                intact: false,
                entries: link.seq.saturating_sub(1),
                mode,
                verified_from: 0,
                marked_at: None,
                checked: 0,
                head: None,
                broken_at: Some(link.seq),
                reason: Some(link.fault.to_string()),
                pending,
            })
        }
        Err(VerifyError::Store(e)) => Err(e.into()),
    }
}
