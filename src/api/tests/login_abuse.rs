//! Abuse of the login route (issue 14, items 3 and 4), through the real application: guesses from
//! many addresses slow an account down but never lock its owner out; one address guessing one
//! account, or many, is refused; saturated password hashing answers 503 with Retry-After.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test;
use serde_json::{Value, json};

use crate::api::tests::harness::*;

/// A login for `email` from `peer` (an IP address; the harness's default peer is not used, so
/// each test picks its attacker's and its owner's addresses).
async fn login_from<S, B>(app: &S, peer: &str, email: &str, password: &str) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let request = test::TestRequest::post()
        .uri("/api/v1/auth/login")
        .peer_addr(format!("{peer}:40000").parse().unwrap())
        .insert_header(("content-type", "application/json"))
        .set_payload(json!({ "email": email, "password": password }).to_string())
        .to_request();
    let response = test::call_service(app, request).await;
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = test::read_body(response).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp { status, headers, text, json }
}

fn assert_refused_for_a_while(resp: &Resp) {
    assert_problem(resp, 429, "too_many_requests");
    let retry_after: u64 = resp.headers.get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap();
    assert_eq!(retry_after, auth_config().login_lockout.as_secs(), "{resp:?}");
}

/// The attack of the review: ten wrong passwords from ten addresses, then many from one. The ten
/// are each answered 401 (no address reached a limit), the one address is refused with 429 once
/// it reaches the per-(account, address) limit, even with the right password; and through all of
/// it the owner, from an address that has not been failing, logs in with the right password.
#[actix_web::test]
async fn guesses_from_many_addresses_never_lock_out_the_owner() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    for i in 0..10 {
        let resp = login_from(&app, &format!("198.51.100.{i}"), OWNER_EMAIL, "not the password").await;
        assert_problem(&resp, 401, "invalid_credentials");
    }
    let owner = login_from(&app, "192.0.2.200", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(owner.status, 200, "ten addresses guessing must not lock the owner out: {owner:?}");

    let attacker = "203.0.113.66";
    for _ in 0..auth_config().login_lockout_after_per_account_address {
        assert_problem(&login_from(&app, attacker, OWNER_EMAIL, "still not it").await, 401, "invalid_credentials");
    }
    assert_refused_for_a_while(&login_from(&app, attacker, OWNER_EMAIL, "still not it").await);
    assert_refused_for_a_while(&login_from(&app, attacker, OWNER_EMAIL, OWNER_PASSWORD).await);
    let owner = login_from(&app, "192.0.2.201", OWNER_EMAIL, OWNER_PASSWORD).await;
    assert_eq!(owner.status, 200, "the attacker's lock is theirs alone: {owner:?}");
    assert!(owner.json["token"].is_string(), "{owner:?}");
}

/// A locked (account, address) pair stays locked when the owner logs in from elsewhere (a success
/// clears only its own pair), while the same address may still try another account: the pair's
/// lock is not the address's.
#[actix_web::test]
async fn a_locked_pair_stays_locked_when_the_owner_logs_in_elsewhere() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let attacker = "203.0.113.7";
    for _ in 0..auth_config().login_lockout_after_per_account_address {
        login_from(&app, attacker, OWNER_EMAIL, "a wrong guess").await;
    }
    assert_refused_for_a_while(&login_from(&app, attacker, OWNER_EMAIL, OWNER_PASSWORD).await);
    assert_eq!(login_from(&app, "192.0.2.50", OWNER_EMAIL, OWNER_PASSWORD).await.status, 200);
    assert_refused_for_a_while(&login_from(&app, attacker, OWNER_EMAIL, OWNER_PASSWORD).await);
    let other_account = w.admin_a.user.as_ref().unwrap().email.clone();
    let resp = login_from(&app, attacker, &other_account, "a wrong guess").await;
    assert_problem(&resp, 401, "invalid_credentials");
}

/// One address trying many accounts is refused for every account once it reaches the per-address
/// limit, the owner's included; the owner elsewhere is not affected.
#[actix_web::test]
async fn an_address_trying_many_accounts_is_refused_for_all() {
    let per_address = 6;
    let h = Harness::with_auth(certautopilot_config::AuthConfig {
        login_lockout_after_per_account_address: 3,
        login_lockout_after_per_address: per_address,
        ..auth_config()
    })
    .await;
    let _w = world(&h).await;
    let app = app!(h);
    let sprayer = "203.0.113.99";
    for i in 0..per_address {
        let resp = login_from(&app, sprayer, &format!("user{i}@acme.test"), "password123456").await;
        assert_problem(&resp, 401, "invalid_credentials");
    }
    assert_problem(&login_from(&app, sprayer, OWNER_EMAIL, OWNER_PASSWORD).await, 429, "too_many_requests");
    assert_eq!(login_from(&app, "192.0.2.60", OWNER_EMAIL, OWNER_PASSWORD).await.status, 200);
}

/// When every password-hashing slot is taken (what a flood of logins does), further logins wait
/// the configured time and are answered 503 `service_unavailable` with Retry-After, never 500,
/// while /healthz keeps answering; once the slots free, the owner logs in. The slots are taken
/// directly, so the test proves the behaviour without racing a real flood (the binary's flood:
/// tests/cli/login_flood.rs).
#[actix_web::test]
async fn logins_beyond_the_hashing_slots_get_503_with_retry_after() {
    let h = Harness::with_auth(certautopilot_config::AuthConfig {
        password_hash_concurrency: 2,
        password_hash_wait: Duration::from_millis(50),
        ..auth_config()
    })
    .await;
    let _w = world(&h).await;
    let app = app!(h);
    let held = h.state.password_hashing.occupy_every_slot().await;
    let flood = (0..20).map(|i| {
        let app = &app;
        async move { login_from(app, &format!("198.51.100.{i}"), &format!("x{i}@acme.test"), "guess guess guess").await }
    });
    let answers = join_all(flood).await;
    for resp in &answers {
        assert_problem(resp, 503, "service_unavailable");
        assert_eq!(resp.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{resp:?}");
    }
    let health = send(&app, Req::get("/healthz")).await;
    assert_eq!(health.status, 200, "{health:?}");
    drop(held);
    assert_eq!(login_from(&app, "192.0.2.70", OWNER_EMAIL, OWNER_PASSWORD).await.status, 200);
}

/// Polls the futures together in this task (the test service cannot move between tasks).
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in pinned.iter_mut().zip(outputs.iter_mut()).filter(|(_, out)| out.is_none()) {
            match fut.as_mut().poll(cx) {
                std::task::Poll::Ready(done) => *out = Some(done),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.expect("every future finished")).collect()
}
