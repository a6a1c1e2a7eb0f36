//! Credentials: login, session tokens and cookies, CSRF, API tokens, and failed-login throttling.
//! Every kind of bad credential is refused with 401 and changes nothing.

use std::time::Duration;

use actix_web::http::Method;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{ApiToken, Project};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::json;

use super::harness::*;
use crate::service::credentials::jwt;

async fn login<S, B>(app: &S, password: &str) -> Resp
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    send(app, Req::new(Method::POST, "/api/v1/auth/login").json(json!({ "email": OWNER_EMAIL, "password": password })))
        .await
}

/// Login returns a working token and an HttpOnly, SameSite=Strict cookie; logout revokes the session
/// so the same token is refused afterwards.
#[actix_web::test]
async fn login_then_logout_revokes_the_session() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    let resp = login(&app, OWNER_PASSWORD).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let token = resp.json["token"].as_str().unwrap().to_owned();
    assert!(!resp.json["csrf_token"].as_str().unwrap().is_empty());
    let cookie = resp.headers.get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"), "{cookie}");
    let me = send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await;
    assert_eq!((me.status.as_u16(), me.json["user"]["email"].as_str()), (200, Some(OWNER_EMAIL)));
    let out = send(&app, Req::new(Method::POST, "/api/v1/auth/logout").bearer(&token)).await;
    assert_eq!(out.status, 204, "{out:?}");
    assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await, 401, "unauthenticated");
    assert_problem(&login(&app, "wrong password!").await, 401, "invalid_credentials");
}

/// Expired, tampered, wrongly signed and made-up tokens are all refused.
#[actix_web::test]
async fn bad_session_tokens_are_refused() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    let token = login(&app, OWNER_PASSWORD).await.json["token"].as_str().unwrap().to_owned();
    let org = h.state.organization().await.unwrap().unwrap();
    let good = jwt::verify(&org.jwt_key, &token, 0).unwrap();

    let expired = jwt::sign(&org.jwt_key, &jwt::Claims { exp: good.iat - 1, ..good.clone() });
    let wrong_key = jwt::sign(&SecretBytes::new(vec![9; 32]), &good);
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let other_session = jwt::sign(
        &org.jwt_key,
        &jwt::Claims { sid: certautopilot_core::ids::SessionId::new().to_string(), ..good.clone() },
    );
    for (what, bad) in [
        ("expired", expired),
        ("wrong key", wrong_key),
        ("tampered", tampered),
        ("unknown session", other_session),
        ("garbage", "not.a.token".to_owned()),
        ("api-token shaped garbage", "cap_x.y".to_owned()),
    ] {
        let resp = send(&app, Req::get("/api/v1/auth/me").bearer(&bad)).await;
        assert_eq!(resp.status, 401, "{what}: {resp:?}");
    }
    // Not even a Bearer scheme.
    let mut req = Req::get("/api/v1/auth/me");
    req.bearer = None;
    let resp = send(&app, req).await;
    assert_problem(&resp, 401, "unauthenticated");
}

/// With the session cookie, reads work but changes need the CSRF token from login; a wrong one is
/// refused and nothing is created.
#[actix_web::test]
async fn cookie_sessions_need_the_csrf_token_to_change_anything() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = login(&app, OWNER_PASSWORD).await;
    let (token, csrf) =
        (resp.json["token"].as_str().unwrap().to_owned(), resp.json["csrf_token"].as_str().unwrap().to_owned());
    let with_cookie = |method: Method, path: &str| {
        let mut r = Req::new(method, path);
        r.cookie = Some(token.clone());
        r
    };
    assert_eq!(send(&app, with_cookie(Method::GET, "/api/v1/projects")).await.status, 200);
    let count =
        || async { h.store.list::<Project>(&w.org_scope, &PageRequest::first(1_000)).await.unwrap().items.len() };
    let before = count().await;
    let resp = send(&app, with_cookie(Method::POST, "/api/v1/projects").json(json!({ "name": "via-cookie" }))).await;
    assert_problem(&resp, 403, "csrf_token_missing");
    let mut wrong = with_cookie(Method::POST, "/api/v1/projects").json(json!({ "name": "via-cookie" }));
    wrong.csrf = Some("not-the-token".into());
    assert_problem(&send(&app, wrong).await, 403, "csrf_token_missing");
    assert_eq!(count().await, before);
    let mut right = with_cookie(Method::POST, "/api/v1/projects").json(json!({ "name": "via-cookie" }));
    right.csrf = Some(csrf);
    assert_eq!(send(&app, right).await.status, 201);
    assert_eq!(count().await, before + 1);
}

