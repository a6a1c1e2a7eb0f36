//! The organization's own duties: who owns it (transferable, never deleted) and how long its audit
//! entries stay in the live chain.
//! Invariant: exactly one owner at all times. A transfer demotes the caller and promotes the new
//! owner in one store transaction guarded by both users' versions, so of two transfers racing
//! (in one process or several) one commits and the other finds the caller changed; only the owner,
//! proving it is them again (their password, or a session younger than `auth.reauth_window_secs`),
//! transfers. A user's role is read from the store on every request, so the old owner's sessions
//! lose the owner's powers with the commit.

use certautopilot_core::model::{Membership, OrgRole, Session, User};
use certautopilot_core::store::{Record, RecordScope, RecordStore, StoreError};

use crate::api::views::{OrganizationDetail, OwnerTransferred, SetAuditRetention, TransferOwnership, UserView};
use crate::service::authorized::{AuthMethod, Authorized, Caller};
use crate::service::error::{ApiError, ErrorCode};
use crate::service::users::of_user;

/// The organization and who owns it.
pub async fn get(auth: &Authorized) -> Result<OrganizationDetail, ApiError> {
    let caller = auth.caller()?;
    let state = auth.state();
    let org = state.store()?.get_organization(caller.user.org_id).await?;
    let owner = owner_of(auth).await?;
    Ok(OrganizationDetail {
        id: org.id,
        name: org.name,
        owner: UserView::from(owner),
        audit_retention_days: org.audit_retention_days,
        created_at: org.created_at,
    })
}

/// The longest retention accepted: a hundred years is "forever" spelled as a number.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// Sets how long audit entries stay in the live chain before the scheduler archives them
/// (docs/audit.md, "Retention"); `None` keeps them forever. Audited with the value before and after.
pub async fn set_audit_retention(auth: &Authorized, input: SetAuditRetention) -> Result<OrganizationDetail, ApiError> {
    let caller = auth.caller()?;
    if input.days.is_some_and(|d| d > MAX_RETENTION_DAYS) {
        return Err(ApiError::invalid(
            "days",
            format!("must be 0 to {MAX_RETENTION_DAYS}, or null to keep everything"),
        ));
    }
    let store = auth.state().store()?;
    let mut org = store.get_organization(caller.user.org_id).await?;
    if org.audit_retention_days == input.days {
        return get(auth).await;
    }
    let details = serde_json::json!({ "before": org.audit_retention_days, "after": input.days });
    let audit =
        auth.audit("org.audit_retention_changed", Some(("organization", org.id.to_string())), None, details).await?;
    org.audit_retention_days = input.days;
    store.update_organization(&org, Some(audit)).await?;
    tracing::info!(by = %caller.user.id, days = ?input.days, "audit retention changed");
    get(auth).await
}

/// Makes another active user the owner; the caller (the owner) becomes an ordinary user, keeping
/// any project memberships they have. The new owner's memberships go: an owner has every role in
/// every project, and a membership would show a lower one.
pub async fn transfer_owner(auth: &Authorized, input: TransferOwnership) -> Result<OwnerTransferred, ApiError> {
    let caller = auth.caller()?;
    let state = auth.state();
    let store = state.store()?;
    let scope = caller.org_scope();
    let new_owner_id = input.user_id;
    if new_owner_id == caller.user.id {
        return Err(ApiError::conflict("you own the organization already"));
    }
    // Who the new owner is comes first: naming an unknown or disabled user says so whatever the proof.
    let mut new_owner: User = store.get(&scope, &new_owner_id).await.map_err(|e| match e {
        StoreError::NotFound { .. } | StoreError::ScopeMismatch { .. } => {
            ApiError::invalid("user_id", "no such user in this organization")
        }
        other => other.into(),
    })?;
    if new_owner.disabled {
        return Err(ApiError::invalid("user_id", "this user is disabled; enable them first"));
    }
    if new_owner.password_hash.is_none() {
        return Err(ApiError::invalid("user_id", "this user has no password and could never sign in as owner"));
    }
    prove_identity(auth, caller, input.password).await?;

    let now = state.now();
    let mut old_owner = caller.user.clone();
    old_owner.org_role = OrgRole::Member;
    old_owner.updated_at = now;
    new_owner.org_role = OrgRole::Owner;
    new_owner.updated_at = now;
    let record_scope = RecordScope::from(&scope);
    let records = vec![old_owner.to_raw(&record_scope)?, new_owner.to_raw(&record_scope)?];
    let details = serde_json::json!({ "from": caller.user.id, "to": new_owner.id });
    let audit = auth.audit("org.owner_transferred", Some(("user", new_owner.id.to_string())), None, details).await?;
    let stored = store.update_raw_many(&record_scope, records, Some(audit)).await.map_err(|e| match e {
        // The caller's version moved: another transfer (or a change to them) committed first.
        StoreError::Conflict { .. } => ApiError::conflict(
            "the organization's owner changed meanwhile (another transfer went first); reload and check who owns it",
        ),
        other => other.into(),
    })?;
    let mut users = stored.into_iter().map(User::from_raw);
    let (Some(old_owner), Some(new_owner)) = (users.next().transpose()?, users.next().transpose()?) else {
        return Err(ApiError::internal("organization", &"batch update returned fewer users than written"));
    };
    let memberships_removed = drop_memberships(auth, &new_owner).await?;
    tracing::info!(from = %old_owner.id, to = %new_owner.id, memberships_removed, "organization ownership transferred");
    Ok(OwnerTransferred { previous_owner: UserView::from(old_owner), owner: UserView::from(new_owner) })
}

