//! Issue 14, items 9 and 10: containing API tokens and users. A token cannot mint tokens, owners
//! list and revoke anyone's tokens, disabling a user ends their session and tokens at once, the
//! owner cannot be made a project member, and decoding errors never echo what was sent.

use actix_web::http::Method;
use certautopilot_core::ids::ApiTokenId;
use certautopilot_core::model::{ApiToken, Membership, Session, User};
use certautopilot_core::store::{PageRequest, RecordStore, membership_key, prelude::*};
use serde_json::{Value, json};

use super::harness::*;

fn token_id(token: &str) -> ApiTokenId {
    token.trim_start_matches("cap_").split('.').next().unwrap().parse().unwrap()
}

async fn tokens_of(h: &Harness, w: &World, user: &User) -> Vec<ApiToken> {
    h.store
        .list_by_lookup::<ApiToken>(&w.org_scope, &user.id.to_string(), &PageRequest::first(1_000))
        .await
        .unwrap()
        .items
}

/// The audit events with `action`, read as the owner (the route flushes the chain first).
async fn audit_events<S, B>(app: &S, w: &World, action: &str) -> Vec<Value>
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    let resp = send(app, Req::get(format!("/api/v1/audit/events?action={action}")).acting_as(&w.owner)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    resp.json["items"].as_array().unwrap().clone()
}

/// The attack of the review: a stolen API token mints a successor that survives its revocation.
/// The mint is refused with 403 and a message that says how tokens are made, and no token record
/// is added; the same user's signed-in session still creates one.
#[actix_web::test]
async fn a_token_cannot_mint_a_token_and_nothing_is_created() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let user = w.admin_a.user.clone().unwrap();
    let before = tokens_of(&h, &w, &user).await.len();
    let minted = send(
        &app,
        Req::new(Method::POST, "/api/v1/auth/tokens").acting_as(&w.admin_a).json(json!({ "name": "child" })),
    )
    .await;
    assert_problem(&minted, 403, "forbidden");
    assert!(minted.json["detail"].as_str().unwrap().contains("sign in"), "{minted:?}");
    assert_eq!(tokens_of(&h, &w, &user).await.len(), before, "a token minted a token");

    let session = session_token(&h, &w.org_scope, &user).await;
    let created =
        send(&app, Req::new(Method::POST, "/api/v1/auth/tokens").bearer(&session).json(json!({ "name": "ci" }))).await;
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(tokens_of(&h, &w, &user).await.len(), before + 1);
}

/// The owner sees another user's tokens (with whose they are) and revokes one: it answers 401 on
/// its very next use, and the audit entry names the revoker and the token's user.
#[actix_web::test]
async fn owner_lists_and_revokes_another_users_token_and_it_stops_at_once() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let viewer = w.viewer_a.user.clone().unwrap();
    let token = w.viewer_a.token.clone().unwrap();
    let id = token_id(&token);
    assert_eq!(send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await.status, 200);

    let listed = send(&app, Req::get(format!("/api/v1/users/{}/tokens", viewer.id)).acting_as(&w.owner)).await;
    assert_eq!(listed.status, 200, "{listed:?}");
    let items = listed.json["items"].as_array().unwrap();
    assert!(items.iter().any(|t| t["id"] == json!(id) && t["user_id"] == json!(viewer.id)), "{listed:?}");
    assert!(!listed.text.contains(token.split('.').nth(1).unwrap()), "secret listed: {listed:?}");

    let revoked = send(&app, Req::new(Method::DELETE, format!("/api/v1/auth/tokens/{id}")).acting_as(&w.owner)).await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await, 401, "unauthenticated");

    let events = audit_events(&app, &w, "api_token.revoked").await;
    let event = events.iter().find(|e| e["object"]["id"] == json!(id)).expect("audit entry for the revoke");
    assert_eq!(event["details"]["user_id"], json!(viewer.id));
    assert_eq!(event["details"]["revoked_by"], json!(w.owner.user.as_ref().unwrap().id));
    // A user unknown to the organization has no tokens to list.
    let unknown = send(&app, Req::get(format!("/api/v1/users/{}/tokens", ApiTokenId::new())).acting_as(&w.owner)).await;
    assert_problem(&unknown, 404, "not_found");
}

