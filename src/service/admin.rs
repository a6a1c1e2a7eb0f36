//! Inspection for owners: every live actor of this process with its state, mailbox depth, counters,
//! restarts and last error, straight from the actor registry; and a forced panic to watch one
//! restart, where `debug.fault_injection` allows it.
//! Invariant: read-only but for the forced panic, which needs fault injection switched on.

use certautopilot_actors::registry::KINDS;

use crate::api::views::{ActorList, ActorView};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;

fn known_kind(kind: &str) -> Result<&'static str, ApiError> {
    KINDS
        .iter()
        .copied()
        .find(|k| *k == kind)
        .ok_or_else(|| ApiError::invalid("kind", format!("must be one of: {}", KINDS.join(", "))))
}

/// Every live actor of this process, or those of one kind.
pub async fn list(auth: &Authorized, kind: Option<&str>) -> Result<ActorList, ApiError> {
    auth.caller()?;
    let kind = kind.map(known_kind).transpose()?;
    Ok(ActorList { items: auth.state().actors.list(kind).into_iter().map(ActorView::from).collect() })
}

/// One actor by kind and key.
pub async fn get(auth: &Authorized, kind: &str, key: &str) -> Result<ActorView, ApiError> {
    auth.caller()?;
    let kind = known_kind(kind)?;
    auth.state().actors.get(kind, key).map(ActorView::from).ok_or_else(|| ApiError::not_found("actor"))
}

/// Makes one actor panic so its supervision can be watched (`debug.fault_injection` only).
pub async fn panic(auth: &Authorized, kind: &str, key: &str) -> Result<(), ApiError> {
    let caller = auth.caller()?;
    let kind = known_kind(kind)?;
    let state = auth.state();
    let faults = state.fault_injector().ok_or_else(|| {
        ApiError::conflict("fault injection is off on this node (set debug.fault_injection = true to allow it)")
    })?;
    state.actors.get(kind, key).ok_or_else(|| ApiError::not_found("actor"))?;
    faults(kind.to_owned(), key.to_owned()).await.map_err(ApiError::conflict)?;
    tracing::warn!(kind, key, by = ?caller.principal(), "forced panic requested");
    Ok(())
}
