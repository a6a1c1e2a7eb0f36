//! Long-lived API tokens: `cap_<id>.<secret>`, shown once at creation, stored as a SHA-256 of the
//! secret, revocable by their user and by the organization's owners.
//! Invariant: only an interactive session mints a token, so a leaked token cannot outlive its own
//! revocation by minting successors (issue 14, item 9); another user's token reads, for anyone
//! but an owner, exactly like one that does not exist.

use std::time::Duration;

use certautopilot_core::ids::{ApiTokenId, UserId};
use certautopilot_core::model::{ApiToken, User};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::api::views::{ApiTokenPage, ApiTokenView, CreateApiToken, CreatedApiToken};
use crate::service::authorized::{AuthMethod, Authorized};
use crate::service::credentials::{API_TOKEN_PREFIX, random_secret, secret_digest};
use crate::service::error::ApiError;
use crate::service::{records, validate};

/// The caller's own tokens.
pub async fn list(auth: &Authorized, page: PageRequest) -> Result<ApiTokenPage, ApiError> {
    let caller = auth.caller()?;
    let page = auth
        .state()
        .store()?
        .list_by_lookup::<ApiToken>(&caller.org_scope(), &caller.user.id.to_string(), &records::page(page)?)
        .await?;
    Ok(page.map(ApiTokenView::from).into())
}

/// A new token for the caller, its secret shown this once.
pub async fn create(auth: &Authorized, input: CreateApiToken) -> Result<CreatedApiToken, ApiError> {
    let caller = auth.caller()?;
    if let AuthMethod::ApiToken(_) = caller.method {
        return Err(ApiError::forbidden(
            "an API token cannot create API tokens; sign in with your password to create one",
        ));
    }
    let state = auth.state();
    let name = validate::name("name", &input.name)?;
    let max = state.auth.api_token_max_days;
    let days = input.expires_in_days.unwrap_or(max);
    if days == 0 || days > max {
        return Err(ApiError::invalid("expires_in_days", format!("must be 1 to {max}")));
    }
    let now = state.now();
    let secret = random_secret();
    let token = ApiToken {
        id: ApiTokenId::new(),
        org_id: caller.user.org_id,
        user_id: caller.user.id,
        name,
        secret_sha256: secret_digest(&secret),
        expires_at: Some(now.saturating_add(Duration::from_secs(u64::from(days) * 86_400))),
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let audit = auth
        .audit(
            "api_token.created",
            Some(("api_token", token.id.to_string())),
            None,
            serde_json::json!({ "name": token.name, "expires_at": token.expires_at }),
        )
        .await?;
    state.store()?.insert_audited(&caller.org_scope(), &token, audit).await?;
    tracing::info!(user_id = %caller.user.id, token_id = %token.id, "api token created");
    Ok(CreatedApiToken {
        id: token.id,
        name: token.name,
        token: format!("{API_TOKEN_PREFIX}{}.{secret}", token.id),
        expires_at: token.expires_at,
    })
}

/// Revokes one of the caller's tokens; owners revoke anyone's.
pub async fn revoke(auth: &Authorized, id: ApiTokenId) -> Result<(), ApiError> {
    let caller = auth.caller()?;
    let scope = caller.org_scope();
    let mut token: ApiToken = auth.state().store()?.get(&scope, &id).await?;
    // Owners revoke anyone's token (a leaked one must be containable); others only their own, and
    // another user's token reads exactly like one that does not exist.
    if token.user_id != caller.user.id && !caller.is_owner() {
        return Err(ApiError::not_found("api token"));
    }
    token.revoked = true;
    let details = serde_json::json!({ "user_id": token.user_id, "revoked_by": caller.user.id });
    let audit = auth.audit("api_token.revoked", Some(("api_token", id.to_string())), None, details).await?;
    auth.state().store()?.update_audited(&scope, &token, audit).await?;
    tracing::info!(by = %caller.user.id, user_id = %token.user_id, token_id = %id, "api token revoked");
    Ok(())
}

/// Every API token of one user of the organization (owners only), revoked and expired ones included.
pub async fn list_for_user(auth: &Authorized, user: UserId, page: PageRequest) -> Result<ApiTokenPage, ApiError> {
    let caller = auth.caller()?;
    let scope = caller.org_scope();
    let page = records::page(page)?;
    let user: User = auth.state().store()?.get(&scope, &user).await?;
    let page = auth.state().store()?.list_by_lookup::<ApiToken>(&scope, &user.id.to_string(), &page).await?;
    Ok(page.map(ApiTokenView::from).into())
}
