//! Schema fuzzing: schemathesis (installed by `scripts/test`) generates requests from the OpenAPI
//! document the server serves, with an owner's API token, and checks that no answer is a server
//! error or breaks the documented schema, status codes or content types.

use std::process::Command;
use std::time::Duration;

use certautopilot_connectors::testsupport::{Pebble, PebbleOptions};
use serde_json::{Value, json};

use crate::process::{Server, post_json, wait_for_status};

fn post(addr: std::net::SocketAddr, path: &str, token: Option<&str>, body: Value) -> Value {
    let (status, value) = post_json(addr, path, token, body);
    assert!((200..300).contains(&status), "{path}: {status} {value}");
    value
}

#[test]
fn schemathesis_finds_no_server_errors_or_schema_violations() {
    let Ok(version) = Command::new("schemathesis").arg("--version").output() else {
        panic!("schemathesis is not installed: run ./scripts/test, which installs it");
    };
    assert!(version.status.success());
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let addr = server.addr;
    post(
        addr,
        "/api/v1/setup",
        None,
        json!({ "org_name": "Fuzz", "email": "owner@fuzz.test", "password": "correct horse battery staple" }),
    );
    let login = post(
        addr,
        "/api/v1/auth/login",
        None,
        json!({ "email": "owner@fuzz.test", "password": "correct horse battery staple" }),
    );
    let session = login["token"].as_str().unwrap();
    let token = post(addr, "/api/v1/auth/tokens", Some(session), json!({ "name": "fuzz" }))["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Some real objects, so generated ids and project filters sometimes hit something.
    let project = post(addr, "/api/v1/projects", Some(&token), json!({ "name": "fuzzed" }));
    // Saving an account fetches its CA's directory (issue 15, item 4): a real Pebble answers it.
    let pebble = Pebble::start(&dir.path().join("pebble"), PebbleOptions::new("127.0.0.1:53".parse().unwrap()));
    post(
        addr,
        "/api/v1/acme-accounts",
        Some(&token),
        json!({ "project_id": project["id"], "name": "a", "directory_url": pebble.directory_url(),
            "ca_bundle_pem": pebble.https_ca_pem(), "tos_agreed": true }),
    );

    let output = Command::new("schemathesis")
        .args(["run", &format!("http://{addr}/api/v1/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
        ])
        // Logout would end the fuzzer's own session; everything else is fair game.
        .args(["--exclude-path", "/api/v1/auth/logout"])
        .args(["--max-examples", "25", "--seed", "4711", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .output()
        .expect("run schemathesis");
    let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis reported failures:\n{report}");
    assert!(report.contains("Tested:"), "schemathesis ran no operation:\n{report}");
}
