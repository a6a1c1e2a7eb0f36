//! Login, logout and "who am I" over HTTP (`service::session`). What is HTTP's own stays here: the
//! client's address as the request shows it, and the session cookie (HttpOnly, SameSite=Strict,
//! `Secure` when the API serves TLS) that carries the token the service issued.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api::auth::{Authorized, SESSION_COOKIE};
use crate::api::error::ApiError;
use crate::api::json::ApiJson;
use crate::api::views::{LoginRequest, MeView};
use crate::service::session as service;

/// The client's address: the peer, or, when the peer is a proxy on this host (nginx in front, the
/// default deployment), the last address that proxy appended to `X-Forwarded-For`.
pub(crate) fn client_address(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    if !peer.is_loopback() {
        return Some(peer);
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    Some(forwarded.and_then(|f| f.rsplit(',').next()).and_then(|last| last.trim().parse().ok()).unwrap_or(peer))
}

pub async fn login(
    auth: Authorized,
    req: HttpRequest,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let signed_in = service::login(&auth, body, client_address(&req)).await?;
    let state = auth.state();
    let cookie = Cookie::build(SESSION_COOKIE, signed_in.token.clone())
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(state.auth.session_ttl.as_secs() as i64))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(signed_in))
}

pub async fn logout(auth: Authorized) -> Result<HttpResponse, ApiError> {
    service::logout(&auth).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).same_site(SameSite::Strict).finish();
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}

pub async fn me(auth: Authorized) -> Result<web::Json<MeView>, ApiError> {
    Ok(web::Json(service::me(&auth).await?))
}
