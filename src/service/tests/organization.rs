//! The organization's ownership: handed over with fresh proof of identity, to an active user only,
//! one owner at all times even when two transfers race from two processes, and the old owner's
//! credentials lose the owner's powers with the commit.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::{SessionId, UserId};
use certautopilot_core::model::{Membership, OrgRole, Role, Session, User};
use certautopilot_core::store::{PageRequest, RecordStore};

use super::*;
use crate::api::tests::harness::{OWNER_PASSWORD, Req, api_token, app, send, world};
use crate::api::views::{AddMember, CreateUser, TransferOwnership};
use crate::service::{members, organization, users};

const PASSWORD: &str = "the next owner's long password";

async fn new_user(h: &Harness, w: &World, email: &str) -> User {
    let created = users::create(
        &acting(h, &w.owner, "createUser"),
        CreateUser { email: email.into(), password: PASSWORD.into() },
    )
    .await
    .unwrap();
    h.store.get(&w.org_scope, &created.id).await.unwrap()
}

fn transfer(to: UserId, password: Option<&str>) -> TransferOwnership {
    TransferOwnership { user_id: to, password: password.map(str::to_owned) }
}

async fn owners(h: &Harness, w: &World) -> Vec<UserId> {
    let all = h.store.list::<User>(&w.org_scope, &PageRequest::first(1_000)).await.unwrap().items;
    all.into_iter().filter(|u| u.org_role == OrgRole::Owner).map(|u| u.id).collect()
}

/// With the password re-entered, the owner hands over: the next owner is the one owner, the old
/// one an ordinary user (as far as every request is concerned, at once: its API token now lists no
/// users), the new owner's membership is gone, and the chain holds `org.owner_transferred`.
#[actix_web::test]
async fn the_owner_hands_over_and_loses_the_owners_powers_at_once() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let next = new_user(&h, &w, "next@acme.test").await;
    let a = w.a.scope.project_id();
    members::add(&acting(&h, &w.admin_a, "addMember"), a, AddMember { user_id: next.id, role: Role::Viewer })
        .await
        .unwrap();
    let old_owner = w.owner.user.as_ref().unwrap().id;
    assert_eq!(send(&app, Req::get("/api/v1/users").acting_as(&w.owner)).await.status, 200);

    let done = organization::transfer_owner(
        &acting(&h, &w.owner, "transferOwnership"),
        transfer(next.id, Some(OWNER_PASSWORD)),
    )
    .await
    .unwrap();
    assert_eq!((done.owner.id, done.owner.org_role), (next.id, OrgRole::Owner));
    assert_eq!((done.previous_owner.id, done.previous_owner.org_role), (old_owner, OrgRole::Member));
    assert_eq!(owners(&h, &w).await, vec![next.id]);
    assert!(
        h.store
            .find_unique::<Membership>(&w.org_scope, &certautopilot_core::store::membership_key(a, next.id))
            .await
            .is_err()
    );

    // The old owner's token is still valid, but its user is an ordinary one now.
    assert_eq!(send(&app, Req::get("/api/v1/users").acting_as(&w.owner)).await.status, 403);
    let next_token = api_token(&h, &w.org_scope, &h.store.get(&w.org_scope, &next.id).await.unwrap()).await;
    assert_eq!(send(&app, Req::get("/api/v1/users").bearer(&next_token)).await.status, 200);
    let shown = send(&app, Req::get("/api/v1/organization").acting_as(&w.viewer_a)).await;
    assert_eq!(shown.json["owner"]["id"], serde_json::json!(next.id));

    let actions = audit_actions(&h, &w).await;
    let tail: Vec<&str> = actions.iter().rev().take(2).rev().map(String::as_str).collect();
    assert_eq!(tail, ["org.owner_transferred", "member.removed"]);
    // The owner cannot be disabled: not by themself, and nobody else can disable anyone.
    let new_owner = h.store.get::<User>(&w.org_scope, &next.id).await.unwrap();
    let as_new_owner =
        Caller { user: new_owner, method: AuthMethod::ApiToken(certautopilot_core::ids::ApiTokenId::new()) };
    let by_new_owner = users::disable(&context(&h.state, Some(as_new_owner), "disableUser"), next.id).await;
    assert_refused(by_new_owner, ErrorCode::Conflict, None);
}

