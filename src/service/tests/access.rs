//! The authorization context on its own: the route table gives every operation its policy by id,
//! and a context built without any HTTP extractor in front still enforces that policy.

use certautopilot_core::ids::CertificateId;

use super::*;
use crate::api::route_spec::Policy;
use crate::api::routes::table;
use crate::api::tests::harness::world;
use crate::service::{certificates, users};

/// `policy_of` answers, for every operation of the table, the policy its route declares, and
/// nothing for an id the table does not have: GraphQL and REST read one source.
#[test]
fn every_operation_has_the_policy_of_its_route() {
    for route in table() {
        assert_eq!(policy_of(route.operation_id), Some(route.policy), "{}", route.operation_id);
    }
    assert_eq!(policy_of("launchMissiles"), None);
}

/// Without a caller, an operation addressed by id is refused as unauthenticated before any read:
/// an id that exists and one that does not answer alike, so nothing is learned.
#[actix_web::test]
async fn an_anonymous_call_is_refused_before_anything_is_read() {
    let h = Harness::new().await;
    let w = world(&h).await;
    for id in [w.a.certificate.id, CertificateId::new()] {
        assert_refused(
            certificates::get(&acting(&h, &w.anonymous, "getCertificate"), id).await,
            ErrorCode::Unauthenticated,
            None,
        );
    }
    let refused = Authorized::admit(None, Policy::Authenticated, h.state.clone());
    assert_refused(refused.map(|_| ()), ErrorCode::Unauthenticated, None);
}

/// A member holding an owners' context (as a resolver that forgot the door check would build it)
/// is still refused on use; `admit` refuses them at once, and an owner passes both.
#[actix_web::test]
async fn an_owners_operation_refuses_a_member_on_use() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let member = acting(&h, &w.admin_a, "listUsers");
    assert_refused(users::list(&member, Default::default()).await, ErrorCode::Forbidden, None);
    let admitted = Authorized::admit(caller_of(&w.admin_a), Policy::Owner, h.state.clone());
    assert_refused(admitted.map(|_| ()), ErrorCode::Forbidden, None);
    let owner = Authorized::admit(caller_of(&w.owner), Policy::Owner, h.state.clone()).unwrap();
    assert!(users::list(&owner, Default::default()).await.unwrap().items.len() >= 5);
}
