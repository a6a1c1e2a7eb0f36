//! Project members: admins give and take roles in their own project.

use certautopilot_core::ids::UserId;
use certautopilot_core::model::{OrgRole, Role, User};
use certautopilot_core::store::RecordStore;

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::{AddMember, UpdateMember};
use crate::service::members;

/// An admin adds a user to their project and removes them again; an operator may not add; the
/// other project answers not found.
#[actix_web::test]
async fn admins_add_and_remove_members_of_their_project() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let user = User::new(w.org.id, "new@acme.test", OrgRole::Member, Timestamp::now());
    h.store.insert(&w.org_scope, &user).await.unwrap();
    let (a, b) = (w.a.scope.project_id(), w.b.scope.project_id());
    let add = |role| AddMember { user_id: user.id, role };
    let by_operator = members::add(&acting(&h, &w.operator_a, "addMember"), a, add(Role::Viewer)).await;
    assert_refused(by_operator, ErrorCode::Forbidden, None);
    let admin = acting(&h, &w.admin_a, "addMember");
    assert_refused(members::add(&admin, b, add(Role::Viewer)).await, ErrorCode::NotFound, None);
    let added = members::add(&admin, a, add(Role::Operator)).await.unwrap();
    assert_eq!((added.user_id, added.role), (user.id, Role::Operator));
    let listed = members::list(&acting(&h, &w.viewer_a, "listMembers"), a).await.unwrap();
    assert!(listed.items.iter().any(|m| m.user_id == user.id));
    members::remove(&acting(&h, &w.admin_a, "removeMember"), a, user.id).await.unwrap();
    let listed = members::list(&acting(&h, &w.viewer_a, "listMembers"), a).await.unwrap();
    assert!(listed.items.iter().all(|m| m.user_id != user.id));
}

/// The owner role, an owner, and an unknown user are each refused naming the field; nothing changes.
#[actix_web::test]
async fn bad_memberships_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let a = w.a.scope.project_id();
    let admin = acting(&h, &w.admin_a, "addMember");
    let before = audit_actions(&h, &w).await;
    let viewer = w.viewer_a.user.as_ref().unwrap().id;
    let owner = w.owner.user.as_ref().unwrap().id;
    for (input, field) in [
        (AddMember { user_id: viewer, role: Role::Owner }, "role"),
        (AddMember { user_id: owner, role: Role::Admin }, "user_id"),
        (AddMember { user_id: UserId::new(), role: Role::Viewer }, "user_id"),
    ] {
        assert_refused(members::add(&admin, a, input).await, ErrorCode::ValidationFailed, Some(field));
    }
    assert_eq!(audit_actions(&h, &w).await, before);
}

/// An admin changes a member's role: the new role is stored and decides what the member may do,
/// and one `member.updated` entry is written. An operator may not change roles, the owner role
/// and a user who is not a member are refused, the other project answers not found, and the same
/// role again writes nothing.
#[actix_web::test]
async fn admins_change_a_members_role_and_refusals_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let (a, b) = (w.a.scope.project_id(), w.b.scope.project_id());
    let viewer = w.viewer_a.user.as_ref().unwrap().id;
    let to = |role| UpdateMember { role };
    let admin = acting(&h, &w.admin_a, "updateMember");
    let before = audit_actions(&h, &w).await;
    let by_operator = members::update(&acting(&h, &w.operator_a, "updateMember"), a, viewer, to(Role::Admin)).await;
    assert_refused(by_operator, ErrorCode::Forbidden, None);
    assert_refused(
        members::update(&admin, a, viewer, to(Role::Owner)).await,
        ErrorCode::ValidationFailed,
        Some("role"),
    );
    assert_refused(members::update(&admin, a, UserId::new(), to(Role::Viewer)).await, ErrorCode::NotFound, None);
    assert_refused(members::update(&admin, b, viewer, to(Role::Operator)).await, ErrorCode::NotFound, None);
    let same = members::update(&admin, a, viewer, to(Role::Viewer)).await.unwrap();
    assert_eq!(same.role, Role::Viewer);
    assert_eq!(audit_actions(&h, &w).await, before, "refusals and a no-op write nothing");

    let changed = members::update(&admin, a, viewer, to(Role::Operator)).await.unwrap();
    assert_eq!((changed.user_id, changed.role), (viewer, Role::Operator));
    let listed = members::list(&acting(&h, &w.viewer_a, "listMembers"), a).await.unwrap();
    assert!(listed.items.iter().any(|m| m.user_id == viewer && m.role == Role::Operator));
    let after = audit_actions(&h, &w).await;
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.iter().any(|action| action == "member.updated"), "{after:?}");
}
