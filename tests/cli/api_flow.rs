//! The operator's path with nothing but HTTP, against the real binary: set up, log in, create a
//! project, a user and a membership, then one of every resource; every path used is in the served
//! OpenAPI document. And `certautopilot setup` on the command line, password on standard input.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use certautopilot_connectors::testsupport::{Pebble, PebbleOptions};
use serde_json::json;

use crate::process::{ApiClient as Client, Server, command, wait_for_status};

/// Setup → login → project → user → member → ACME account → DNS credential → zone → target →
/// certificate (202 with its issue job), all over plain HTTP; then the paths are checked against the
/// OpenAPI document the server publishes.
#[test]
fn a_new_operator_can_do_everything_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let mut c = Client { addr: server.addr, token: None };
    c.ok(
        "POST",
        "/api/v1/setup",
        Some(json!({ "org_name": "Acme", "email": "owner@acme.test", "password": "correct horse battery staple" })),
        201,
    );
    let (status, again) = c.call(
        "POST",
        "/api/v1/setup",
        Some(json!({ "org_name": "Again", "email": "x@acme.test", "password": "correct horse battery staple" })),
    );
    assert_eq!((status, again["code"].as_str()), (409, Some("already_set_up")));
    let login = c.ok(
        "POST",
        "/api/v1/auth/login",
        Some(json!({ "email": "owner@acme.test", "password": "correct horse battery staple" })),
        200,
    );
    c.token = Some(login["token"].as_str().unwrap().to_owned());

    let project = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "web" })), 201);
    let pid = project["id"].as_str().unwrap().to_owned();
    let user = c.ok(
        "POST",
        "/api/v1/users",
        Some(json!({ "email": "ops@acme.test", "password": "another long password" })),
        201,
    );
    c.ok(
        "POST",
        &format!("/api/v1/projects/{pid}/members"),
        Some(json!({ "user_id": user["id"], "role": "operator" })),
        201,
    );
    // Saving an account fetches its CA's directory (issue 15, item 4): a real Pebble answers it.
    let pebble_dir = tempfile::tempdir().unwrap();
    let pebble = Pebble::start(pebble_dir.path(), PebbleOptions::new("127.0.0.1:53".parse().unwrap()));
    let account = c.ok(
        "POST",
        "/api/v1/acme-accounts",
        Some(json!({ "project_id": pid, "name": "pebble",
        "directory_url": pebble.directory_url(), "ca_bundle_pem": pebble.https_ca_pem(),
        "contact": ["mailto:ops@acme.test"], "tos_agreed": true,
        "eab_kid": "kid-1", "eab_hmac_key": "c2VjcmV0LWhtYWMta2V5LXZhbHVl" })),
        201,
    );
    let credential = c.ok("POST", "/api/v1/dns-credentials", Some(json!({ "project_id": pid, "name": "bind",
        "provider": "rfc2136", "config": { "server": "127.0.0.1:5353", "key_name": "update.acme.test.", "algorithm": "hmac-sha256",
        "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" } })), 201);
    c.ok(
        "POST",
        "/api/v1/zones",
        Some(json!({ "project_id": pid, "apex": "acme.test", "credential_id": credential["id"] })),
        201,
    );
    // This host's operator allowed no directory: file targets are refused, naming the setting.
    let file = json!({ "project_id": pid, "name": "nginx", "type": "file",
        "config": { "cert_path": "/etc/nginx/tls/cert.pem", "key_path": "/etc/nginx/tls/key.pem" } });
    let refused = c.ok("POST", "/api/v1/targets", Some(file), 422);
    assert_eq!(refused["field"], json!("config.cert_path"));
    assert!(refused["detail"].as_str().unwrap().contains("[targets.file] allowed_dirs"), "{refused}");
    let target = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "hook", "type": "webhook",
        "config": { "url": "https://hooks.acme.test/tls", "hmac_secret": "0123456789abcdef0123" } })),
        201,
    );
    let created = c.ok("POST", "/api/v1/certificates", Some(json!({ "project_id": pid, "common_name": "www.acme.test",
        "sans": ["api.acme.test"], "key_type": "ecdsa-p256", "acme_account_id": account["id"], "target_ids": [target["id"]] })), 202);
    assert_eq!(created["certificate"]["status"], json!("requested"));
    assert_eq!(created["job"]["kind"], json!("issue"));
    let cid = created["certificate"]["id"].as_str().unwrap();
    let cert = c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200);
    assert_eq!(cert["sans"], json!(["www.acme.test", "api.acme.test"]));
    let jobs = c.ok("GET", &format!("/api/v1/jobs?project_id={pid}"), None, 200);
    assert_eq!(jobs["items"].as_array().unwrap().len(), 1);

    // The member logs in and sees the project; the operator role cannot add accounts.
    let mut ops = Client { addr: server.addr, token: None };
    let login = ops.ok(
        "POST",
        "/api/v1/auth/login",
        Some(json!({ "email": "ops@acme.test", "password": "another long password" })),
        200,
    );
    ops.token = Some(login["token"].as_str().unwrap().to_owned());
    assert_eq!(ops.ok("GET", "/api/v1/projects", None, 200)["items"][0]["id"], json!(pid));
    let (status, _) = ops.call(
        "POST",
        "/api/v1/acme-accounts",
        Some(json!({ "project_id": pid, "name": "x", "directory_url": "https://ca.test/d", "tos_agreed": true })),
    );
    assert_eq!(status, 403);

    let document = c.ok("GET", "/api/v1/openapi.json", None, 200);
    assert_eq!(document["openapi"], json!("3.1.0"));
    let paths = document["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/setup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/projects", "post"),
        ("/api/v1/users", "post"),
        ("/api/v1/projects/{id}/members", "post"),
        ("/api/v1/acme-accounts", "post"),
        ("/api/v1/dns-credentials", "post"),
        ("/api/v1/zones", "post"),
        ("/api/v1/targets", "post"),
        ("/api/v1/certificates", "post"),
        ("/api/v1/certificates/{id}", "get"),
        ("/api/v1/jobs", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
}

/// `certautopilot setup` takes the password on standard input (never argv), creates the owner who
/// can then log in, and refuses a second setup.
#[test]
fn setup_on_the_command_line_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let run = |email: &str| {
        let mut child = command(dir.path())
            .args(["setup", "--org", "Acme", "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"a long enough password\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let first = run("owner@acme.test");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert!(String::from_utf8_lossy(&first.stdout).contains("owner owner@acme.test"));
    let second = run("other@acme.test");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already set up"),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );

    let server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let c = Client { addr: server.addr, token: None };
    c.ok(
        "POST",
        "/api/v1/auth/login",
        Some(json!({ "email": "owner@acme.test", "password": "a long enough password" })),
        200,
    );
}
