//! Every query's happy path, each compared with what REST answers for the same record where both
//! show it: the fields are REST's views, so the values must be the same.

use serde_json::{Value, json};

use super::{data, gql, ids};
use crate::api::tests::harness::*;

/// `me` names the caller and their memberships; `apiTokens` lists the caller's own tokens.
#[actix_rt::test]
async fn me_and_my_tokens() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp =
        gql(&app, &w.viewer_a, "{ me { user { id email orgRole } memberships { projectId role } } }", json!({})).await;
    let me = &data(&resp)["me"];
    assert_eq!(me["user"]["email"], json!("viewer_a@acme.test"));
    assert_eq!(me["user"]["orgRole"], json!("member"));
    assert_eq!(me["memberships"], json!([{ "projectId": w.a.scope.project_id().to_string(), "role": "viewer" }]));
    let resp = gql(&app, &w.viewer_a, "{ apiTokens { edges { node { id name revoked userId } } } }", json!({})).await;
    let tokens = &data(&resp)["apiTokens"]["edges"];
    assert_eq!(tokens.as_array().unwrap().len(), 1);
    assert_eq!(tokens[0]["node"]["userId"], json!(w.viewer_a.user.as_ref().unwrap().id.to_string()));
}

/// Owners list users and each user's tokens; projects come with their members and users.
#[actix_rt::test]
async fn users_projects_and_members() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = gql(
        &app,
        &w.owner,
        "{ users(first: 100) { edges { node { email apiTokens { edges { node { id } } } } } } }",
        json!({}),
    )
    .await;
    let users = data(&resp)["users"]["edges"].as_array().unwrap().clone();
    assert_eq!(users.len(), 5, "owner and four members");
    assert!(users.iter().all(|u| u["node"]["apiTokens"]["edges"].as_array().unwrap().len() == 1));

    let query = "{ projects { edges { node { id name members { edges { node { role user { email } } } } } } } }";
    let resp = gql(&app, &w.owner, query, json!({})).await;
    let projects = data(&resp)["projects"]["edges"].as_array().unwrap().clone();
    assert_eq!(projects.len(), 2);
    let a = projects.iter().find(|p| p["node"]["name"] == json!("project-a")).unwrap();
    let mut members: Vec<(String, String)> = a["node"]["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["node"]["user"]["email"].as_str().unwrap().into(), m["node"]["role"].as_str().unwrap().into()))
        .collect();
    members.sort();
    assert_eq!(
        members,
        [
            ("admin_a@acme.test".into(), "admin".into()),
            ("operator_a@acme.test".into(), "operator".into()),
            ("viewer_a@acme.test".into(), "viewer".into())
        ]
    );
    // A member sees only their own project.
    let resp = gql(&app, &w.admin_b, "{ projects { edges { node { id } } } }", json!({})).await;
    assert_eq!(ids(&data(&resp)["projects"]), [w.b.scope.project_id().to_string()]);
    let resp = gql(
        &app,
        &w.viewer_a,
        "query($id: ID!) { project(id: $id) { name } }",
        json!({ "id": w.a.scope.project_id() }),
    )
    .await;
    assert_eq!(data(&resp)["project"]["name"], json!("project-a"));
}

/// Accounts, credentials (no secret), zones with their credential, targets: lists and single
/// reads agree with REST's bodies field for field.
#[actix_rt::test]
async fn project_resources_match_rest() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let query = "query($p: ID!) {
        acmeAccounts(projectId: $p) { edges { node { id name directoryUrl status hasEabHmacKey } } }
        dnsCredentials(projectId: $p) { edges { node { id name provider hasSecret config } } }
        zones(projectId: $p) { edges { node { id apex credential { id name } } } }
        targets(projectId: $p) { edges { node { id name type hasCredential config deployments { status } } } }
    }";
    let resp = gql(&app, &w.viewer_a, query, json!({ "p": pa })).await;
    let d = data(&resp);
    assert_eq!(ids(&d["acmeAccounts"]), [w.a.account.id.to_string()]);
    assert_eq!(d["zones"]["edges"][0]["node"]["credential"]["id"], json!(w.a.credential.id.to_string()));
    let rest =
        send(&app, Req::get(format!("/api/v1/dns-credentials/{}", w.a.credential.id)).acting_as(&w.viewer_a)).await;
    let node = &d["dnsCredentials"]["edges"][0]["node"];
    assert_eq!(node["config"], rest.json["config"]);
    assert_eq!(node["hasSecret"], rest.json["has_secret"]);
    let rest = send(&app, Req::get(format!("/api/v1/targets/{}", w.a.target.id)).acting_as(&w.viewer_a)).await;
    let target = &d["targets"]["edges"][0]["node"];
    assert_eq!((&target["config"], &target["type"]), (&rest.json["config"], &rest.json["type"]));

    let single = "query($a: ID!, $c: ID!, $z: ID!, $t: ID!) {
        acmeAccount(id: $a) { name } dnsCredential(id: $c) { name } zone(id: $z) { apex } target(id: $t) { name } }";
    let vars = json!({ "a": w.a.account.id, "c": w.a.credential.id, "z": w.a.zone.id, "t": w.a.target.id });
    let resp = gql(&app, &w.viewer_a, single, vars).await;
    let d = data(&resp);
    assert_eq!(d["acmeAccount"]["name"], json!(w.a.account.name));
    assert_eq!(d["zone"]["apex"], json!(w.a.zone.apex));
}

