//! Setting the installation up: once, by anyone, with checked input.

use super::*;
use crate::api::views::SetupRequest;
use crate::service::setup;

fn request(email: &str) -> SetupRequest {
    SetupRequest { org_name: "Acme".into(), email: email.into(), password: "correct horse battery staple".into() }
}

/// The first setup creates the organization and its owner (e-mail lower-cased); a second one is
/// refused as `already_set_up` and leaves the first in place.
#[actix_web::test]
async fn setup_happens_once() {
    let h = Harness::new().await;
    let done = setup::setup(&context(&h.state, None, "setup"), request("Owner@Acme.TEST")).await.unwrap();
    assert_eq!((done.organization.name.as_str(), done.owner.email.as_str()), ("Acme", "owner@acme.test"));
    let again = setup::setup(&context(&h.state, None, "setup"), request("other@acme.test")).await;
    assert_refused(again, ErrorCode::AlreadySetUp, None);
    let org = h.state.organization().await.unwrap().expect("set up");
    assert_eq!(org.org.id, done.organization.id);
}

/// A bad e-mail or a short password is refused naming the field, and nothing is set up.
#[actix_web::test]
async fn bad_input_sets_nothing_up() {
    let h = Harness::new().await;
    let auth = context(&h.state, None, "setup");
    assert_refused(setup::setup(&auth, request("not-an-address")).await, ErrorCode::ValidationFailed, Some("email"));
    let short = SetupRequest { password: "short".into(), ..request("owner@acme.test") };
    assert_refused(setup::setup(&auth, short).await, ErrorCode::ValidationFailed, Some("password"));
    assert!(h.state.organization().await.unwrap().is_none());
}
