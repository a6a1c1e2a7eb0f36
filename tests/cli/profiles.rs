//! ACME profiles end to end through the API of the real binary: Debian's Pebble offers none, so a
//! front for it (test support) adds `meta.profiles` to its directory and records what each new
//! order asks for. An account keeps the profiles its CA offers; a certificate chooses one of them,
//! which its orders carry; a profile the CA does not offer is refused naming `profile`.

use certautopilot_chaos_tests::harness::bind_zones;
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, FaultyCa, FrontOptions, ZONE};
use serde_json::json;

use crate::issuance::{ISSUE_DEADLINE, account_body, install_ring, start, wait_status};
use crate::process::ApiClient;

#[test]
fn a_certificate_orders_with_the_profile_it_chose() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let profiles = vec![
        ("classic".to_owned(), "The profile certificates had before profiles".to_owned()),
        ("shortlived".to_owned(), "Six-day certificates".to_owned()),
    ];
    let options = FrontOptions { profiles, ..Default::default() };
    let front =
        FaultyCa::start(&dir.path().join("front"), &env.pebble.directory_url(), &env.pebble.https_ca_pem(), options);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let pid =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "profiles" })), 201)["id"].as_str().unwrap().to_owned();
    bind_zones(&c, &env, &pid, &[]);
    let mut body = account_body(&env.pebble, &pid, "with profiles");
    body["directory_url"] = json!(front.directory_url());
    body["ca_bundle_pem"] = json!(front.https_ca_pem());
    let account = c.ok("POST", "/api/v1/acme-accounts", Some(body), 201);
    let names: Vec<&str> =
        account["profiles"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["classic", "shortlived"], "{account}");
    let plain = c.ok("POST", "/api/v1/acme-accounts", Some(account_body(&env.pebble, &pid, "plain")), 201);
    assert_eq!(plain["profiles"], json!([]), "Pebble itself offers none");

    // --- refused: a profile the CA does not offer, a malformed one, any at a CA without profiles.
    let request = |account: &serde_json::Value, name: &str, profile: Option<&str>| {
        json!({ "project_id": pid, "common_name": format!("{name}.{ZONE}"), "key_type": "ecdsa-p256",
            "acme_account_id": account["id"], "profile": profile })
    };
    for (acct, profile, says) in [
        (&account, "tlsserver", "the account's CA offers classic, shortlived"),
        (&account, "bad name!", "must be 1 to 64 of"),
        (&plain, "shortlived", "offers no profiles"),
    ] {
        let (status, refused) = c.call("POST", "/api/v1/certificates", Some(request(acct, "refused", Some(profile))));
        assert_eq!((status, refused["field"].as_str()), (422, Some("profile")), "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains(says), "{refused}");
    }
    let listed = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    assert_eq!(listed["items"], json!([]), "a refused request stores nothing");

    // --- chosen: the order carries it, the certificate shows it; without one the order names none.
    let created = c.ok("POST", "/api/v1/certificates", Some(request(&account, "short", Some("shortlived"))), 202);
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();
    let issued = wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    assert_eq!(issued["profile"], json!("shortlived"), "{issued}");
    let plain_cert = c.ok("POST", "/api/v1/certificates", Some(request(&account, "default", None)), 202);
    wait_status(&c, plain_cert["certificate"]["id"].as_str().unwrap(), "issued", ISSUE_DEADLINE);
    assert_eq!(front.ordered_profiles(), [Some("shortlived".to_owned()), None]);
    let query = json!({ "query": "query($id: ID!) { certificate(id: $id) { profile account { profiles { name description } } } }",
        "variables": { "id": cid } });
    let gql = c.ok("POST", "/api/graphql", Some(query), 200);
    assert_eq!(gql["data"]["certificate"]["profile"], json!("shortlived"), "{gql}");
    assert_eq!(
        gql["data"]["certificate"]["account"]["profiles"][1]["description"],
        json!("Six-day certificates"),
        "{gql}"
    );
}