/// A certificate with its account, zones and their credentials, targets with deployment status,
/// timeline and jobs; each part equal to what REST's routes for the same certificate say.
#[actix_rt::test]
async fn certificate_with_everything_around_it() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let cert = &w.a.certificate;
    // A zone serving the certificate's name (the world's zone serves other names).
    let apex = cert.common_name.split_once('.').unwrap().1.to_owned();
    let zone = certautopilot_core::model::Zone::new(
        w.a.scope.project_id(),
        apex.clone(),
        w.a.credential.id,
        certautopilot_core::Timestamp::now(),
    );
    certautopilot_core::store::RecordStore::insert(&*h.store, &w.a.scope, &zone).await.unwrap();
    let attach = Req::new(actix_web::http::Method::PUT, format!("/api/v1/certificates/{}/targets", cert.id))
        .acting_as(&w.operator_a)
        .json(json!({ "target_ids": [w.a.target.id], "version": cert.version }));
    assert_eq!(send(&app, attach).await.status.as_u16(), 200);
    let query = "query($id: ID!) { certificate(id: $id) {
        id commonName status keyType targetIds version
        account { id name }
        zones { apex credential { name hasSecret } }
        targets { targetId target { name } deployment { status } }
        deployments { targetId }
        timeline(last: 50) { at source event by }
        jobs(last: 5) { id kind status }
    } }";
    let resp = gql(&app, &w.viewer_a, query, json!({ "id": cert.id })).await;
    let c = &data(&resp)["certificate"];
    let rest = send(&app, Req::get(format!("/api/v1/certificates/{}", cert.id)).acting_as(&w.viewer_a)).await;
    for (g, r) in [("commonName", "common_name"), ("status", "status"), ("keyType", "key_type"), ("version", "version")]
    {
        assert_eq!(c[g], rest.json[r], "{g}");
    }
    assert_eq!(c["account"]["id"], json!(w.a.account.id.to_string()));
    assert_eq!(c["zones"][0]["apex"], json!(apex));
    assert_eq!(c["zones"][0]["credential"]["name"], json!(w.a.credential.name));
    assert_eq!(c["targets"][0]["target"]["name"], json!(w.a.target.name));
    assert_eq!(c["targets"][0]["deployment"], Value::Null, "never sent yet");
    assert_eq!(c["jobs"][0]["id"], json!(w.a.job.id.to_string()));
    let timeline =
        send(&app, Req::get(format!("/api/v1/certificates/{}/timeline", cert.id)).acting_as(&w.viewer_a)).await;
    let events = |items: &Value, key: &str| -> Vec<String> {
        items.as_array().unwrap().iter().map(|e| e[key].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(events(&c["timeline"], "event"), events(&timeline.json["items"], "event"));
    assert!(!events(&c["timeline"], "event").is_empty());

    let resp = gql(
        &app,
        &w.viewer_a,
        "query($p: ID!) { certificates(projectId: $p) { edges { node { id } } } }",
        json!({ "p": w.a.scope.project_id() }),
    )
    .await;
    assert_eq!(ids(&data(&resp)["certificates"]), [cert.id.to_string()]);
}

/// Jobs list and one job with its log; audit events with REST's filters, for owners.
#[actix_rt::test]
async fn jobs_and_audit_events() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let resp = gql(&app, &w.viewer_a, "query($p: ID!, $j: ID!) { jobs(projectId: $p) { edges { node { id kind } } } job(id: $j) { job { id status } log { message } } }", json!({ "p": w.a.scope.project_id(), "j": w.a.job.id })).await;
    let d = data(&resp);
    assert_eq!(ids(&d["jobs"]), [w.a.job.id.to_string()]);
    let rest = send(&app, Req::get(format!("/api/v1/jobs/{}", w.a.job.id)).acting_as(&w.viewer_a)).await;
    let messages = |log: &Value| log.as_array().unwrap().iter().map(|l| l["message"].clone()).collect::<Vec<_>>();
    assert_eq!(messages(&d["job"]["log"]), messages(&rest.json["log"]));

    // Something audited in project A: a rename.
    let rename = Req::new(actix_web::http::Method::PATCH, format!("/api/v1/projects/{}", w.a.scope.project_id()))
        .acting_as(&w.admin_a)
        .json(json!({ "name": "renamed-a", "version": 1 }));
    assert_eq!(send(&app, rename).await.status.as_u16(), 200);
    let query = "query($p: ID!) { auditEvents(projectId: $p, action: \"project.updated\") { edges { node { seq action projectId actor } } } }";
    let resp = gql(&app, &w.owner, query, json!({ "p": w.a.scope.project_id() })).await;
    let events = data(&resp)["auditEvents"]["edges"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["node"]["action"], json!("project.updated"));
    let rest = send(
        &app,
        Req::get(format!("/api/v1/audit/events?project_id={}&action=project.updated", w.a.scope.project_id()))
            .acting_as(&w.owner),
    )
    .await;
    assert_eq!(events[0]["node"]["seq"], rest.json["items"][0]["seq"]);
}

/// Pages walk a list once: `first` and `after` give every record exactly once, `pageInfo` says
/// when the end is reached.
#[actix_rt::test]
async fn connections_page_through_every_record_once() {
    let h = Harness::new().await;
    let w = world(&h).await;
    for _ in 0..4 {
        resources(&h, w.a.scope.clone(), "more").await;
    }
    let app = app!(h);
    let query = "query($p: ID!, $after: String) { certificates(projectId: $p, first: 2, after: $after) {
        pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let resp = gql(&app, &w.viewer_a, query, json!({ "p": w.a.scope.project_id(), "after": after })).await;
        let page = data(&resp)["certificates"].clone();
        seen.extend(ids(&page));
        assert_eq!(page["pageInfo"]["hasPreviousPage"], json!(!after.is_null()));
        if page["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5));
}
