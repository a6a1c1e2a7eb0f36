//! CSR-based issuance end to end through the API of the real binary, against Pebble: the operator
//! brings a CSR and keeps the key; the certificate takes its names and key type from it, the
//! issued leaf carries the CSR's key, a renewal finalizes with the same CSR, and no private key is
//! ever held, so a target that installs one refuses with the reason while a webhook (chain only)
//! delivers. Requests a CSR cannot make are refused naming the field, storing nothing.

use base64::Engine;
use certautopilot_connectors::acme::{csr_for_key, generate_key, public_key_der};
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE};
use certautopilot_connectors::x509::leaf_summary;
use certautopilot_core::model::KeyType;
use serde_json::{Value, json};

use crate::distribution::{Receiver, deployments};
use crate::issuance::{ISSUE_DEADLINE, install_ring, project, start, wait_status};
use crate::process::ApiClient;

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n", lines.join("\n"))
}

fn serial_of(c: &ApiClient, cid: &str) -> Option<String> {
    c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200)["serial"].as_str().map(str::to_owned)
}

#[test]
fn a_certificate_from_the_operators_csr_holds_no_key() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "csr", None);
    let key = generate_key(KeyType::EcdsaP384).unwrap();
    let names = vec![format!("www.{ZONE}"), format!("api.{ZONE}")];
    let csr = pem(&csr_for_key(&key, &names).unwrap());

    // --- refused, nothing stored: garbage, names typed beside the CSR, another key type, a name
    // no zone of the project serves.
    let elsewhere = pem(&csr_for_key(&key, &["www.elsewhere.example".to_owned()]).unwrap());
    for (body, field, says) in [
        (
            json!({ "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n" }),
            "csr_pem",
            "the CSR is not a readable",
        ),
        (json!({ "csr_pem": csr, "common_name": names[0] }), "common_name", "comes from the CSR"),
        (json!({ "csr_pem": csr, "key_type": "ecdsa-p256" }), "key_type", "the CSR's key is ecdsa-p384"),
        (json!({ "csr_pem": elsewhere }), "common_name", "no zone of this project serves"),
        (json!({ "common_name": names[0] }), "key_type", "or give csr_pem"),
    ] {
        let mut request = json!({ "project_id": pid, "acme_account_id": account });
        request.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let (status, refused) = c.call("POST", "/api/v1/certificates", Some(request));
        assert_eq!((status, refused["field"].as_str()), (422, Some(field)), "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains(says), "{refused}");
    }
    let listed = c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    assert_eq!(listed["items"], json!([]), "a refused request stores nothing");

    // --- a file target (installs a key) and a webhook (the chain only).
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "nginx", "type": "file",
        "config": { "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem") } })),
        201,
    )["id"]
        .clone();
    let hook = Receiver::start(vec![200]);
    let webhook = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "hook", "type": "webhook",
        "config": { "url": hook.url(), "hmac_secret": "webhook-shared-secret-0123456789" } })),
        201,
    )["id"]
        .clone();

    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "acme_account_id": account, "csr_pem": csr, "target_ids": [file, webhook] })),
        202,
    );
    let cert = &created["certificate"];
    assert_eq!((cert["common_name"].clone(), cert["sans"].clone()), (json!(names[0]), json!(names)), "{cert}");
    assert_eq!((cert["key_type"].clone(), cert["from_csr"].clone()), (json!("ecdsa-p384"), json!(true)), "{cert}");
    let cid = cert["id"].as_str().unwrap().to_owned();
    wait_status(&c, &cid, "issued", ISSUE_DEADLINE);
    let (_, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    let spki = public_key_der(&key).unwrap();
    let leaf = leaf_summary(&chain, Some(&spki)).expect("the leaf carries the CSR's key");
    assert_eq!(leaf.dns_names.len(), 2);

    let items = deployments(&c, &cid, "both targets tried", |items| {
        items.len() == 2 && items.iter().all(|d| d["status"] != json!("pending") && d["status"] != json!("deploying"))
    });
    let of = |target: &Value| items.iter().find(|d| d["target_id"] == *target).unwrap().clone();
    assert_eq!(of(&webhook)["status"], json!("deployed"), "{items:?}");
    assert_eq!(of(&file)["status"], json!("failed"), "{items:?}");
    assert!(of(&file)["last_error"].as_str().unwrap().contains("issued from your CSR"), "{items:?}");
    assert!(!out.join("key.pem").exists() && !out.join("cert.pem").exists(), "nothing half-installed");
    let (_, body) = hook.requests.lock().unwrap().last().cloned().unwrap();
    let document: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["chain_pem"], json!(chain));

    // --- a renewal finalizes with the same CSR: a new certificate, the same key.
    let first = serial_of(&c, &cid);
    c.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed", |cert| {
        cert["status"] == json!("issued") && cert["serial"].as_str().map(str::to_owned) != first
    });
    let (_, renewed) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_ne!(renewed, chain);
    leaf_summary(&renewed, Some(&spki)).expect("the renewed leaf carries the CSR's key too");
    let gql = c.ok(
        "POST",
        "/api/graphql",
        Some(json!({ "query": "query($id: ID!) { certificate(id: $id) { fromCsr keyType } }", "variables": { "id": cid } })),
        200,
    );
    assert_eq!(gql["data"]["certificate"], json!({ "fromCsr": true, "keyType": "ecdsa-p384" }), "{gql}");

    // --- the policy `new`: after switching, the CSR in hand made the current certificate, so a
    // renewal waits for a new one; a new CSR (a new key) lets it renew, and then it waits again.
    let version = c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200)["version"].clone();
    let waiting = c.ok(
        "PATCH",
        &format!("/api/v1/certificates/{cid}"),
        Some(json!({ "version": version, "csr_renewal": "new" })),
        200,
    );
    assert_eq!(
        (waiting["csr_renewal"].as_str(), waiting["waiting_for_csr"].as_bool()),
        (Some("new"), Some(true)),
        "{waiting}"
    );
    let (status, refused) = c.call("POST", &format!("/api/v1/certificates/{cid}/renew"), None);
    assert_eq!(status, 409, "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("new CSR"), "{refused}");
    let same_key = pem(&csr_for_key(&key, &names).unwrap());
    let (status, refused) = c.call(
        "PATCH",
        &format!("/api/v1/certificates/{cid}"),
        Some(json!({ "version": waiting["version"], "csr_pem": same_key })),
    );
    assert_eq!((status, refused["field"].as_str()), (422, Some("csr_pem")), "a new CSR with the old key: {refused}");
    let new_key = generate_key(KeyType::EcdsaP384).unwrap();
    let new_csr = pem(&csr_for_key(&new_key, &names).unwrap());
    let given = c.ok(
        "PATCH",
        &format!("/api/v1/certificates/{cid}"),
        Some(json!({ "version": waiting["version"], "csr_pem": new_csr })),
        200,
    );
    assert_eq!(given["waiting_for_csr"], json!(false), "{given}");
    let before = serial_of(&c, &cid);
    c.ok("POST", &format!("/api/v1/certificates/{cid}/renew"), None, 202);
    let renewed =
        c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed with the new CSR", |cert| {
            cert["status"] == json!("issued") && cert["serial"].as_str().map(str::to_owned) != before
        });
    assert_eq!(renewed["waiting_for_csr"], json!(true), "the new CSR is used up in turn: {renewed}");
    let (_, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    leaf_summary(&chain, Some(&public_key_der(&new_key).unwrap())).expect("the renewed leaf carries the new key");
}