/// A non-owner can neither list another user's tokens (403: owners only) nor revoke one (404, as
/// if it did not exist), and the victim's token keeps working.
#[actix_web::test]
async fn non_owners_cannot_see_or_revoke_others_tokens() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let viewer = w.viewer_a.user.clone().unwrap();
    let token = w.viewer_a.token.clone().unwrap();
    let id = token_id(&token);

    let listed = send(&app, Req::get(format!("/api/v1/users/{}/tokens", viewer.id)).acting_as(&w.admin_a)).await;
    assert_problem(&listed, 403, "forbidden");
    let own = send(&app, Req::get("/api/v1/auth/tokens").acting_as(&w.admin_a)).await;
    assert!(!own.text.contains(&id.to_string()), "another user's token listed: {own:?}");
    let revoked = send(&app, Req::new(Method::DELETE, format!("/api/v1/auth/tokens/{id}")).acting_as(&w.admin_a)).await;
    assert_problem(&revoked, 404, "not_found");
    assert_eq!(send(&app, Req::get("/api/v1/auth/me").bearer(&token)).await.status, 200);
    let stored: ApiToken = h.store.get(&w.org_scope, &id).await.unwrap();
    assert!(!stored.revoked);
}

/// Disabling a user who is signed in and holds an API token: both answer 401 on their next use,
/// the password no longer logs in, every session and token is revoked in the store, and the audit
/// entry names the tokens. Enabling lets the password log in again but revives nothing old.
#[actix_web::test]
async fn disable_ends_a_session_and_a_token_at_once_and_login_fails() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let (email, password) = ("carol@acme.test", "carol's long password");
    let created = send(
        &app,
        Req::new(Method::POST, "/api/v1/users")
            .acting_as(&w.owner)
            .json(json!({ "email": email, "password": password })),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let user_id = created.json["id"].as_str().unwrap().to_owned();
    let login = || async {
        send(&app, Req::new(Method::POST, "/api/v1/auth/login").json(json!({ "email": email, "password": password })))
            .await
    };
    let signed_in = login().await;
    assert_eq!(signed_in.status, 200, "{signed_in:?}");
    let session = signed_in.json["token"].as_str().unwrap().to_owned();
    let minted =
        send(&app, Req::new(Method::POST, "/api/v1/auth/tokens").bearer(&session).json(json!({ "name": "ci" }))).await;
    assert_eq!(minted.status, 201, "{minted:?}");
    let token = minted.json["token"].as_str().unwrap().to_owned();
    for credential in [&session, &token] {
        assert_eq!(send(&app, Req::get("/api/v1/auth/me").bearer(credential)).await.status, 200);
    }

    let disabled =
        send(&app, Req::new(Method::POST, format!("/api/v1/users/{user_id}/disable")).acting_as(&w.owner)).await;
    assert_eq!(disabled.status, 200, "{disabled:?}");
    assert_eq!(disabled.json["disabled"], json!(true));
    for credential in [&session, &token] {
        assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(credential)).await, 401, "unauthenticated");
    }
    assert_problem(&login().await, 401, "invalid_credentials");
    let user: User =
        h.store.get(&w.org_scope, &user_id.parse::<certautopilot_core::ids::UserId>().unwrap()).await.unwrap();
    assert!(user.disabled);
    let page = PageRequest::first(1_000);
    let sessions = h.store.list_by_lookup::<Session>(&w.org_scope, &user_id, &page).await.unwrap().items;
    assert!(!sessions.is_empty() && sessions.iter().all(|s| s.revoked), "a session survived: {sessions:?}");
    assert!(tokens_of(&h, &w, &user).await.iter().all(|t| t.revoked), "a token survived");
    let events = audit_events(&app, &w, "user.disabled").await;
    let event = events.iter().find(|e| e["object"]["id"] == json!(user_id)).expect("user.disabled audited");
    assert_eq!(event["details"]["api_tokens_revoked"], json!([token_id(&token)]));
    assert_eq!(event["details"]["sessions_revoked"], json!(1));

    let enabled =
        send(&app, Req::new(Method::POST, format!("/api/v1/users/{user_id}/enable")).acting_as(&w.owner)).await;
    assert_eq!(enabled.status, 200, "{enabled:?}");
    assert_eq!(enabled.json["disabled"], json!(false));
    assert_eq!(audit_events(&app, &w, "user.enabled").await.len(), 1);
    for credential in [&session, &token] {
        assert_problem(&send(&app, Req::get("/api/v1/auth/me").bearer(credential)).await, 401, "unauthenticated");
    }
    assert_eq!(login().await.status, 200, "an enabled user logs in again");
}

