//! The inventory in its expiry order (`sort=expires`): soonest first across pages, unissued last,
//! fact and text filters applied, refused without a project, and scoped to the caller's projects.

use certautopilot_core::ids::{CertificateId, ProjectId};
use certautopilot_core::model::{Certificate, CertificateStatus};
use certautopilot_core::store::PageRequest;

use super::*;
use crate::api::tests::harness::{Resources, world};
use crate::service::inventory::{self, InventoryFilter, InventorySort};

const DAY: i64 = 86_400_000;

async fn add(
    h: &Harness,
    project: &Resources,
    name: &str,
    status: CertificateStatus,
    days: Option<i64>,
) -> Certificate {
    let now = Timestamp::now().as_unix_millis();
    let not_after = days.map(|d| Timestamp::from_unix_millis(now + d * DAY));
    stored_certificate(h, project, name, status, not_after, None).await
}

/// Every page of the search in `sort` order, two at a time, as the ids it lists.
async fn walk(auth: &Authorized, project: ProjectId, filter: &InventoryFilter) -> Vec<CertificateId> {
    let mut ids = Vec::new();
    let mut page = PageRequest::first(2);
    loop {
        let found = inventory::search(auth, Some(project), filter, InventorySort::Expires, page).await.unwrap();
        ids.extend(found.items.iter().map(|c| c.id));
        match found.next_cursor {
            Some(cursor) => page = PageRequest::after(2, cursor),
            None => return ids,
        }
    }
}

/// Two pages at a time, the owner sees project a soonest expiry first, then the unissued (the
/// world's requested certificate and one more), each once; a status filter and a text filter
/// keep the order and drop the rest; without a project, or from another project's member, the
/// order is refused and nothing of a is shown.
#[actix_web::test]
async fn the_inventory_lists_soonest_expiry_first_and_unissued_last() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let later = add(&h, &w.a, "later.a.example", CertificateStatus::Issued, Some(60)).await;
    let gone = add(&h, &w.a, "gone.a.example", CertificateStatus::Expired, Some(-3)).await;
    let soon = add(&h, &w.a, "soon.a.example", CertificateStatus::Issued, Some(5)).await;
    let new = add(&h, &w.a, "new.a.example", CertificateStatus::Requested, None).await;
    add(&h, &w.b, "soonest.b.example", CertificateStatus::Issued, Some(1)).await;
    let project = w.a.scope.project_id();
    let owner = acting(&h, &w.owner, "listCertificates");

    let all = walk(&owner, project, &InventoryFilter::default()).await;
    let mut unissued = vec![w.a.certificate.id, new.id];
    unissued.sort_by_key(|id| id.to_string());
    assert_eq!(all, [vec![gone.id, soon.id, later.id], unissued].concat());

    let issued = InventoryFilter { status: Some(CertificateStatus::Issued), ..Default::default() };
    assert_eq!(walk(&owner, project, &issued).await, [soon.id, later.id]);
    let text = InventoryFilter { text: Some("LATER".into()), ..Default::default() };
    assert_eq!(walk(&owner, project, &text).await, [later.id]);
    let within = InventoryFilter { expiring_within_days: Some(10), ..Default::default() };
    assert_eq!(walk(&owner, project, &within).await, [gone.id, soon.id]);

    let everywhere =
        inventory::search(&owner, None, &InventoryFilter::default(), InventorySort::Expires, PageRequest::first(2))
            .await;
    assert_eq!(everywhere.unwrap_err().field.as_deref(), Some("sort"));
    let stranger = acting(&h, &w.admin_b, "listCertificates");
    let theirs = inventory::search(
        &stranger,
        Some(project),
        &InventoryFilter::default(),
        InventorySort::Expires,
        PageRequest::first(2),
    )
    .await;
    assert!(theirs.is_err(), "a member of b cannot list a");
}
