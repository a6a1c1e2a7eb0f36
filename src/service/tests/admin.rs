//! Actor inspection: owners only, with checked kinds.

use super::*;
use crate::api::tests::harness::{NODE, world};
use crate::service::admin;

/// An owner lists and reads the KEK actor; an unknown kind is refused naming `kind`; an unknown
/// key is not found; an admin may not look; a forced panic needs fault injection on.
#[actix_web::test]
async fn owners_inspect_actors() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let owner = acting(&h, &w.owner, "listActors");
    let listed = admin::list(&owner, Some("kek")).await.unwrap();
    assert_eq!(listed.items.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), [NODE]);
    assert_refused(admin::list(&owner, Some("kettle")).await, ErrorCode::ValidationFailed, Some("kind"));
    assert_refused(admin::list(&acting(&h, &w.admin_a, "listActors"), None).await, ErrorCode::Forbidden, None);
    let get = acting(&h, &w.owner, "getActor");
    assert_eq!(admin::get(&get, "kek", NODE).await.unwrap().key, NODE);
    assert_refused(admin::get(&get, "kek", "other-node").await, ErrorCode::NotFound, None);
    let panic = admin::panic(&acting(&h, &w.owner, "panicActor"), "kek", NODE).await;
    assert_refused(panic, ErrorCode::Conflict, None);
}
