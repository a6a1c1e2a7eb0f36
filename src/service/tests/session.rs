//! Signing in and out, and "who am I", without HTTP.

use certautopilot_core::model::Session;
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::{OWNER_EMAIL, OWNER_PASSWORD, world};
use crate::api::views::LoginRequest;
use crate::service::session;

fn login_request(password: &str) -> LoginRequest {
    LoginRequest { email: OWNER_EMAIL.to_uppercase(), password: password.into() }
}

/// The owner's password gives a session JWT and a CSRF token, and records `login.succeeded`; a
/// wrong one is `invalid_credentials` and records `login.failed` only.
#[actix_web::test]
async fn a_login_opens_a_session_and_a_wrong_password_opens_none() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let client = Some("192.0.2.7".parse().unwrap());
    let auth = context(&h.state, None, "login");
    let before = audit_actions(&h, &w).await;
    let wrong = session::login(&auth, login_request("not the password"), client).await;
    assert_refused(wrong, ErrorCode::InvalidCredentials, None);
    assert_eq!(audit_actions(&h, &w).await[before.len()..], ["login.failed".to_owned()]);
    let signed_in = session::login(&auth, login_request(OWNER_PASSWORD), client).await.unwrap();
    assert_eq!(signed_in.user.email, OWNER_EMAIL);
    assert!(signed_in.token.contains('.') && !signed_in.csrf_token.is_empty());
    assert_eq!(audit_actions(&h, &w).await.last().map(String::as_str), Some("login.succeeded"));
}

/// Logging out revokes the caller's own session; a caller with an API token has none to end and
/// is refused, changing nothing.
#[actix_web::test]
async fn logout_ends_a_session_and_refuses_an_api_token() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let by_token = session::logout(&acting(&h, &w.viewer_a, "logout")).await;
    assert_refused(by_token, ErrorCode::BadRequest, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    let caller = signed_in(&h, &w, &w.viewer_a).await;
    let AuthMethod::Session { id, .. } = caller.method else { unreachable!() };
    session::logout(&context(&h.state, Some(caller), "logout")).await.unwrap();
    let stored: Session = h.store.get(&w.org_scope, &id).await.unwrap();
    assert!(stored.revoked);
}

/// "Who am I" lists the caller's own memberships only; without a caller it is refused.
#[actix_web::test]
async fn me_lists_the_callers_own_memberships() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let me = session::me(&acting(&h, &w.viewer_a, "me")).await.unwrap();
    assert_eq!(me.user.id, w.viewer_a.user.as_ref().unwrap().id);
    let projects: Vec<_> = me.memberships.iter().map(|m| (m.project_id, m.role)).collect();
    assert_eq!(projects, [(w.a.scope.project_id(), certautopilot_core::model::Role::Viewer)]);
    assert_refused(session::me(&acting(&h, &w.anonymous, "me")).await, ErrorCode::Unauthenticated, None);
}
