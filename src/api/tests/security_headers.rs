//! Issue M2.1 item 8: every answer carries the headers that keep browsers from sniffing, framing,
//! caching or leaking a referrer; nothing of the request (path, method) is echoed in errors.

use actix_web::http::Method;
use serde_json::json;

use super::harness::*;

/// Login (which returns a token and a CSRF value), an authenticated read, an error, an unknown path
/// and a made-up method all carry the security headers; the 404 and 405 bodies do not repeat what
/// was sent.
#[actix_web::test]
async fn every_answer_carries_the_security_headers_and_echoes_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let login = send(
        &app,
        Req::new(Method::POST, "/api/v1/auth/login").json(json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD })),
    )
    .await;
    assert_eq!(login.status, 200, "{login:?}");
    let me = send(&app, Req::get("/api/v1/auth/me").acting_as(&w.owner)).await;
    let unauthenticated = send(&app, Req::get("/api/v1/auth/me")).await;
    let unknown = send(&app, Req::get("/api/v1/no-such-thing/%3Cscript%3Ealert(1)%3C%2Fscript%3E")).await;
    let method = send(&app, Req::new(Method::from_bytes(b"HUNTER2").unwrap(), "/api/v1/projects")).await;
    let probe = send(&app, Req::get("/healthz")).await;
    for (what, resp) in [
        ("login", &login),
        ("me", &me),
        ("401", &unauthenticated),
        ("404", &unknown),
        ("405", &method),
        ("healthz", &probe),
    ] {
        let header = |name: &str| resp.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(header("cache-control"), "no-store", "{what}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{what}");
        assert!(resp.headers.get("strict-transport-security").is_none(), "{what}: no HSTS over plain HTTP");
    }
    assert_eq!(unknown.status, 404);
    assert!(!unknown.text.contains("script") && !unknown.text.contains("no-such-thing"), "{}", unknown.text);
    assert_eq!(method.status, 405);
    assert!(!method.text.contains("HUNTER2"), "{}", method.text);
}