/// The password re-entered, or a session signed in recently enough. An API token alone never
/// proves it: a token is for automation, and handing an organization over is not.
async fn prove_identity(auth: &Authorized, caller: &Caller, password: Option<String>) -> Result<(), ApiError> {
    let state = auth.state();
    let window = state.auth.reauth_window;
    let required = || {
        ApiError::new(
            ErrorCode::ReauthenticationRequired,
            format!(
                "re-enter your password to transfer the organization (or sign in again: a session younger than {} minutes counts)",
                window.as_secs().div_ceil(60)
            ),
        )
    };
    if let Some(password) = password {
        let matches = state.password_hashing.verify(password, caller.user.password_hash.clone()).await?;
        if !matches {
            tracing::warn!(user_id = %caller.user.id, "ownership transfer refused: wrong password");
            let mut wrong = ApiError::new(ErrorCode::ReauthenticationRequired, "the password is wrong");
            wrong.field = Some("password".into());
            return Err(wrong);
        }
        return Ok(());
    }
    let AuthMethod::Session { id, .. } = caller.method else { return Err(required()) };
    let session: Session = state.store()?.get(&caller.org_scope(), &id).await?;
    let age = state.now().as_unix_millis().saturating_sub(session.created_at.as_unix_millis());
    if u128::try_from(age).unwrap_or(0) <= window.as_millis() { Ok(()) } else { Err(required()) }
}

/// The organization's one owner.
async fn owner_of(auth: &Authorized) -> Result<User, ApiError> {
    let caller = auth.caller()?;
    if caller.is_owner() {
        return Ok(caller.user.clone());
    }
    let store = auth.state().store()?;
    let mut page = certautopilot_core::store::PageRequest::first(1_000);
    loop {
        let batch = store.list::<User>(&caller.org_scope(), &page).await?;
        if let Some(owner) = batch.items.into_iter().find(|u| u.org_role == OrgRole::Owner) {
            return Ok(owner);
        }
        match batch.next_cursor {
            Some(cursor) => page = certautopilot_core::store::PageRequest::after(1_000, cursor),
            None => return Err(ApiError::internal("organization", &"the organization has no owner")),
        }
    }
}

/// Removes the new owner's project memberships, each audited as any removal is. After the
/// transfer committed: a crash in between leaves memberships an owner's role outranks anyway.
async fn drop_memberships(auth: &Authorized, owner: &User) -> Result<usize, ApiError> {
    let caller = auth.caller()?;
    let store = auth.state().store()?;
    let scope = caller.org_scope();
    let memberships = of_user::<Membership>(&**store, &scope, owner.id).await?;
    for membership in &memberships {
        let details = serde_json::json!({ "role": membership.role, "reason": "became the organization's owner" });
        let audit = auth
            .audit("member.removed", Some(("user", owner.id.to_string())), Some(membership.project_id), details)
            .await?;
        store.delete_audited::<Membership>(&scope, &membership.id, Some(membership.version), audit).await?;
    }
    Ok(memberships.len())
}
