//! The audit chain: owners search and verify it.

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::AuditQuery;
use crate::service::audit;

/// An owner finds the setup's entry and verifies an intact chain; an admin may not search; a bad
/// instant or page size is refused naming the field.
#[actix_web::test]
async fn owners_search_and_verify_the_chain() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let owner = acting(&h, &w.owner, "listAuditEvents");
    let created = AuditQuery { action: Some("org.created".into()), ..Default::default() };
    let found = audit::events(&owner, created).await.unwrap();
    assert_eq!(found.items.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["org.created"]);
    let by_admin = audit::events(&acting(&h, &w.admin_a, "listAuditEvents"), AuditQuery::default()).await;
    assert_refused(by_admin, ErrorCode::Forbidden, None);
    let yesterday = AuditQuery { from: Some("yesterday".into()), ..Default::default() };
    assert_refused(audit::events(&owner, yesterday).await, ErrorCode::ValidationFailed, Some("from"));
    let none = AuditQuery { limit: Some(0), ..Default::default() };
    assert_refused(audit::events(&owner, none).await, ErrorCode::ValidationFailed, Some("limit"));
    let verified = audit::verify(&acting(&h, &w.owner, "verifyAudit")).await.unwrap();
    assert!(verified.intact && verified.entries >= 1, "{verified:?}");
    assert_refused(audit::verify(&acting(&h, &w.admin_a, "verifyAudit")).await, ErrorCode::Forbidden, None);
}
