//! Login, logout and "who am I". A login creates a session record (revocable) and a short-lived
//! JWT naming it, returned in the body and as an HttpOnly, SameSite=Strict cookie with a CSRF token.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};
use certautopilot_core::OrgScope;
use certautopilot_core::ids::SessionId;
use certautopilot_core::model::{LoginVerdict, Membership, Session, User};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::api::AppState;
use crate::api::auth::{AuthMethod, Authorized, SESSION_COOKIE};
use crate::api::error::{ApiError, ErrorCode};
use crate::api::json::ApiJson;
use crate::api::views::{LoginRequest, LoginResponse, MeView, MembershipSummary};
use crate::service::credentials::{jwt, random_secret, secret_digest};

/// The client's address: the peer, or, when the peer is a proxy on this host (nginx in front, the
/// default deployment), the last address that proxy appended to `X-Forwarded-For`.
fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Some(forwarded.and_then(|f| f.rsplit(',').next()).and_then(|last| last.trim().parse().ok()).unwrap_or(peer))
}

/// The address failures are counted under: an IPv4 address as it is, an IPv6 one by its /64 (one
/// host commonly holds a whole /64, so counting single addresses would let it rotate for free).
fn counted_address(address: std::net::IpAddr) -> String {
    match address.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        v4 => v4.to_string(),
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(ErrorCode::InvalidCredentials, "e-mail or password is wrong")
}

pub async fn login(
    _auth: Authorized,
    req: HttpRequest,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let email = body.email.trim().to_ascii_lowercase();
    let address = client_address(&req);
    // Before setup nobody can log in; after it, the organization's keys name what is counted.
    let Some(org) = state.organization().await? else { return Err(invalid_credentials()) };
    let keys = org.login_keys.attempt(&email, address.map(counted_address).as_deref());
    // Refusals come only from this address's failures (docs/api.md, "Failed logins"); failures
    // from elsewhere only delay the answer, before the password is checked, so the delay tells
    // nothing about the password.
    match state.store()?.reserve_login_attempt(&keys, &state.login_policy).await? {
        LoginVerdict::Refuse { retry_after } => {
            tracing::warn!(client = ?address, "login refused: too many failed attempts");
            let mut e = ApiError::new(ErrorCode::TooManyRequests, "too many failed logins; try again later");
            e.retry_after = Some(retry_after.as_secs());
            return Err(e);
        }
        LoginVerdict::Proceed { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        LoginVerdict::Proceed { .. } => {}
    }
    let org_ctx = org.clone();
    let org_scope = OrgScope::for_system("login", &org.org);
    let user: Option<User> = state.store()?.find_unique(&org_scope, &email).await.ok();
    // Unknown accounts are verified against a decoy so timing does not tell which e-mails exist.
    // When hashing is saturated this answers 503; the attempt stays counted, like any other.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = state.password_hashing.verify(body.password, stored).await?;
    let user = match user {
        // An account without a password (created by other means) can never log in with one.
        Some(user) if matches && user.password_hash.is_some() && !user.disabled => user,
        other => {
            // The attempt was already counted by `reserve_login_attempt`.
            let user_id = other.map(|u| u.id);
            tracing::warn!(user_id = ?user_id, client = ?address, "login failed");
            let actor = match user_id {
                Some(id) => certautopilot_core::Principal::User(id),
                None => certautopilot_core::Principal::System("anonymous".into()),
            };
            let details =
                serde_json::json!({ "client": address.map(|a| a.to_string()), "known_account": user_id.is_some() });
            let audit = org_ctx.audit(actor, "login.failed", user_id.map(|id| ("user", id.to_string())), None, details);
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
        certautopilot_core::Principal::User(user.id),
        "login.succeeded",
        Some(("session", session.id.to_string())),
        None,
        serde_json::json!({ "client": address.map(|a| a.to_string()) }),
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
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(state.auth.session_ttl.as_secs() as i64))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse { token, expires_at, csrf_token, user: user.into() }))
}

pub async fn logout(auth: Authorized, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = auth.caller()?;
    let AuthMethod::Session { id, .. } = caller.method else {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            "API tokens have no session; revoke them with DELETE /api/v1/auth/tokens/{id}",
        ));
    };
    let scope = caller.org_scope();
    let mut session: Session = state.store()?.get(&scope, &id).await?;
    session.revoked = true;
    let audit = state.org().await?.audit(
        caller.principal(),
        "session.revoked",
        Some(("session", id.to_string())),
        None,
        serde_json::json!({}),
    );
    state.store()?.update_audited(&scope, &session, audit).await?;
    tracing::info!(user_id = %caller.user.id, session_id = %id, "logout");
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).same_site(SameSite::Strict).finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

pub async fn me(auth: Authorized, state: web::Data<AppState>) -> Result<web::Json<MeView>, ApiError> {
    let caller = auth.caller()?;
    let memberships = state
        .store()?
        .list_by_lookup::<Membership>(&caller.org_scope(), &caller.user.id.to_string(), &PageRequest::first(1_000))
        .await?;
    Ok(web::Json(MeView {
        user: caller.user.clone().into(),
        memberships: memberships
            .items
            .into_iter()
            .map(|m| MembershipSummary { project_id: m.project_id, role: m.role })
            .collect(),
    }))
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
