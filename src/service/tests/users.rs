//! Users of the organization: owners create, disable and enable them.

use certautopilot_core::ids::UserId;
use certautopilot_core::model::{ApiToken, OrgRole};
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::CreateUser;
use crate::service::users;

fn new_user(email: &str) -> CreateUser {
    CreateUser { email: email.into(), password: "a long enough password".into() }
}

/// An owner creates a member (e-mail lower-cased); an admin may not; a bad e-mail is refused and
/// nobody is created.
#[actix_web::test]
async fn owners_create_users_with_checked_input() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let before = audit_actions(&h, &w).await;
    let by_admin = users::create(&acting(&h, &w.admin_a, "createUser"), new_user("new@acme.test")).await;
    assert_refused(by_admin, ErrorCode::Forbidden, None);
    let owner = acting(&h, &w.owner, "createUser");
    assert_refused(users::create(&owner, new_user("nobody")).await, ErrorCode::ValidationFailed, Some("email"));
    assert_eq!(audit_actions(&h, &w).await, before);
    let created = users::create(&owner, new_user("New@Acme.TEST")).await.unwrap();
    assert_eq!((created.email.as_str(), created.org_role), ("new@acme.test", OrgRole::Member));
}

/// Disabling a user revokes their API token in the same change, enabling lets them in again with
/// the token still revoked; an owner cannot disable themself, and an unknown user is not found.
#[actix_web::test]
async fn disabling_ends_access_and_enabling_does_not_revive_it() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let owner = w.owner.user.as_ref().unwrap().id;
    let viewer = w.viewer_a.user.as_ref().unwrap().id;
    let disable = acting(&h, &w.owner, "disableUser");
    assert_refused(users::disable(&disable, owner).await, ErrorCode::Conflict, None);
    assert_refused(users::disable(&disable, UserId::new()).await, ErrorCode::NotFound, None);
    assert!(users::disable(&disable, viewer).await.unwrap().disabled);
    let AuthMethod::ApiToken(token) = caller_of(&w.viewer_a).unwrap().method else { unreachable!() };
    assert!(h.store.get::<ApiToken>(&w.org_scope, &token).await.unwrap().revoked);
    assert!(!users::enable(&acting(&h, &w.owner, "enableUser"), viewer).await.unwrap().disabled);
    assert!(h.store.get::<ApiToken>(&w.org_scope, &token).await.unwrap().revoked);
}
