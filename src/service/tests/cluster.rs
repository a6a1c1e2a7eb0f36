//! The cluster: its status for anyone signed in, membership changes for owners.

use super::*;
use crate::api::tests::harness::world;
use crate::api::views::JoinCluster;
use crate::service::cluster;

/// A viewer sees that this node is in no cluster; an admin may not change membership; an owner's
/// change is refused on a node without a cluster, and a node id of 0 before that; nothing is audited.
#[actix_web::test]
async fn membership_changes_are_for_owners_of_a_clustered_node() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let status = cluster::status(&acting(&h, &w.viewer_a, "getClusterStatus")).await.unwrap();
    assert!(!status.enabled && status.status.is_none());
    assert_refused(
        cluster::status(&acting(&h, &w.anonymous, "getClusterStatus")).await,
        ErrorCode::Unauthenticated,
        None,
    );
    let before = audit_actions(&h, &w).await;
    assert_refused(cluster::init(&acting(&h, &w.admin_a, "initCluster")).await, ErrorCode::Forbidden, None);
    assert_refused(cluster::init(&acting(&h, &w.owner, "initCluster")).await, ErrorCode::Conflict, None);
    let zero = JoinCluster { node_id: 0, addr: "127.0.0.1:7400".into(), voter: true };
    let join = cluster::join(&acting(&h, &w.owner, "joinCluster"), zero).await;
    assert_refused(join, ErrorCode::ValidationFailed, Some("node_id"));
    assert_eq!(audit_actions(&h, &w).await, before);
}