/// An API token works until revoked or expired; it is shown once and only its hash is stored.
#[actix_web::test]
async fn api_tokens_are_shown_once_and_stop_working_when_revoked_or_expired() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    // Tokens are minted from a signed-in session only (token_containment.rs).
    let session = session_token(&h, &w.org_scope, w.admin_a.user.as_ref().unwrap()).await;
    let created =
        send(&app, Req::new(Method::POST, "/api/v1/auth/tokens").bearer(&session).json(json!({ "name": "ci" }))).await;
    assert_eq!(created.status, 201, "{created:?}");
    let token = created.json["token"].as_str().unwrap().to_owned();
    let id = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await.status, 200);
    let listed = send(&app, Req::get("/api/v1/auth/tokens").acting_as(&w.admin_a)).await;
    assert!(!listed.text.contains(token.split('.').nth(1).unwrap()), "secret listed: {listed:?}");
    // Someone else cannot revoke it; its owner can.
    let other = send(&app, Req::new(Method::DELETE, format!("/api/v1/auth/tokens/{id}")).acting_as(&w.viewer_a)).await;
    assert_problem(&other, 404, "not_found");
    let revoked = send(&app, Req::new(Method::DELETE, format!("/api/v1/auth/tokens/{id}")).acting_as(&w.admin_a)).await;
    assert_eq!(revoked.status, 204);
    assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await, 401, "unauthenticated");

    // Expired: a token whose expiry has passed.
    let user = w.viewer_a.user.clone().unwrap();
    let stale = api_token(&h, &w.org_scope, &user).await;
    let stale_id: certautopilot_core::ids::ApiTokenId = stale[4..].split('.').next().unwrap().parse().unwrap();
    let mut record: ApiToken = h.store.get(&w.org_scope, &stale_id).await.unwrap();
    record.expires_at = Some(certautopilot_core::Timestamp::now().saturating_sub(Duration::from_secs(1)));
    h.store.update(&w.org_scope, &record).await.unwrap();
    assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(&stale)).await, 401, "unauthenticated");
    // A right id with a wrong secret.
    let forged = format!("{}.{}", stale.split('.').next().unwrap(), "A".repeat(43));
    assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(&forged)).await, 401, "unauthenticated");
    // Lifetimes beyond the maximum are refused.
    let too_long = send(
        &app,
        Req::new(Method::POST, "/api/v1/auth/tokens")
            .bearer(&session)
            .json(json!({ "name": "x", "expires_in_days": 10_000 })),
    )
    .await;
    assert_problem(&too_long, 422, "validation_failed");
}

/// Failed logins for one account from one address are refused there with 429 and Retry-After once
/// over the limit, even with the right password, while other accounts are unaffected (the
/// rightful user from elsewhere: `login_abuse.rs`).
#[actix_web::test]
async fn repeated_failed_logins_are_refused_for_a_while() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    let limit = auth_config().login_lockout_after_per_account_address;
    for _ in 0..limit {
        assert_problem(&login(&app, "not the password").await, 401, "invalid_credentials");
    }
    let locked = login(&app, OWNER_PASSWORD).await;
    assert_problem(&locked, 429, "too_many_requests");
    assert!(locked.headers.get("retry-after").is_some());
    let other = send(
        &app,
        Req::new(Method::POST, "/api/v1/auth/login")
            .json(json!({ "email": "nobody@acme.test", "password": "whatever at all" })),
    )
    .await;
    assert_problem(&other, 401, "invalid_credentials");
}

/// Failed logins are counted in the store: guesses from one address spread over two processes
/// serving one store lock that (account, address) pair for both, and a process started later finds
/// the lock.
#[actix_web::test]
async fn failed_logins_are_counted_across_processes() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let first = app!(h);
    let other = h.second_process().await;
    let second = app!(other);
    let limit = auth_config().login_lockout_after_per_account_address;
    for i in 0..limit {
        let resp = if i % 2 == 0 { login(&first, "not the password").await } else { login(&second, "nope").await };
        assert_problem(&resp, 401, "invalid_credentials");
    }
    for resp in [login(&first, OWNER_PASSWORD).await, login(&second, OWNER_PASSWORD).await] {
        assert_problem(&resp, 429, "too_many_requests");
    }
    // A process started afterwards (as after a restart) finds the lock too.
    let later = h.second_process().await;
    assert_problem(&login(&app!(later), OWNER_PASSWORD).await, 429, "too_many_requests");
    // What was typed as the e-mail is not what the store keeps.
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    let keys: Vec<String> = conn
        .prepare("SELECT key FROM login_failures")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!keys.is_empty() && keys.iter().all(|k| !k.contains('@') && k.len() == 64), "{keys:?}");
}

/// If the store cannot count an attempt, the login is refused, even with the right password: an
/// outage of the count is no way around it. Once it counts again, the owner logs in.
#[actix_web::test]
async fn a_login_that_cannot_be_counted_is_refused() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    let conn = rusqlite::Connection::open(h.dir.path().join("certautopilot.db")).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER no_count BEFORE INSERT ON login_failures BEGIN SELECT RAISE(ABORT, 'cannot count'); END;",
    )
    .unwrap();
    let refused = login(&app, OWNER_PASSWORD).await;
    assert!(refused.status.is_server_error(), "{refused:?}");
    assert!(!refused.text.contains("cannot count"), "internals stay in the log: {refused:?}");
    assert!(refused.headers.get("set-cookie").is_none() && refused.json.get("token").is_none(), "{refused:?}");
    conn.execute_batch("DROP TRIGGER no_count;").unwrap();
    assert_eq!(login(&app, OWNER_PASSWORD).await.status, 200);
}

/// Regression (review finding): an account with no password hash must not log in with the decoy
/// password used to even out timing for unknown accounts.
#[actix_web::test]
async fn accounts_without_a_password_never_log_in() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let user = w.viewer_a.user.clone().unwrap();
    assert!(user.password_hash.is_none());
    for password in ["decoy password that matches nothing", "", "anything at all"] {
        let resp = send(
            &app,
            Req::new(Method::POST, "/api/v1/auth/login").json(json!({ "email": user.email, "password": password })),
        )
        .await;
        assert_problem(&resp, 401, "invalid_credentials");
    }
}

/// Only owners may give a target a reload command (it runs on the service's host).
#[actix_web::test]
async fn reload_commands_are_for_owners_only() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let body = json!({ "project_id": w.a.scope.project_id(), "name": "nginx", "type": "file",
        "config": { "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem", "reload_command": "systemctl reload nginx" } });
    let resp = send(&app, Req::new(Method::POST, "/api/v1/targets").acting_as(&w.admin_a).json(body.clone())).await;
    assert_problem(&resp, 403, "forbidden");
    let resp = send(&app, Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(body)).await;
    assert_eq!(resp.status, 201, "{resp:?}");
}
