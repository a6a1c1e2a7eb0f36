//! Another project's ids, wherever they appear in a query (arguments, ids inside records, cursors),
//! read exactly like ids that do not exist, and never bring back a field of the other project.

use certautopilot_core::ids::*;
use certautopilot_core::model::Certificate;
use certautopilot_core::store::RecordStore;
use serde_json::{Value, json};

use super::{data, first_code, gql};
use crate::api::tests::harness::*;

/// Project B's ids given as arguments to project A's viewer: every read is `not_found`, exactly
/// as for ids that exist nowhere, and the answer holds none of B's values.
#[actix_rt::test]
async fn another_projects_ids_as_arguments_are_not_found() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let b = &w.b;
    let cases: Vec<(&str, Value, Value)> = vec![
        ("certificate", json!(b.certificate.id), json!(CertificateId::new())),
        ("acmeAccount", json!(b.account.id), json!(AcmeAccountId::new())),
        ("dnsCredential", json!(b.credential.id), json!(DnsCredentialId::new())),
        ("zone", json!(b.zone.id), json!(ZoneId::new())),
        ("target", json!(b.target.id), json!(TargetId::new())),
        ("project", json!(b.scope.project_id()), json!(ProjectId::new())),
    ];
    for (field, theirs, unknown) in cases {
        let query = format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}");
        let foreign = gql(&app, &w.viewer_a, &query, json!({ "id": theirs })).await;
        let missing = gql(&app, &w.viewer_a, &query, json!({ "id": unknown })).await;
        assert_eq!(first_code(&foreign).as_deref(), Some("not_found"), "{field}: {foreign:?}");
        assert_eq!(foreign.json["errors"][0]["message"], missing.json["errors"][0]["message"], "{field}");
        assert_eq!(foreign.json["data"], Value::Null, "{field}");
    }
    let job =
        gql(&app, &w.viewer_a, "query($id: ID!) { job(id: $id) { job { id } } }", json!({ "id": b.job.id })).await;
    assert_eq!(first_code(&job).as_deref(), Some("not_found"));
    for list in ["certificates", "acmeAccounts", "dnsCredentials", "zones", "targets", "jobs"] {
        let query = format!("query($p: ID!) {{ {list}(projectId: $p) {{ edges {{ node {{ id }} }} }} }}");
        let resp = gql(&app, &w.viewer_a, &query, json!({ "p": b.scope.project_id() })).await;
        assert_eq!(first_code(&resp).as_deref(), Some("not_found"), "{list}: {resp:?}");
    }
}

/// A record of project A that names project B's records (a forged account and target id): its
/// nested fields load in A's scope and find nothing, so none of B's fields come back.
#[actix_rt::test]
async fn another_projects_ids_inside_records_are_not_followed() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let mut cert: Certificate = h.store.get(&w.a.scope, &w.a.certificate.id).await.unwrap();
    cert.acme_account_id = Some(w.b.account.id);
    cert.target_ids = vec![w.b.target.id];
    h.store.update(&w.a.scope, &cert).await.unwrap();
    let app = app!(h);
    let query = "query($id: ID!) { certificate(id: $id) { account { id name } targets { targetId target { id name } deployment { status } } } }";
    let resp = gql(&app, &w.owner, query, json!({ "id": cert.id })).await;
    let c = &data(&resp)["certificate"];
    assert_eq!(c["account"], Value::Null);
    assert_eq!(c["targets"][0]["target"], Value::Null);
    assert!(!resp.text.contains(&w.b.account.name) && !resp.text.contains(&w.b.target.name), "{resp:?}");
}

/// A cursor is bound to its list: one from project B's certificates, or from project A's zones,
/// is refused on project A's certificates as an invalid `after`, with no page read.
#[actix_rt::test]
async fn cursors_of_other_lists_are_refused() {
    let h = Harness::new().await;
    let w = world(&h).await;
    resources(&h, w.b.scope.clone(), "b2").await;
    resources(&h, w.a.scope.clone(), "a2").await;
    let app = app!(h);
    let first_cursor = |list: &'static str, project: ProjectId| {
        let (app, owner) = (&app, &w.owner);
        async move {
            let query = format!("query($p: ID!) {{ {list}(projectId: $p, first: 1) {{ pageInfo {{ endCursor }} }} }}");
            let resp = gql(app, owner, &query, json!({ "p": project })).await;
            data(&resp)[list]["pageInfo"]["endCursor"].as_str().unwrap().to_owned()
        }
    };
    let theirs = first_cursor("certificates", w.b.scope.project_id()).await;
    let zones = first_cursor("zones", w.a.scope.project_id()).await;
    let query = "query($p: ID!, $after: String) { certificates(projectId: $p, after: $after) { edges { node { id commonName } } } }";
    for cursor in [theirs, zones, "bm9wZQ".to_owned(), "%%%".to_owned()] {
        let resp = gql(&app, &w.owner, query, json!({ "p": w.a.scope.project_id(), "after": cursor })).await;
        assert_eq!(first_code(&resp).as_deref(), Some("validation_failed"), "{resp:?}");
        assert_eq!(resp.json["errors"][0]["extensions"]["field"], json!("after"));
        assert_eq!(resp.json["data"], Value::Null);
        assert!(!resp.text.contains(&w.b.certificate.common_name));
    }
}