/// The owner disabling themselves would leave the organization without them (and, with one owner,
/// without any): refused with 409 and a clear message, and they stay enabled and signed in.
#[actix_web::test]
async fn owner_cannot_disable_self() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let owner = w.owner.user.clone().unwrap();
    let resp =
        send(&app, Req::new(Method::POST, format!("/api/v1/users/{}/disable", owner.id)).acting_as(&w.owner)).await;
    assert_problem(&resp, 409, "conflict");
    assert!(resp.json["detail"].as_str().unwrap().contains("cannot disable yourself"), "{resp:?}");
    assert!(!h.store.get::<User>(&w.org_scope, &owner.id).await.unwrap().disabled);
    assert_eq!(send(&app, Req::get("/api/v1/auth/me").acting_as(&w.owner)).await.status, 200);
    assert!(audit_events(&app, &w, "user.disabled").await.is_empty());
}

/// Adding the owner to a project as a viewer is refused with a validation error naming `user_id`,
/// and no membership appears: the owner's role in every project is the organization role.
#[actix_web::test]
async fn the_owner_added_as_viewer_is_refused_and_membership_unchanged() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let owner = w.owner.user.clone().unwrap();
    let pa = w.a.scope.project_id();
    let members_before = h.store.project_members(&w.org_scope, pa).await.unwrap();
    for who in [&w.owner, &w.admin_a] {
        let resp = send(
            &app,
            Req::new(Method::POST, format!("/api/v1/projects/{pa}/members"))
                .acting_as(who)
                .json(json!({ "user_id": owner.id, "role": "viewer" })),
        )
        .await;
        assert_problem(&resp, 422, "validation_failed");
        assert_eq!(resp.json["field"], json!("user_id"), "{resp:?}");
        assert!(resp.json["detail"].as_str().unwrap().contains("owner"), "{resp:?}");
    }
    assert!(h.store.find_unique::<Membership>(&w.org_scope, &membership_key(pa, owner.id)).await.is_err());
    assert_eq!(h.store.project_members(&w.org_scope, pa).await.unwrap(), members_before);
}

/// Regression (issue 14, item 10): a secret-looking marker sent as an enum value or a free-text
/// choice in a body (key type, member role, revoke reason, DNS provider), a query parameter or a
/// query key is refused with 400/422, and the marker appears nowhere in the response.
#[actix_web::test]
async fn invalid_enum_values_are_refused_without_echoing_them() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let marker = "hunter2-secret";
    let pa = w.a.scope.project_id();
    let post = |path: String, body: Value| Req::new(Method::POST, path).acting_as(&w.owner).json(body);
    let cases = vec![
        post(
            "/api/v1/certificates".into(),
            json!({ "project_id": pa, "common_name": "m.example.com", "key_type": marker, "acme_account_id": w.a.account.id }),
        ),
        post(
            "/api/v1/certificates".into(),
            json!({ "project_id": pa, "common_name": "m.example.com", "key_type": format!("x`, expected {marker}"), "acme_account_id": w.a.account.id }),
        ),
        post(
            format!("/api/v1/projects/{pa}/members"),
            json!({ "user_id": w.admin_b.user.as_ref().unwrap().id, "role": marker }),
        ),
        post(format!("/api/v1/certificates/{}/revoke", w.a.certificate.id), json!({ "reason": marker })),
        post(
            "/api/v1/dns-credentials".into(),
            json!({ "project_id": pa, "name": "m", "provider": marker, "config": {} }),
        ),
        post("/api/v1/projects".into(), json!({ "name": "m", marker: true })),
        Req::get(format!("/api/v1/certificates?project_id={pa}&limit={marker}")).acting_as(&w.owner),
        Req::get(format!("/api/v1/certificates?project_id={pa}&{marker}=1")).acting_as(&w.owner),
        Req::get(format!("/api/v1/audit/events?from={marker}")).acting_as(&w.owner),
    ];
    for req in cases {
        let what = format!("{} {}", req.method, req.path);
        let resp = send(&app, req).await;
        assert!(matches!(resp.status.as_u16(), 400 | 422), "{what}: {resp:?}");
        assert!(!resp.text.contains("hunter2"), "{what} echoed the value: {resp:?}");
        assert!(resp.headers.iter().all(|(_, v)| !v.as_bytes().windows(7).any(|s| s == b"hunter2")), "{what}");
    }
    let resp = send(
        &app,
        post(
            "/api/v1/certificates".into(),
            json!({ "project_id": pa, "common_name": "m.example.com", "key_type": marker, "acme_account_id": w.a.account.id }),
        ),
    )
    .await;
    assert_eq!(resp.json["field"], json!("key_type"), "{resp:?}");
    assert!(resp.json["detail"].as_str().unwrap().starts_with("unknown variant, expected"), "{resp:?}");
}
