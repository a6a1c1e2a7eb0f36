//! API tokens: minted by a signed-in session only, revoked by their user or an owner.

use certautopilot_core::ids::ApiTokenId;
use certautopilot_core::model::ApiToken;
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::CreateApiToken;
use crate::service::tokens;

fn token_id(who: &Who) -> ApiTokenId {
    match caller_of(who).unwrap().method {
        AuthMethod::ApiToken(id) => id,
        other => panic!("{other:?}"),
    }
}

/// A signed-in admin mints a token (shown once, `cap_<id>.<secret>`), which their list then shows;
/// a token cannot mint tokens, and a bad lifetime is refused; neither changes anything.
#[actix_web::test]
async fn a_session_mints_tokens_and_a_token_cannot() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let input = || CreateApiToken { name: "ci".into(), expires_in_days: Some(30) };
    let by_token = tokens::create(&acting(&h, &w.admin_a, "createApiToken"), input()).await;
    assert_refused(by_token, ErrorCode::Forbidden, None);
    let session = context(&h.state, Some(signed_in(&h, &w, &w.admin_a).await), "createApiToken");
    let forever = CreateApiToken { name: "ci".into(), expires_in_days: Some(0) };
    assert_refused(tokens::create(&session, forever).await, ErrorCode::ValidationFailed, Some("expires_in_days"));
    assert_eq!(audit_actions(&h, &w).await, before);

    let created = tokens::create(&session, input()).await.unwrap();
    assert!(created.token.starts_with(&format!("{API_TOKEN_PREFIX}{}.", created.id)));
    let listed = tokens::list(&acting(&h, &w.admin_a, "listApiTokens"), Default::default()).await.unwrap();
    assert!(listed.items.iter().any(|t| t.id == created.id && t.name == "ci"));
}

/// Another user's token reads as not found for a member and stays live; an owner revokes it; a
/// member cannot list another user's tokens at all.
#[actix_web::test]
async fn only_owners_reach_other_users_tokens() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let theirs = token_id(&w.admin_a);
    let by_member = tokens::revoke(&acting(&h, &w.viewer_a, "revokeApiToken"), theirs).await;
    assert_refused(by_member, ErrorCode::NotFound, None);
    assert!(!h.store.get::<ApiToken>(&w.org_scope, &theirs).await.unwrap().revoked);
    let user = w.admin_a.user.as_ref().unwrap().id;
    let listing = tokens::list_for_user(&acting(&h, &w.admin_a, "listUserApiTokens"), user, Default::default()).await;
    assert_refused(listing, ErrorCode::Forbidden, None);
    tokens::revoke(&acting(&h, &w.owner, "revokeApiToken"), theirs).await.unwrap();
    assert!(h.store.get::<ApiToken>(&w.org_scope, &theirs).await.unwrap().revoked);
}
