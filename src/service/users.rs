//! Users of the organization (owners manage them): create, list, disable and enable.
//! Invariant: disabling a user and revoking every live session and API token of theirs is one
//! store transaction; a disabled user never authenticates (`api::auth::authenticate`) nor logs in.

use certautopilot_core::ids::UserId;
use certautopilot_core::model::{ApiToken, OrgRole, Session, User};
use certautopilot_core::store::{PageRequest, Record, RecordScope, RecordStore, StoreError};
use certautopilot_core::{OrgScope, Store};

use crate::api::views::{CreateUser, UserPage, UserView};
use crate::service::authorized::Authorized;
use crate::service::credentials::password;
use crate::service::error::ApiError;
use crate::service::{records, validate};

/// Every user of the organization.
pub async fn list(auth: &Authorized, page: PageRequest) -> Result<UserPage, ApiError> {
    let caller = auth.caller()?;
    let page = auth.state().store()?.list::<User>(&caller.org_scope(), &records::page(page)?).await?;
    Ok(page.map(UserView::from).into())
}

/// A new member of the organization, with a password; roles in projects come with memberships.
pub async fn create(auth: &Authorized, input: CreateUser) -> Result<UserView, ApiError> {
    let caller = auth.caller()?;
    let state = auth.state();
    let email = validate::email("email", &input.email)?;
    password::check_policy(&input.password).map_err(|m| ApiError::invalid("password", m))?;
    let mut user = User::new(caller.user.org_id, &email, OrgRole::Member, state.now());
    user.password_hash = Some(state.password_hashing.hash(input.password).await?);
    let audit = auth
        .audit("user.created", Some(("user", user.id.to_string())), None, serde_json::json!({ "email": user.email }))
        .await?;
    state.store()?.insert_audited(&caller.org_scope(), &user, audit).await?;
    tracing::info!(by = %caller.user.id, user_id = %user.id, "user created");
    Ok(UserView::from(user))
}

/// Disables a user and ends every session and API token of theirs at once.
pub async fn disable(auth: &Authorized, id: UserId) -> Result<UserView, ApiError> {
    let caller = auth.caller()?;
    // The caller is an active owner, so refusing them here is also what keeps the organization from
    // losing its last owner: any other owner being disabled leaves the caller.
    if id == caller.user.id {
        return Err(ApiError::conflict(
            "you cannot disable yourself: the organization would be left without you as owner; another owner can",
        ));
    }
    // Ownership moves (`organization::transfer_owner`); the owner is never disabled.
    let user: User = auth.state().store()?.get(&caller.org_scope(), &id).await?;
    if user.org_role == OrgRole::Owner {
        return Err(ApiError::conflict("the organization's owner cannot be disabled; transfer ownership first"));
    }
    set_access(auth, id, Access::Disabled).await
}

/// Lets a disabled user sign in again. Their old sessions and tokens stay revoked.
pub async fn enable(auth: &Authorized, id: UserId) -> Result<UserView, ApiError> {
    set_access(auth, id, Access::Enabled).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Enabled,
    Disabled,
}

/// How often a change of access is tried again when a session or token changed under it (a login,
/// a logout, a revoke racing the owner): each try re-reads everything, so a few always suffice.
const ACCESS_CHANGE_ATTEMPTS: usize = 3;

/// Sets the user's `disabled` flag and revokes their live sessions and tokens in one transaction.
/// Enabling revokes too: a login that raced the disable (it read the user before the flag was set)
/// may have left a session, and enabling must not bring it back to life.
async fn set_access(auth: &Authorized, id: UserId, access: Access) -> Result<UserView, ApiError> {
    let caller = auth.caller()?;
    let state = auth.state();
    let scope = caller.org_scope();
    let store = state.store()?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut user: User = store.get(&scope, &id).await?;
        user.disabled = access == Access::Disabled;
        let now = state.now();
        let sessions: Vec<Session> = of_user::<Session>(&**store, &scope, id)
            .await?
            .into_iter()
            .filter(|s| !s.revoked && s.expires_at > now)
            .map(|s| Session { revoked: true, ..s })
            .collect();
        let tokens: Vec<ApiToken> = of_user::<ApiToken>(&**store, &scope, id)
            .await?
            .into_iter()
            .filter(|t| !t.revoked && t.expires_at.is_none_or(|at| at > now))
            .map(|t| ApiToken { revoked: true, ..t })
            .collect();
        let record_scope = RecordScope::from(&scope);
        let mut records = vec![user.to_raw(&record_scope)?];
        for session in &sessions {
            records.push(session.to_raw(&record_scope)?);
        }
        for token in &tokens {
            records.push(token.to_raw(&record_scope)?);
        }
        let action = match access {
            Access::Disabled => "user.disabled",
            Access::Enabled => "user.enabled",
        };
        let details = serde_json::json!({
            "sessions_revoked": sessions.len(),
            "api_tokens_revoked": tokens.iter().map(|t| t.id.to_string()).collect::<Vec<_>>(),
        });
        let audit = auth.audit(action, Some(("user", id.to_string())), None, details).await?;
        match store.update_raw_many(&record_scope, records, Some(audit)).await {
            Ok(stored) => {
                let user = stored.into_iter().next().map(User::from_raw).transpose()?;
                let user = user.ok_or_else(|| ApiError::internal("users", &"batch update returned nothing"))?;
                tracing::info!(
                    by = %caller.user.id, user_id = %id, action, sessions = sessions.len(), tokens = tokens.len(),
                    "user access changed"
                );
                return Ok(UserView::from(user));
            }
            Err(StoreError::Conflict { .. }) if attempt < ACCESS_CHANGE_ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Every record of kind `R` listed under the user's id (their sessions, their API tokens).
pub(crate) async fn of_user<R: Record<Scope = OrgScope>>(
    store: &dyn Store,
    scope: &OrgScope,
    id: UserId,
) -> Result<Vec<R>, ApiError> {
    let mut found = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = store.list_by_lookup::<R>(scope, &id.to_string(), &page).await?;
        found.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => return Ok(found),
        }
    }
}
