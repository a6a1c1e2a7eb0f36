//! GraphQL over HTTP authenticates exactly like REST: a session cookie works for reads, but a
//! cookie-authenticated POST needs the CSRF token from login (GraphQL is no way around it), bad
//! credentials are 401, and the body is read under REST's rules (JSON only).

use actix_web::http::Method;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::first_code;
use crate::api::tests::harness::*;

const QUERY: &str = "{ me { user { email } } }";

/// A cookie session: GET reads without the CSRF header; POST needs it (403 `csrf_token_missing`
/// without it or with a wrong one, in the GraphQL error's code and the HTTP status), and answers
/// with it; a mutation without it changes nothing.
#[actix_rt::test]
async fn cookie_posts_need_the_csrf_token() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let login =
        Req::new(Method::POST, "/api/v1/auth/login").json(json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD }));
    let resp = send(&app, login).await;
    let (token, csrf) =
        (resp.json["token"].as_str().unwrap().to_owned(), resp.json["csrf_token"].as_str().unwrap().to_owned());
    let with_cookie = |req: Req| Req { cookie: Some(token.clone()), ..req };

    let get = with_cookie(Req::get("/api/graphql?query=%7B%20me%20%7B%20user%20%7B%20email%20%7D%20%7D%20%7D"));
    let resp = send(&app, get).await;
    assert_eq!(resp.json["data"]["me"]["user"]["email"], json!(OWNER_EMAIL), "{resp:?}");

    let body = json!({ "query": QUERY });
    let bare = with_cookie(Req::new(Method::POST, "/api/graphql").json(body.clone()));
    let resp = send(&app, bare).await;
    assert_eq!(resp.status.as_u16(), 403, "{resp:?}");
    assert_eq!(first_code(&resp).as_deref(), Some("csrf_token_missing"));
    assert!(resp.json["data"].is_null(), "{resp:?}");
    let wrong = Req {
        csrf: Some("not-the-token".into()),
        ..with_cookie(Req::new(Method::POST, "/api/graphql").json(body.clone()))
    };
    assert_eq!(send(&app, wrong).await.status.as_u16(), 403);
    let right = Req { csrf: Some(csrf.clone()), ..with_cookie(Req::new(Method::POST, "/api/graphql").json(body)) };
    let resp = send(&app, right).await;
    assert_eq!(resp.json["data"]["me"]["user"]["email"], json!(OWNER_EMAIL), "{resp:?}");

    // A mutation is what CSRF protects: refused without the header (nothing created), done with it.
    let projects = || async {
        let page = certautopilot_core::store::PageRequest::first(100);
        h.store.list::<certautopilot_core::model::Project>(&w.org_scope, &page).await.unwrap().items.len()
    };
    let before = projects().await;
    let create = json!({ "query": "mutation { createProject(input: { name: \"by-cookie\" }) { name } }" });
    let bare = with_cookie(Req::new(Method::POST, "/api/graphql").json(create.clone()));
    let resp = send(&app, bare).await;
    assert_eq!((resp.status.as_u16(), first_code(&resp).as_deref()), (403, Some("csrf_token_missing")), "{resp:?}");
    assert_eq!(projects().await, before, "a mutation without the CSRF header created a project");
    let right = Req { csrf: Some(csrf), ..with_cookie(Req::new(Method::POST, "/api/graphql").json(create)) };
    let resp = send(&app, right).await;
    assert_eq!(resp.json["data"]["createProject"]["name"], json!("by-cookie"), "{resp:?}");
    assert_eq!(projects().await, before + 1);
}

/// A bad bearer token is 401 `unauthenticated`; no credentials at all reach the fields, which
/// answer `unauthenticated` each; a body that is not JSON is REST's 415.
#[actix_rt::test]
async fn credentials_and_bodies_are_checked_like_rest() {
    let h = Harness::new().await;
    let _w = world(&h).await;
    let app = app!(h);
    let bad = Req::new(Method::POST, "/api/graphql").bearer("cap_nope.nope").json(json!({ "query": QUERY }));
    let resp = send(&app, bad).await;
    assert_eq!(resp.status.as_u16(), 401, "{resp:?}");
    assert_eq!(first_code(&resp).as_deref(), Some("unauthenticated"));
    let anonymous = send(&app, Req::new(Method::POST, "/api/graphql").json(json!({ "query": QUERY }))).await;
    assert_eq!(anonymous.status.as_u16(), 200);
    assert_eq!(first_code(&anonymous).as_deref(), Some("unauthenticated"));
    let text = Req::new(Method::POST, "/api/graphql").raw("text/plain", QUERY);
    assert_problem(&send(&app, text).await, 415, "unsupported_media_type");
    let put = Req::new(Method::PUT, "/api/graphql").json(json!({ "query": QUERY }));
    assert_problem(&send(&app, put).await, 405, "method_not_allowed");
}
