//! No N+1: a page of certificates with their accounts, targets, deployments, zones, timelines and
//! jobs costs the same number of store trips for 2 certificates as for 20 (`bench graphql` prints
//! the same figure for 5 and 50).

use certautopilot_core::model::Certificate;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::{data, gql};
use crate::api::tests::harness::*;

const QUERY: &str = "query($p: ID!) { certificates(projectId: $p, first: 100) { edges { node {
    id account { name } zones { apex credential { name } }
    targets { target { name } deployment { status } } deployments { status }
    timeline(last: 5) { event } jobs(last: 2) { id } } } } }";

/// Counted on a store object of its own (no audit actor polls through it): the trips of the same
/// query over a project of 2 certificates and one of 20 are equal.
#[actix_rt::test]
async fn store_trips_do_not_grow_with_the_page() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let mut trips = Vec::new();
    let other = h.second_process().await;
    let app = app!(other);
    // The process reads its organization once (then keeps it); not part of what is compared.
    data(&gql(&app, &w.owner, "{ me { user { id } } }", json!({})).await);
    for (n, scope) in [(2, w.a.scope.clone()), (20, w.b.scope.clone())] {
        for _ in 1..n {
            let more = resources(&h, scope.clone(), "page").await;
            let mut cert: Certificate = h.store.get(&scope, &more.certificate.id).await.unwrap();
            cert.target_ids = vec![more.target.id];
            h.store.update(&scope, &cert).await.unwrap();
        }
        let before: u64 = other.state.store().unwrap().round_trips().values().sum();
        let resp = gql(&app, &w.owner, QUERY, json!({ "p": scope.project_id() })).await;
        assert_eq!(data(&resp)["certificates"]["edges"].as_array().unwrap().len(), n, "{resp:?}");
        trips.push(other.state.store().unwrap().round_trips().values().sum::<u64>() - before);
    }
    assert_eq!(trips[0], trips[1], "trips for 2 and for 20 certificates: {trips:?}");
    assert!(trips[0] <= 16, "a handful: {trips:?}");
}

/// A page of projects with their members and the members' users: the same trips for 2 projects as
/// for 6 (the caller's scopes, the members and the users each read once), for an owner and for a
/// member.
#[actix_rt::test]
async fn projects_with_members_take_the_same_trips_whatever_their_number() {
    use certautopilot_core::Timestamp;
    use certautopilot_core::model::{Membership, Project, Role};
    let h = Harness::new().await;
    let w = world(&h).await;
    let other = h.second_process().await;
    let app = app!(other);
    data(&gql(&app, &w.owner, "{ me { user { id } } }", json!({})).await);
    let query = "{ projects(first: 10) { edges { node { name members(first: 10) { edges { node { role user { email } } } } } } } }";
    let trips_of = |who: &Who, total: usize| {
        let (app, other) = (&app, &other);
        let who = who.clone();
        async move {
            let before: u64 = other.state.store().unwrap().round_trips().values().sum();
            let resp = gql(app, &who, query, json!({})).await;
            assert_eq!(data(&resp)["projects"]["edges"].as_array().unwrap().len(), total, "{resp:?}");
            other.state.store().unwrap().round_trips().values().sum::<u64>() - before
        }
    };
    let few = [trips_of(&w.owner, 2).await, trips_of(&w.viewer_a, 1).await];
    let viewer = w.viewer_a.user.clone().unwrap();
    for i in 0..4 {
        let project = Project::new(w.org.id, format!("more-{i}"), Timestamp::now());
        h.store.insert(&w.org_scope, &project).await.unwrap();
        let membership = Membership::new(w.org.id, project.id, viewer.id, Role::Viewer, Timestamp::now());
        h.store.insert(&w.org_scope, &membership).await.unwrap();
    }
    let many = [trips_of(&w.owner, 6).await, trips_of(&w.viewer_a, 5).await];
    assert_eq!(few, many, "trips for few and for many projects (owner, member)");
}
