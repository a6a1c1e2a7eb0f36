//! Certificates issued elsewhere, through the API of the real binary: imported from PEM (with and
//! without the key) and from a PKCS#12 file written by the real `openssl`, they are inventoried
//! `unmanaged` and watched, never renewed; bad input is refused naming its field and stores nothing;
//! the key never shows. Put under management with a Pebble account, one that is due is renewed by
//! the scheduler through that issuer.

use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ElsewhereCa, ZONE};
use serde_json::{Value, json};

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, start, timeline_events};
use crate::process::ApiClient;

const DAY: Duration = Duration::from_secs(86_400);

fn count(c: &ApiClient, pid: &str) -> usize {
    c.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200)["items"].as_array().unwrap().len()
}

#[test]
fn certificates_issued_elsewhere_are_imported_watched_and_put_under_management() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "imports", None);
    let ca = ElsewhereCa::new("Another CA");
    // Ten days into a twelve-day life: past half its lifetime, so due as soon as it is managed.
    let due = ca.leaf(&[&format!("legacy.{ZONE}"), &format!("www.legacy.{ZONE}")], DAY * 10, DAY * 12);
    let other = ca.leaf(&["portal.elsewhere.invalid"], DAY, DAY * 90);
    let third = ca.leaf(&[&format!("p12.{ZONE}")], DAY, DAY * 90);

    // --- refused, each naming its field; nothing stored.
    let body = |extra: Value| {
        let mut b = json!({ "project_id": pid });
        b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        b
    };
    let p12 =
        base64::engine::general_purpose::STANDARD.encode(third.pkcs12(&dir.path().join("p12"), "correct horse", true));
    for (extra, field, says) in [
        (json!({}), "chain_pem", "give chain_pem"),
        (json!({ "chain_pem": "hello" }), "chain_pem", "holds no certificate"),
        (
            json!({ "chain_pem": format!("{}{}", ca.leaf(&["x.test"], DAY, DAY).chain_pem.split_inclusive("-----END CERTIFICATE-----\n").nth(1).unwrap(), due.leaf_pem) }),
            "chain_pem",
            "not in order",
        ),
        (
            json!({ "chain_pem": due.chain_pem, "private_key_pem": other.key_pem }),
            "private_key_pem",
            "not the key of the leaf",
        ),
        (json!({ "chain_pem": due.chain_pem, "pkcs12_base64": p12 }), "pkcs12_base64", "not both"),
        (json!({ "pkcs12_base64": p12, "password": "wrong" }), "pkcs12_base64", "password is wrong"),
        (json!({ "pkcs12_base64": p12 }), "password", "password"),
    ] {
        let (status, refused) = c.call("POST", "/api/v1/certificates/import", Some(body(extra)));
        assert_eq!((status, refused["field"].as_str()), (422, Some(field)), "{refused}");
        assert!(refused["detail"].as_str().unwrap().contains(says), "{refused}");
        assert!(!refused.to_string().contains("PRIVATE KEY"), "no key in a refusal: {refused}");
    }
    assert_eq!(count(&c, &pid), 0, "a refused import stores nothing");

    // --- imported: unmanaged, no issuer, the leaf's facts; the key held but never shown.
    let imported = c.ok(
        "POST",
        "/api/v1/certificates/import",
        Some(body(json!({ "chain_pem": due.chain_pem, "private_key_pem": due.key_pem }))),
        201,
    );
    assert_eq!(
        (imported["status"].as_str(), imported["origin"].as_str()),
        (Some("unmanaged"), Some("imported")),
        "{imported}"
    );
    assert_eq!(
        (imported["acme_account_id"].clone(), imported["renew_at"].clone()),
        (Value::Null, Value::Null),
        "{imported}"
    );
    assert_eq!(imported["sans"], json!([format!("legacy.{ZONE}"), format!("www.legacy.{ZONE}")]));
    assert!(imported["expires_in_seconds"].as_i64().unwrap() > 0);
    let cid = imported["id"].as_str().unwrap().to_owned();
    let (status, again) =
        c.call("POST", "/api/v1/certificates/import", Some(body(json!({ "chain_pem": due.chain_pem }))));
    assert_eq!(status, 409, "the same certificate twice: {again}");
    let bare = c.ok("POST", "/api/v1/certificates/import", Some(body(json!({ "chain_pem": other.chain_pem }))), 201);
    assert_eq!(bare["status"], json!("unmanaged"));
    let from_p12 = c.ok(
        "POST",
        "/api/v1/certificates/import",
        Some(body(json!({ "pkcs12_base64": p12, "password": "correct horse" }))),
        201,
    );
    assert_eq!(from_p12["common_name"], json!(format!("p12.{ZONE}")), "{from_p12}");
    assert!(timeline_events(&c, &cid).iter().any(|e| e == "cert.imported"), "{:?}", timeline_events(&c, &cid));
    let audit = c.ok("GET", &format!("/api/v1/audit/events?project_id={pid}&action=cert.imported"), None, 200);
    let withs: Vec<bool> =
        audit["items"].as_array().unwrap().iter().map(|e| e["details"]["with_key"].as_bool().unwrap()).collect();
    assert_eq!(withs.iter().filter(|w| **w).count(), 2, "{audit}");
    for page in [
        format!("/api/v1/certificates/{cid}"),
        format!("/api/v1/certificates?project_id={pid}"),
        format!("/api/v1/certificates/{cid}/timeline"),
        format!("/api/v1/audit/events?project_id={pid}"),
    ] {
        let text = c.ok("GET", &page, None, 200).to_string();
        assert!(!text.contains("PRIVATE KEY") && !text.contains("correct horse"), "{page} shows a secret");
    }

    // --- watched, not renewed: a renewal is refused; the scheduler leaves it alone.
    let (status, refused) = c.call("POST", &format!("/api/v1/certificates/{cid}/renew"), None);
    assert_eq!(status, 409, "{refused}");

    // --- put under management: refused for names no zone serves, or twice; then renewed by Pebble.
    let bare_id = bare["id"].as_str().unwrap();
    let manage = |version: &Value| json!({ "version": version, "acme_account_id": account });
    let (status, refused) =
        c.call("POST", &format!("/api/v1/certificates/{bare_id}/manage"), Some(manage(&bare["version"])));
    assert_eq!((status, refused["field"].as_str()), (422, Some("sans[0]")), "{refused}");
    let managed = c.ok("POST", &format!("/api/v1/certificates/{cid}/manage"), Some(manage(&imported["version"])), 200);
    assert_eq!(
        (managed["status"].as_str(), managed["acme_account_id"].as_str()),
        (Some("issued"), Some(account.as_str())),
        "{managed}"
    );
    let (status, _) = c.call("POST", &format!("/api/v1/certificates/{cid}/manage"), Some(manage(&managed["version"])));
    assert_eq!(status, 409, "already managed");
    let serial = imported["serial"].clone();
    let renewed = c.wait_for(&format!("/api/v1/certificates/{cid}"), ISSUE_DEADLINE, "renewed by the issuer", |cert| {
        cert["status"] == json!("issued") && cert["serial"] != serial
    });
    assert_eq!(renewed["issued_by"], json!(account), "{renewed}");
    assert_eq!(renewed["history"][0]["serial"], serial, "the imported certificate is kept in the history");
    let events = timeline_events(&c, &cid);
    assert!(events.iter().any(|e| e == "cert.managed") && events.iter().any(|e| e == "cert.renewed"), "{events:?}");
    assert_eq!(env.pebble.certificates_issued(), 1);

    // --- an unmanaged certificate, valid or not, is deleted without revoking it (it was issued
    // elsewhere): deleting only stops watching it.
    c.ok("DELETE", &format!("/api/v1/certificates/{bare_id}"), None, 204);
    c.ok("GET", &format!("/api/v1/certificates/{bare_id}"), None, 404);
}
