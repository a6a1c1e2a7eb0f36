//! Approvals end to end through the real binary and Pebble: with a policy on `*.prod` names, an
//! operator's request waits (no order reaches the CA), the project's admin approves it over REST and
//! the certificate is issued by Pebble, and renews without asking again; under `require: all` an
//! operator's renewal waits and is rejected over GraphQL, starting nothing; the timeline tells it.

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, start, timeline_events, wait_status};
use crate::process::ApiClient;

/// A user with `role` in project `pid`, signed in.
fn member(owner: &ApiClient, pid: &str, email: &str, role: &str) -> ApiClient {
    let password = "a long enough password here";
    let user = owner.ok("POST", "/api/v1/users", Some(json!({ "email": email, "password": password })), 201);
    let body = json!({ "user_id": user["id"], "role": role });
    owner.ok("POST", &format!("/api/v1/projects/{pid}/members"), Some(body), 201);
    let mut c = ApiClient { addr: owner.addr, token: None };
    let login = c.ok("POST", "/api/v1/auth/login", Some(json!({ "email": email, "password": password })), 200);
    c.token = Some(login["token"].as_str().unwrap().to_owned());
    c
}

#[test]
fn an_operators_request_waits_for_the_admin_and_then_issues_against_pebble() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[]);
    let owner = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&owner, &env, "approvals", None);
    let admin = member(&owner, &pid, "admin@acme.test", "admin");
    let operator = member(&owner, &pid, "operator@acme.test", "operator");
    let policy = json!({ "require": "rules", "rules": [{ "kind": "names", "patterns": [format!("*.prod.{ZONE}")] },
        { "kind": "revocation" }], "expire_after_hours": 24 });
    let (status, _) = operator.call("PUT", &format!("/api/v1/projects/{pid}/approval-policy"), Some(policy.clone()));
    assert_eq!(status, 403, "operators do not set the policy");
    admin.ok("PUT", &format!("/api/v1/projects/{pid}/approval-policy"), Some(policy), 200);

    // --- the operator's request waits: no job, no order at the CA.
    let body = json!({ "project_id": pid, "common_name": format!("api.prod.{ZONE}"), "key_type": "ecdsa-p256",
        "acme_account_id": account });
    let created = operator.ok("POST", "/api/v1/certificates", Some(body), 202);
    assert_eq!(created["job"], Value::Null, "{created}");
    let approval = created["approval"].clone();
    assert_eq!(approval["status"], json!("pending_approval"), "{created}");
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();
    let aid = approval["id"].as_str().unwrap().to_owned();
    let inbox = admin.ok("GET", &format!("/api/v1/approvals?project_id={pid}&status=pending_approval"), None, 200);
    assert_eq!(inbox["items"][0]["id"], json!(aid), "{inbox}");
    let (status, _) = operator.call("POST", &format!("/api/v1/approvals/{aid}/approve"), None);
    assert_eq!(status, 403, "the requester cannot approve");
    assert_eq!(env.pebble.orders_placed(), 0, "nothing reached the CA");

    // --- the admin approves: issued by Pebble.
    let decided = admin.ok("POST", &format!("/api/v1/approvals/{aid}/approve"), Some(json!({ "comment": "go" })), 200);
    assert_eq!(
        (decided["approval"]["status"].as_str(), decided["job"]["kind"].as_str()),
        (Some("granted"), Some("issue"))
    );
    wait_status(&operator, &cid, "issued", ISSUE_DEADLINE);
    assert_eq!(env.pebble.orders_placed(), 1);

    // --- a renewal of what was approved runs at once; an admin's revocation never waits.
    let renew = operator.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    assert!(renew["job"].is_object() && renew["approval"].is_null(), "{renew}");
    operator.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed", |cert| {
        cert["status"] == json!("issued") && cert["history"].as_array().is_some_and(|h| !h.is_empty())
    });
    let revoke =
        admin.ok("POST", &format!("/api/v1/certificates/{cid}/revoke"), Some(json!({ "reason": "superseded" })), 202);
    assert!(revoke["approval"].is_null(), "an admin's revocation runs at once: {revoke}");
    let story = timeline_events(&operator, &cid);
    for event in ["approval.requested", "approval.granted", "cert.issued"] {
        assert!(story.iter().any(|e| e == event), "{event} in {story:?}");
    }
}

#[test]
fn an_operators_renewal_under_require_all_waits_and_a_rejection_over_graphql_starts_nothing() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[]);
    let owner = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&owner, &env, "renewals", None);
    let body = json!({ "project_id": pid, "common_name": format!("www.{ZONE}"), "key_type": "ecdsa-p256",
        "acme_account_id": account });
    let cid =
        owner.ok("POST", "/api/v1/certificates", Some(body), 202)["certificate"]["id"].as_str().unwrap().to_owned();
    wait_status(&owner, &cid, "issued", ISSUE_DEADLINE);
    let operator = member(&owner, &pid, "operator@acme.test", "operator");
    owner.ok("PUT", &format!("/api/v1/projects/{pid}/approval-policy"), Some(json!({ "require": "all" })), 200);
    let orders = env.pebble.orders_placed();

    let waiting = operator.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    let aid = waiting["approval"]["id"].as_str().unwrap_or_else(|| panic!("waits: {waiting}")).to_owned();
    assert_eq!(waiting["job"], Value::Null, "{waiting}");
    let mutation = format!(
        "mutation {{ rejectRequest(id: \"{aid}\", comment: \"not now\") {{ approval {{ status comment }} job {{ id }} }} }}"
    );
    let answer = owner.ok("POST", "/api/graphql", Some(json!({ "query": mutation })), 200);
    let decided = &answer["data"]["rejectRequest"];
    assert_eq!(decided["approval"]["status"], json!("rejected"), "{answer}");
    assert_eq!(decided["approval"]["comment"], json!("not now"), "{answer}");
    assert_eq!(decided["job"], Value::Null, "{answer}");
    let cert = owner.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200);
    assert_eq!(cert["status"], json!("issued"), "a rejected renewal leaves the certificate as it was: {cert}");
    assert_eq!(env.pebble.orders_placed(), orders, "no order for the rejected renewal");
    assert!(timeline_events(&owner, &cid).iter().any(|e| e == "approval.rejected"));
}
