//! The fields of REST's operations and admin routes (issue M2.4): a certificate's chain, the audit
//! chain's verification, the cluster status, actor snapshots, membership changes and the forced
//! panic. Each answers what REST answers for the same call, and bad input changes nothing.

use actix_web::http::Method;
use certautopilot_core::model::Certificate;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::{data, first_code, gql};
use crate::api::tests::harness::*;

const CHAIN_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

/// `Certificate.chain` is REST's chain download: the same PEM for an issued certificate, null
/// where REST answers 404 (nothing issued yet), and another project's certificate is not found.
#[actix_rt::test]
async fn certificate_chain_is_rests_pem() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let mut cert: Certificate = h.store.get(&w.a.scope, &w.a.certificate.id).await.unwrap();
    cert.chain_pem = Some(CHAIN_PEM.to_owned());
    h.store.update(&w.a.scope, &cert).await.unwrap();
    let app = app!(h);
    let query = "query($id: ID!) { certificate(id: $id) { chain } }";
    let resp = gql(&app, &w.viewer_a, query, json!({ "id": w.a.certificate.id })).await;
    let rest =
        send(&app, Req::get(format!("/api/v1/certificates/{}/chain", w.a.certificate.id)).acting_as(&w.viewer_a)).await;
    assert_eq!(rest.status.as_u16(), 200);
    assert_eq!(data(&resp)["certificate"]["chain"], json!(rest.text));
    assert_eq!(rest.text, CHAIN_PEM);

    let unissued = gql(&app, &w.admin_b, query, json!({ "id": w.b.certificate.id })).await;
    assert_eq!(data(&unissued)["certificate"]["chain"], json!(null));
    let rest =
        send(&app, Req::get(format!("/api/v1/certificates/{}/chain", w.b.certificate.id)).acting_as(&w.admin_b)).await;
    assert_eq!(rest.status.as_u16(), 404);

    let foreign = gql(&app, &w.admin_b, query, json!({ "id": w.a.certificate.id })).await;
    assert_eq!(first_code(&foreign).as_deref(), Some("not_found"));
    assert!(!foreign.text.contains("MIIBfake"), "{foreign:?}");
}

/// `auditVerification` walks the chain as `POST /audit/verify` does: the seeded world's chain is
/// intact, with the same entry count and head as REST reports.
#[actix_rt::test]
async fn audit_verification_matches_rest() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp =
        gql(&app, &w.owner, "{ auditVerification { intact entries head brokenAt reason pending } }", json!({})).await;
    let verified = &data(&resp)["auditVerification"];
    let rest = send(&app, Req::new(Method::POST, "/api/v1/audit/verify").acting_as(&w.owner)).await;
    assert_eq!(rest.status.as_u16(), 200, "{rest:?}");
    assert_eq!(verified["intact"], json!(true), "{verified}");
    assert!(verified["entries"].as_u64().unwrap() > 0, "{verified}");
    for (gql_field, rest_field) in
        [("intact", "intact"), ("entries", "entries"), ("head", "head"), ("pending", "pending")]
    {
        assert_eq!(verified[gql_field], rest.json[rest_field], "{gql_field}");
    }
    assert_eq!((verified["brokenAt"].clone(), verified["reason"].clone()), (json!(null), json!(null)));
}

/// `clusterStatus` for any signed-in caller: a node without a `[cluster]` section says so, as REST.
#[actix_rt::test]
async fn cluster_status_of_a_single_node() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = gql(&app, &w.viewer_a, "{ clusterStatus { enabled node { nodeId state } } }", json!({})).await;
    let rest = send(&app, Req::get("/api/v1/cluster/status").acting_as(&w.viewer_a)).await;
    assert_eq!(rest.json["enabled"], json!(false));
    assert_eq!(data(&resp)["clusterStatus"], json!({ "enabled": false, "node": null }));
}

/// Owners see the live actors as REST shows them; an unknown kind is `validation_failed` on `kind`
/// and an unknown key `not_found`.
#[actix_rt::test]
async fn actors_match_rests_snapshots() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = gql(&app, &w.owner, "{ actors { kind key alive restarts } }", json!({})).await;
    let actors = data(&resp)["actors"].as_array().unwrap().clone();
    let kek = actors.iter().find(|a| a["kind"] == "kek").expect("kek actor listed");
    assert_eq!((kek["key"].clone(), kek["alive"].clone()), (json!(NODE), json!(true)));

    let query = "query($k: String!, $key: String!) { actor(kind: $k, key: $key) { kind key state alive detail } }";
    let one = gql(&app, &w.owner, query, json!({ "k": "kek", "key": NODE })).await;
    let rest = send(&app, Req::get(format!("/api/v1/admin/actors/kek/{NODE}")).acting_as(&w.owner)).await;
    let actor = &data(&one)["actor"];
    for field in ["kind", "key", "state", "alive"] {
        assert_eq!(actor[field], rest.json[field], "{field}");
    }
    assert!(actor["detail"].is_object(), "{actor}");

    let kettle = gql(&app, &w.owner, "{ actors(kind: \"kettle\") { key } }", json!({})).await;
    assert_eq!(first_code(&kettle).as_deref(), Some("validation_failed"));
    assert_eq!(kettle.json["errors"][0]["extensions"]["field"], json!("kind"));
    let unknown = gql(&app, &w.owner, query, json!({ "k": "kek", "key": "no-such-node" })).await;
    assert_eq!(first_code(&unknown).as_deref(), Some("not_found"));
}

/// Membership changes and the forced panic answer as REST does on a node without a cluster or fault
/// injection (`conflict`); a node id of 0 is `validation_failed` on `node_id`. None of them adds an
/// audit entry.
#[actix_rt::test]
async fn admin_mutations_refuse_as_rest_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let verify = "{ auditVerification { entries } }";
    let before = data(&gql(&app, &w.owner, verify, json!({})).await)["auditVerification"]["entries"].clone();
    let cases = [
        ("mutation { initCluster { message } }", "conflict", None),
        (
            "mutation { joinCluster(input: { nodeId: 2, addr: \"127.0.0.1:1\", voter: false }) { message } }",
            "conflict",
            None,
        ),
        ("mutation { leaveCluster(input: { nodeId: 2 }) { message } }", "conflict", None),
        (
            "mutation { joinCluster(input: { nodeId: 0, addr: \"127.0.0.1:1\" }) { message } }",
            "validation_failed",
            Some("node_id"),
        ),
        ("mutation { leaveCluster(input: { nodeId: 0 }) { message } }", "validation_failed", Some("node_id")),
        ("mutation { panicActor(kind: \"kek\", key: \"test-node\") { key } }", "conflict", None),
        ("mutation { panicActor(kind: \"kettle\", key: \"x\") { key } }", "validation_failed", Some("kind")),
    ];
    for (mutation, code, field) in cases {
        let resp = gql(&app, &w.owner, mutation, json!({})).await;
        assert_eq!(first_code(&resp).as_deref(), Some(code), "{mutation}: {resp:?}");
        assert_eq!(resp.json["errors"][0]["extensions"]["field"].as_str(), field, "{mutation}");
        assert_eq!(resp.json["data"], json!(null), "{mutation}");
    }
    let after = data(&gql(&app, &w.owner, verify, json!({})).await)["auditVerification"]["entries"].clone();
    assert_eq!(before, after);
}
