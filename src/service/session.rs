//! Signing in and out, and "who am I". A login creates a session record (revocable) and a
//! short-lived JWT naming it, with a CSRF token for cookie-carried sessions; failed logins are
//! throttled per account and address in the store, so every process serving the API shares the
//! count (docs/api.md, "Failed logins").
//! Invariant: a failed login says nothing about which part was wrong, nor whether the account
//! exists (unknown accounts cost a decoy hash); only this address's failures refuse it.

use std::net::IpAddr;

use certautopilot_core::ids::SessionId;
use certautopilot_core::model::{LoginVerdict, Membership, Session, User};
use certautopilot_core::store::{PageRequest, RecordStore};
use certautopilot_core::{OrgScope, Principal};

use crate::api::views::{LoginRequest, LoginResponse, MeView, MembershipSummary};
use crate::service::authorized::{AuthMethod, Authorized};
use crate::service::credentials::{jwt, random_secret, secret_digest};
use crate::service::error::{ApiError, ErrorCode};

/// The address failures are counted under: an IPv4 address as it is, an IPv6 one by its /64 (one
/// host commonly holds a whole /64, so counting single addresses would let it rotate for free).
fn counted_address(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        v4 => v4.to_string(),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "e-mail or password is wrong")
}

/// E-mail and password for a session: its JWT, when it expires, and its CSRF token. `client` is
/// the address the request came from, as the interface saw it.
pub async fn login(auth: &Authorized, input: LoginRequest, client: Option<IpAddr>) -> Result<LoginResponse, ApiError> {
    let state = auth.state();
    let email = input.email.trim().to_ascii_lowercase();
    // Before setup nobody can log in; after it, the organization's keys name what is counted.
    let Some(org) = state.organization().await? else { return Err(invalid_credentials()) };
    let keys = org.login_keys.attempt(&email, client.map(counted_address).as_deref());
    // Refusals come only from this address's failures; failures from elsewhere only delay the
    // answer, before the password is checked, so the delay tells nothing about the password.
    match state.store()?.reserve_login_attempt(&keys, &state.login_policy).await? {
        LoginVerdict::Refuse { retry_after } => {
            tracing::warn!(client = ?client, "login refused: too many failed attempts");
            let mut e = ApiError::new(ErrorCode::TooManyRequests, "too many failed logins; try again later");
            e.retry_after = Some(retry_after.as_secs());
            return Err(e);
        }
        LoginVerdict::Proceed { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        LoginVerdict::Proceed { .. } => {}
    }
    let org_scope = OrgScope::for_system("login", &org.org);
    let user: Option<User> = state.store()?.find_unique(&org_scope, &email).await.ok();
    // Unknown accounts are verified against a decoy so timing does not tell which e-mails exist.
    // When hashing is saturated this answers 503; the attempt stays counted, like any other.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.password_hashing.verify(input.password, stored).await?;
    let user = match user {
        // An account without a password (created by other means) can never log in with one.
        Some(user) if matches && user.password_hash.is_some() && !user.disabled => user,
        other => {
            // The attempt was already counted by `reserve_login_attempt`.
            let user_id = other.map(|u| u.id);
            tracing::warn!(user_id = ?user_id, client = ?client, "login failed");
            let actor = match user_id {
                Some(id) => Principal::User(id),
                None => Principal::System("anonymous".into()),
            };
            let details =
                serde_json::json!({ "client": client.map(|a| a.to_string()), "known_account": user_id.is_some() });
            let audit = org.audit(actor, "login.failed", user_id.map(|id| ("user", id.to_string())), None, details);
            // A failed login changes nothing, so its entry is written on its own; if that fails the
            // login is refused all the same.
            if let Err(e) = state.store()?.append_audit(audit).await {
                tracing::error!(error = %e, "could not append login.failed to the audit chain");
            }
            return Err(invalid_credentials());
        }
    };
    state.store()?.login_succeeded(&keys).await?;

    let now = state.now();
    let expires_at = now.saturating_add(state.auth.session_ttl);
    let csrf_token = random_secret();
    let session = Session {
        id: SessionId::new(),
        org_id: org.org.id,
        user_id: user.id,
        csrf_token_sha256: secret_digest(&csrf_token),
        expires_at,
        revoked: false,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let audit = org.audit(
        Principal::User(user.id),
        "login.succeeded",
        Some(("session", session.id.to_string())),
        None,
        serde_json::json!({ "client": client.map(|a| a.to_string()) }),
    );
    state.store()?.insert_audited(&org_scope, &session, audit).await?;
    let claims = jwt::Claims {
        sub: user.id.to_string(),
        org: org.org.id.to_string(),
        sid: session.id.to_string(),
        iat: now.as_unix_millis() / 1_000,
        exp: expires_at.as_unix_millis() / 1_000,
    };
    let token = jwt::sign(&org.jwt_key, &claims);
    tracing::info!(user_id = %user.id, session_id = %session.id, "login");
    Ok(LoginResponse { token, expires_at, csrf_token, user: user.into() })
}

/// Revokes the caller's session; an API token has none (it is revoked as a token).
pub async fn logout(auth: &Authorized) -> Result<(), ApiError> {
    let caller = auth.caller()?;
    let AuthMethod::Session { id, .. } = caller.method else {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "API tokens have no session; revoke them with DELETE /api/v1/auth/tokens/{id}",
        ));
    };
    let scope = caller.org_scope();
    let mut session: Session = auth.state().store()?.get(&scope, &id).await?;
    session.revoked = true;
    let audit = auth.audit("session.revoked", Some(("session", id.to_string())), None, serde_json::json!({})).await?;
    auth.state().store()?.update_audited(&scope, &session, audit).await?;
    tracing::info!(user_id = %caller.user.id, session_id = %id, "logout");
    Ok(())
}

/// The caller and the projects they are a member of, with their role in each.
pub async fn me(auth: &Authorized) -> Result<MeView, ApiError> {
    let caller = auth.caller()?;
    let memberships = auth
        .state()
        .store()?
        .list_by_lookup::<Membership>(&caller.org_scope(), &caller.user.id.to_string(), &PageRequest::first(1_000))
        .await?;
    Ok(MeView {
        user: caller.user.clone().into(),
        memberships: memberships
            .items
            .into_iter()
            .map(|m| MembershipSummary { project_id: m.project_id, role: m.role })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::counted_address;

    /// IPv4 addresses are counted one by one; IPv6 ones by their /64, so a host rotating through
    /// its own /64 is one address; an IPv4-mapped IPv6 address counts as the IPv4 one.
    #[test]
    fn addresses_are_counted_by_host_or_by_ipv6_slash_64() {
        let counted = |a: &str| counted_address(a.parse().unwrap());
        assert_eq!(counted("192.0.2.1"), "192.0.2.1");
        assert_eq!(counted("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(counted("2001:db8:1:2:ffff::9"), counted("2001:db8:1:2::1"));
        assert_ne!(counted("2001:db8:1:3::1"), counted("2001:db8:1:2::1"));
        assert_eq!(counted("::ffff:192.0.2.1"), "192.0.2.1");
    }
}
