//! The organization from the command line (`org show`, `org set-retention`, `org transfer-owner`), as an
//! owner runs it against a real `serve`: the password read from standard input, a wrong one
//! refused with the documented exit code and nothing changed, then the named user owns the
//! organization and the old owner's stored token at once has no owner's powers.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::issuance::start;
use crate::process::{ApiClient, command};

const OWNER_PASSWORD: &str = "correct horse battery staple";

/// Runs the client in its own configuration home with `stdin`; (exit code, everything it printed).
pub(crate) fn run_client(dir: &Path, home: &Path, args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = command(dir)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), said)
}

#[test]
fn the_owner_hands_the_organization_over_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let api = ApiClient::setup_and_login(server.addr);
    let next = api.ok(
        "POST",
        "/api/v1/users",
        Some(json!({ "email": "next@acme.test", "password": "next owner's password" })),
        201,
    );
    let home = dir.path().join("home");
    let url = format!("http://{}", server.addr);
    let (code, said) = run_client(
        dir.path(),
        &home,
        &["login", "--server", &url, "--email", "owner@acme.test"],
        &format!("{OWNER_PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{said}");

    // The audit retention, set and taken back; a value past the bound is refused (exit 6).
    let (code, said) = run_client(dir.path(), &home, &["org", "set-retention", "--days", "30", "-o", "json"], "");
    assert!(code == 0 && said.contains("\"audit_retention_days\": 30"), "{said}");
    let (code, said) = run_client(dir.path(), &home, &["org", "set-retention", "--days", "40000"], "");
    assert!(code == 6 && said.contains("must be 0 to 36500"), "{said}");
    let (code, said) = run_client(dir.path(), &home, &["org", "set-retention", "--forever", "-o", "json"], "");
    assert!(code == 0 && said.contains("\"audit_retention_days\": null"), "{said}");
    let (code, said) =
        run_client(dir.path(), &home, &["org", "transfer-owner", "--to", "Next@acme.test"], "not the password\n");
    assert_eq!(code, 4, "refused (403: reauthentication_required): {said}");
    assert!(said.contains("the password is wrong") && said.contains("reauthentication_required"), "{said}");
    assert!(!said.contains("not the password"), "the password is never echoed: {said}");
    let (code, said) = run_client(dir.path(), &home, &["org", "show", "-o", "json"], "");
    assert_eq!(code, 0, "{said}");
    let shown: Value = serde_json::from_str(said.trim()).unwrap();
    assert_eq!(shown["owner"]["email"], json!("owner@acme.test"), "nothing changed");

    let (code, said) = run_client(
        dir.path(),
        &home,
        &["org", "transfer-owner", "--to", "Next@acme.test", "-o", "json"],
        &format!("{OWNER_PASSWORD}\n"),
    );
    assert_eq!(code, 0, "{said}");
    assert!(said.contains(&format!("\"id\": \"{}\"", next["id"].as_str().unwrap())), "{said}");
    let (code, said) = run_client(dir.path(), &home, &["project", "create", "--name", "after"], "");
    assert_eq!(code, 4, "the old owner's token creates no project now: {said}");
    let events = api.ok("GET", "/api/v1/audit/events?action=org.owner_transferred", None, 403);
    assert_eq!(events["code"], json!("forbidden"), "the old owner's session reads no audit either");
}
