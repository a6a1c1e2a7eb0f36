//! Fallback issuers end to end through the API of the real binary, with two real Pebbles (each
//! validating through the same BIND): a first CA that rate-limits new orders (a front refusing them
//! as Let's Encrypt does) or is stopped hands the certificate to the next issuer, which is recorded,
//! audited and shown; once the first CA is back, a renewal returns to it. A fallback list that
//! names the first issuer, an account twice or an unknown account is refused and stores nothing.

use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, FaultyCa, FrontOptions, Pebble, PebbleOptions, ZONE,
};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, account_body, install_ring, project, start, timeline_events, wait_status};
use crate::process::ApiClient;

fn request(pid: &str, name: &str, first: &str, fallbacks: &[&str]) -> Value {
    json!({ "project_id": pid, "common_name": format!("{name}.{ZONE}"), "key_type": "ecdsa-p256",
        "acme_account_id": first, "fallback_account_ids": fallbacks })
}

fn issued(c: &ApiClient, body: Value) -> Value {
    let created = c.ok("POST", "/api/v1/certificates", Some(body), 202);
    wait_status(c, created["certificate"]["id"].as_str().unwrap(), "issued", ISSUE_DEADLINE)
}

#[test]
fn a_certificate_falls_back_to_the_next_issuer_and_returns_to_the_first() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let mut env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let second = Pebble::start(&dir.path().join("pebble-2"), PebbleOptions::new(env.bind.addr()));
    let limiting = FrontOptions { rate_limit_orders: true, ..Default::default() };
    let front =
        FaultyCa::start(&dir.path().join("front"), &env.pebble.directory_url(), &env.pebble.https_ca_pem(), limiting);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, first) = project(&c, &env, "fallback", None);
    let fallback = c.ok("POST", "/api/v1/acme-accounts", Some(account_body(&second, &pid, "second CA")), 201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = account_body(&env.pebble, &pid, "rate-limiting CA");
    body["directory_url"] = json!(front.directory_url());
    body["ca_bundle_pem"] = json!(front.https_ca_pem());
    let limited = c.ok("POST", "/api/v1/acme-accounts", Some(body), 201)["id"].as_str().unwrap().to_owned();

    // --- refused, storing nothing: the first issuer again, an account twice, an unknown account.
    let unknown = "0193b4c2-0000-7000-8000-000000000000";
    for (fallbacks, field, says) in [
        (vec![first.as_str()], "fallback_account_ids[0]", "is the certificate's first issuer"),
        (vec![fallback.as_str(), fallback.as_str()], "fallback_account_ids[1]", "is named twice"),
        (vec![unknown], "fallback_account_ids[0]", "acme account"),
    ] {
        let (status, refused) =
            c.call("POST", "/api/v1/certificates", Some(request(&pid, "refused", &first, &fallbacks)));
        assert_eq!((status, refused["field"].as_str()), (422, Some(field)), "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains(says), "{refused}");
    }
    let listed = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    assert_eq!(listed["items"], json!([]), "a refused request stores nothing");

    // --- the first CA rate-limits new orders: the second issues, and that is recorded and audited.
    let cert = issued(&c, request(&pid, "limited", &limited, &[&fallback]));
    assert!(front.rate_limited() >= 1, "the first CA was asked first");
    assert_eq!(cert["issued_by"], json!(fallback), "{cert}");
    assert_eq!(cert["fallback_account_ids"], json!([fallback]), "{cert}");
    assert_eq!(cert["last_error"], Value::Null, "{cert}");
    let cid = cert["id"].as_str().unwrap();
    assert!(timeline_events(&c, cid).iter().any(|e| e == "cert.issuer_fallback"), "{:?}", timeline_events(&c, cid));
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.issuer_fallback"), None, 200);
    let entry = &audit["items"][0]["details"];
    assert_eq!(
        (entry["from_account_id"].as_str(), entry["to_account_id"].as_str()),
        (Some(limited.as_str()), Some(fallback.as_str())),
        "{audit}"
    );
    assert!(entry["reason"].as_str().unwrap().contains("rateLimited"), "{audit}");

    // --- the first CA is down: the second issues; once it is back, a renewal returns to it.
    env.pebble.stop();
    let cert = issued(&c, request(&pid, "down", &first, &[&fallback]));
    assert_eq!(cert["issued_by"], json!(fallback), "{cert}");
    let cid = cert["id"].as_str().unwrap().to_owned();
    let serial = cert["serial"].clone();
    env.pebble.restart();
    c.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    let renewed = c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed", |cert| {
        cert["status"] == json!("issued") && cert["serial"] != serial
    });
    assert_eq!(renewed["issued_by"], json!(first), "back to the first issuer: {renewed}");

    // --- shown in GraphQL; an account a certificate falls back to cannot be deleted.
    let query = json!({ "query": "query($id: ID!) { certificate(id: $id) { issuedBy fallbackAccountIds keepFallbackIssuer } }",
        "variables": { "id": cid } });
    let gql = c.ok("POST", "/api/graphql", Some(query), 200);
    assert_eq!(
        gql["data"]["certificate"],
        json!({ "issuedBy": first, "fallbackAccountIds": [fallback], "keepFallbackIssuer": false }),
        "{gql}"
    );
    let (status, refused) = c.call("DELETE", &format!("/api/v1/acme-accounts/{fallback}"), None);
    assert_eq!(status, 409, "{refused}");
}
