//! The GraphQL role matrix: every field of `FIELD_OPERATIONS` × every kind of caller (anonymous, a
//! member of another project, viewer, operator, admin, owner), judged by the REST role matrix's
//! own expectation for the field's operation policy. Generated from the list, so a new field is
//! covered the day it is listed, and a field without a query here fails the test.

use certautopilot_core::model::Certificate;
use certautopilot_core::store::RecordStore;
use serde_json::{Value, json};

use super::{first_code, gql};
use crate::api::routes::policy_of;
use crate::api::tests::harness::*;
use crate::api::tests::role_matrix::{Expect, expectation};
use crate::graphql::FIELD_OPERATIONS;

/// A query reaching `field` that an allowed caller gets an answer from, on project A's records.
fn query_for(field: &str, w: &World) -> (String, Value) {
    let a = &w.a;
    let pa = json!(a.scope.project_id());
    let cert = |selection: &str| {
        (format!("query($id: ID!) {{ certificate(id: $id) {{ {selection} }} }}"), json!({ "id": a.certificate.id }))
    };
    let list = |name: &str| {
        (format!("query($p: ID!) {{ {name}(projectId: $p) {{ edges {{ node {{ id }} }} }} }}"), json!({ "p": pa }))
    };
    let one = |name: &str, id: Value| (format!("query($id: ID!) {{ {name}(id: $id) {{ id }} }}"), json!({ "id": id }));
    match field {
        "Query.me" => ("{ me { user { id } } }".into(), json!({})),
        "Query.apiTokens" => ("{ apiTokens { edges { node { id } } } }".into(), json!({})),
        "Query.users" => ("{ users { edges { node { id } } } }".into(), json!({})),
        "User.apiTokens" => ("{ users { edges { node { apiTokens { edges { node { id } } } } } } }".into(), json!({})),
        "Query.projects" => ("{ projects { edges { node { id } } } }".into(), json!({})),
        "Query.project" => one("project", pa),
        "Project.members" => {
            ("query($id: ID!) { project(id: $id) { members { edges { node { id } } } } }".into(), json!({ "id": pa }))
        }
        "Member.user" => (
            "query($id: ID!) { project(id: $id) { members { edges { node { user { id } } } } } }".into(),
            json!({ "id": pa }),
        ),
        "Query.acmeAccounts" => list("acmeAccounts"),
        "Query.acmeAccount" => one("acmeAccount", json!(a.account.id)),
        "Query.dnsCredentials" => list("dnsCredentials"),
        "Query.dnsCredential" => one("dnsCredential", json!(a.credential.id)),
        "Query.zones" => list("zones"),
        "Query.zone" => one("zone", json!(a.zone.id)),
        "Zone.credential" => {
            ("query($id: ID!) { zone(id: $id) { credential { id } } }".into(), json!({ "id": a.zone.id }))
        }
        "Query.targets" => list("targets"),
        "Query.target" => one("target", json!(a.target.id)),
        "Target.deployments" => {
            ("query($id: ID!) { target(id: $id) { deployments { status } } }".into(), json!({ "id": a.target.id }))
        }
        "Query.certificates" => list("certificates"),
        "Query.certificate" => one("certificate", json!(a.certificate.id)),
        "Certificate.account" => cert("account { id }"),
        "Certificate.zones" => cert("zones { id }"),
        "Certificate.targets" => cert("targets { targetId }"),
        "Certificate.deployments" => cert("deployments { status }"),
        "Certificate.timeline" => cert("timeline { event }"),
        "Certificate.jobs" => cert("jobs { id }"),
        "CertificateTarget.target" => cert("targets { target { id } }"),
        "Query.jobs" => list("jobs"),
        "Query.job" => ("query($id: ID!) { job(id: $id) { job { id } } }".into(), json!({ "id": a.job.id })),
        "Query.auditEvents" => ("{ auditEvents { edges { node { seq } } } }".into(), json!({})),
        // Operations and admin fields (issue M2.4). The harness runs no cluster and no fault
        // injection: the membership mutations and the forced panic answer `conflict`, past the policy.
        "Certificate.chain" => cert("chain"),
        "Query.auditVerification" => ("{ auditVerification { intact } }".into(), json!({})),
        "Query.clusterStatus" => ("{ clusterStatus { enabled } }".into(), json!({})),
        "Query.actors" => ("{ actors(kind: \"kek\") { key } }".into(), json!({})),
        "Query.actor" => ("query($k: String!) { actor(kind: \"kek\", key: $k) { key } }".into(), json!({ "k": NODE })),
        "Mutation.initCluster" => ("mutation { initCluster { message } }".into(), json!({})),
        "Mutation.joinCluster" => {
            ("mutation { joinCluster(input: { nodeId: 2, addr: \"127.0.0.1:1\" }) { message } }".into(), json!({}))
        }
        "Mutation.leaveCluster" => ("mutation { leaveCluster(input: { nodeId: 2 }) { message } }".into(), json!({})),
        "Mutation.panicActor" => {
            ("mutation($k: String!) { panicActor(kind: \"kek\", key: $k) { key } }".into(), json!({ "k": NODE }))
        }
        other => panic!("no matrix query for {other}: add one"),
    }
}

/// Every listed field answers each caller as its REST operation's policy says: data for allowed
/// callers, `unauthenticated`, `forbidden` or `not_found` (another project's member) otherwise.
#[actix_rt::test]
async fn every_field_for_every_caller() {
    let h = Harness::new().await;
    let w = world(&h).await;
    // The certificate has a target, so fields below `targets` are reached.
    let mut cert: Certificate = h.store.get(&w.a.scope, &w.a.certificate.id).await.unwrap();
    cert.target_ids = vec![w.a.target.id];
    h.store.update(&w.a.scope, &cert).await.unwrap();
    let app = app!(h);
    let mut failures = Vec::new();
    for (field, operation) in FIELD_OPERATIONS {
        let policy = policy_of(operation).unwrap_or_else(|| panic!("{field}: no operation {operation}"));
        let (query, variables) = query_for(field, &w);
        for who in w.principals() {
            let resp = gql(&app, &who, &query, variables.clone()).await;
            let expected = expectation(policy, who.name);
            let got = match first_code(&resp).as_deref() {
                None if resp.status.as_u16() == 200 && !resp.json["data"].is_null() => Expect::Allowed,
                Some("unauthenticated") => Expect::Unauthenticated,
                Some("forbidden") => Expect::Forbidden,
                Some("not_found") => Expect::Hidden,
                // Refused by the service after the policy admitted the caller (REST's 409).
                Some("conflict") => Expect::Allowed,
                _ => {
                    failures.push(format!("{field} as {}: unexpected {resp:?}", who.name));
                    continue;
                }
            };
            if got != expected {
                failures.push(format!("{field} as {}: expected {expected:?}, got {got:?}: {}", who.name, resp.text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