/// Without the password, only a session signed in within `auth.reauth_window_secs` proves it is
/// the owner: an API token alone, an older session and a wrong password are refused
/// (`reauthentication_required`) and change nothing; a fresh session transfers.
#[actix_web::test]
async fn a_transfer_needs_fresh_proof_of_identity() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let next = new_user(&h, &w, "next@acme.test").await;
    let before = audit_actions(&h, &w).await;
    let token = acting(&h, &w.owner, "transferOwnership");
    for password in [None, Some("not the password at all")] {
        let refused = organization::transfer_owner(&token, transfer(next.id, password)).await;
        assert_refused(refused, ErrorCode::ReauthenticationRequired, None);
    }
    let owner = w.owner.user.clone().unwrap();
    let now = Timestamp::now();
    let old = Session {
        id: SessionId::new(),
        org_id: owner.org_id,
        user_id: owner.id,
        csrf_token_sha256: String::new(),
        expires_at: now.saturating_add(std::time::Duration::from_secs(3_600)),
        revoked: false,
        created_at: Timestamp::from_unix_millis(now.as_unix_millis() - 301_000),
        updated_at: now,
        version: 1,
    };
    h.store.insert(&w.org_scope, &old).await.unwrap();
    let stale = Caller { user: owner.clone(), method: AuthMethod::Session { id: old.id, via_cookie: false } };
    let refused =
        organization::transfer_owner(&context(&h.state, Some(stale), "transferOwnership"), transfer(next.id, None))
            .await;
    let error = assert_refused(refused, ErrorCode::ReauthenticationRequired, None);
    assert!(error.detail.contains("password"), "{}", error.detail);
    assert_eq!(audit_actions(&h, &w).await, before, "refusals change nothing");
    assert_eq!(owners(&h, &w).await, vec![owner.id]);

    let fresh = signed_in(&h, &w, &w.owner).await;
    organization::transfer_owner(&context(&h.state, Some(fresh), "transferOwnership"), transfer(next.id, None))
        .await
        .unwrap();
    assert_eq!(owners(&h, &w).await, vec![next.id]);
}

/// An unknown user and a disabled one are refused naming `user_id`, the owner themself as a
/// conflict; an admin
/// is refused by the policy; nothing changes.
#[actix_web::test]
async fn transfers_to_nobody_a_disabled_user_or_oneself_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let disabled = new_user(&h, &w, "gone@acme.test").await;
    users::disable(&acting(&h, &w.owner, "disableUser"), disabled.id).await.unwrap();
    let before = audit_actions(&h, &w).await;
    let owner = acting(&h, &w.owner, "transferOwnership");
    let me = w.owner.user.as_ref().unwrap().id;
    for to in [UserId::new(), disabled.id] {
        let refused = organization::transfer_owner(&owner, transfer(to, Some(OWNER_PASSWORD))).await;
        assert_refused(refused, ErrorCode::ValidationFailed, Some("user_id"));
    }
    assert_refused(
        organization::transfer_owner(&owner, transfer(me, Some(OWNER_PASSWORD))).await,
        ErrorCode::Conflict,
        None,
    );
    let admin = w.admin_a.user.as_ref().unwrap().id;
    let by_admin = organization::transfer_owner(
        &acting(&h, &w.admin_a, "transferOwnership"),
        transfer(admin, Some(OWNER_PASSWORD)),
    )
    .await;
    assert_refused(by_admin, ErrorCode::Forbidden, None);
    assert_eq!(audit_actions(&h, &w).await, before);
    assert_eq!(owners(&h, &w).await, vec![me]);
}

/// Two transfers at once, from two processes sharing the store, to two different users: exactly
/// one commits, the other is told the owner changed, and there is exactly one owner.
#[actix_web::test]
async fn racing_transfers_from_two_processes_leave_one_owner() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let other = h.second_process().await;
    let (x, y) = (new_user(&h, &w, "x@acme.test").await, new_user(&h, &w, "y@acme.test").await);
    let here = acting(&h, &w.owner, "transferOwnership");
    let there = context(&other.state, caller_of(&w.owner), "transferOwnership");
    let (first, second) = tokio::join!(
        organization::transfer_owner(&here, transfer(x.id, Some(OWNER_PASSWORD))),
        organization::transfer_owner(&there, transfer(y.id, Some(OWNER_PASSWORD))),
    );
    let won: Vec<UserId> = [&first, &second].iter().filter_map(|r| r.as_ref().ok().map(|d| d.owner.id)).collect();
    assert_eq!(won.len(), 1, "{first:?} {second:?}");
    let lost = if first.is_err() { first } else { second };
    assert_refused(lost, ErrorCode::Conflict, None);
    assert_eq!(owners(&h, &w).await, won);
}
