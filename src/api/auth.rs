//! Who is calling over HTTP. Every handler takes `Authorized` (the service layer's context): it
//! reads the route's declared policy from the request (registration attaches it as route data),
//! authenticates the caller from a bearer token or the session cookie, and refuses early what the
//! policy forbids (`Authorized::admit`). Project access and the rest of the policy are the
//! service's (`service::authorized`).
//! Invariant: bad credentials are an error, never silently anonymous; a cookie-authenticated change
//! needs the session's CSRF token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};
use certautopilot_core::OrgScope;
use certautopilot_core::ids::{ApiTokenId, SessionId, UserId};
use certautopilot_core::model::{ApiToken, Session, User};
use certautopilot_core::store::RecordStore;

use crate::api::AppState;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::route_spec::Policy;
pub use crate::service::authorized::{AuthMethod, Authorized, Caller};
use crate::service::credentials::{API_TOKEN_PREFIX, digests_equal, jwt, secret_digest};

pub const SESSION_COOKIE: &str = "cap_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

impl FromRequest for Authorized {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("state", &"missing"))?;
            // A route registered without a declared policy is refused, whatever it is.
            let policy =
                req.app_data::<Policy>().copied().ok_or_else(|| ApiError::forbidden("route has no declared policy"))?;
            let caller = match policy {
                Policy::Public => None,
                _ => authenticate(&state, &req).await?,
            };
            Authorized::admit(caller, policy, state)
        })
    }
}

/// Resolves the caller from a bearer token (session JWT or API token) or the session cookie.
/// `Ok(None)`: no credentials at all. Bad credentials are an error, never silently anonymous.
pub async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Option<Caller>, ApiError> {
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    authenticate_presenting(state, req, presented).await
}

/// `authenticate` with the CSRF token the client presented some other way than the header: the
/// web console's forms carry it as a field (`ui::context`). The check is the same: a
/// cookie-authenticated change needs the session's token.
pub async fn authenticate_presenting(
    state: &AppState,
    req: &HttpRequest,
    presented_csrf: Option<&str>,
) -> Result<Option<Caller>, ApiError> {
    let bearer = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(|v| {
            v.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).ok_or_else(ApiError::unauthenticated)
        })
        .transpose()?;
    let (token, via_cookie) = match bearer {
        Some(token) => (token.to_owned(), false),
        None => match req.cookie(SESSION_COOKIE) {
            Some(cookie) => (cookie.value().to_owned(), true),
            None => return Ok(None),
        },
    };
    let Some(org) = state.organization().await? else {
        return Err(ApiError::new(ErrorCode::Unauthenticated, "invalid credentials"));
    };
    let org_scope = OrgScope::for_system("gateway", &org.org);
    let invalid = || ApiError::new(ErrorCode::Unauthenticated, "invalid or expired credentials");
    let now = state.now();

    if let Some(rest) = token.strip_prefix(API_TOKEN_PREFIX).filter(|_| !via_cookie) {
        let (id, secret) = rest.split_once('.').ok_or_else(invalid)?;
        let id: ApiTokenId = id.parse().map_err(|_| invalid())?;
        let stored: ApiToken = state.store()?.get(&org_scope, &id).await.map_err(|_| invalid())?;
        let expired = stored.expires_at.is_some_and(|at| at <= now);
        if stored.revoked || expired || !digests_equal(&secret_digest(secret), &stored.secret_sha256) {
            return Err(invalid());
        }
        let user = active_user(state, &org_scope, stored.user_id).await.ok_or_else(invalid)?;
        return Ok(Some(Caller { user, method: AuthMethod::ApiToken(id) }));
    }

    let claims = jwt::verify(&org.jwt_key, &token, now.as_unix_millis() / 1_000).map_err(|_| invalid())?;
    let session_id: SessionId = claims.sid.parse().map_err(|_| invalid())?;
    let session: Session = state.store()?.get(&org_scope, &session_id).await.map_err(|_| invalid())?;
    if session.revoked || session.expires_at <= now || session.user_id.to_string() != claims.sub {
        return Err(invalid());
    }
    if via_cookie && !is_safe(req.method()) {
        let presented = presented_csrf.unwrap_or("");
        if presented.is_empty() || !digests_equal(&secret_digest(presented), &session.csrf_token_sha256) {
            return Err(ApiError::new(
                ErrorCode::CsrfTokenMissing,
                format!("cookie-authenticated changes need the {CSRF_HEADER} header from login"),
            ));
        }
    }
    let user = active_user(state, &org_scope, session.user_id).await.ok_or_else(invalid)?;
    Ok(Some(Caller { user, method: AuthMethod::Session { id: session_id, via_cookie } }))
}

async fn active_user(state: &AppState, org_scope: &OrgScope, id: UserId) -> Option<User> {
    let user: User = state.store().ok()?.get(org_scope, &id).await.ok()?;
    (!user.disabled).then_some(user)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}
