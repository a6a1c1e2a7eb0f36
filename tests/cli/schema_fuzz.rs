//! Schema fuzzing with schemathesis (installed by `scripts/test`) against the real binary, as an
//! owner with an API token, on a service seeded with a project, an ACME account (on Pebble) and a
//! DNS credential holding a known secret. REST: requests generated from the served OpenAPI document;
//! no answer is a server error or breaks the documented schema, status codes or content types.
//! GraphQL: queries and mutations generated from the served schema; no answer is a 5xx or a GraphQL
//! error with code `internal`, and no answer holds a seeded secret.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{Pebble, PebbleOptions};
use serde_json::{Value, json};

use crate::process::{Server, http_get, post_json, wait_for_status};

const PASSWORD: &str = "correct horse battery staple";
/// The seeded DNS credential's TSIG secret: it must never come back in any answer.
const TSIG_SECRET: &str = "c2VlZGVkLXRzaWctc2VjcmV0LWZvci1mdXp6LXRlc3Q=";

fn post(addr: std::net::SocketAddr, path: &str, token: Option<&str>, body: Value) -> Value {
    let (status, value) = post_json(addr, path, token, body);
    assert!((200..300).contains(&status), "{path}: {status} {value}");
    value
}

/// A running service with an owner's API token and some real records, so that generated ids and
/// project filters sometimes hit something.
struct SeededService {
    server: Server,
    token: String,
    _pebble: Pebble,
    dir: tempfile::TempDir,
}

impl SeededService {
    /// Starts `serve` with `env` added, sets it up and seeds it.
    fn start(env: &[(&str, &str)]) -> SeededService {
        let Ok(version) = Command::new("schemathesis").arg("--version").output() else {
            panic!("schemathesis is not installed: run ./scripts/test, which installs it");
        };
        assert!(version.status.success());
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), &[], env);
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        let addr = server.addr;
        let setup = json!({ "org_name": "Fuzz", "email": "owner@fuzz.test", "password": PASSWORD });
        post(addr, "/api/v1/setup", None, setup);
        let login = post(addr, "/api/v1/auth/login", None, json!({ "email": "owner@fuzz.test", "password": PASSWORD }));
        let session = login["token"].as_str().unwrap();
        let token = post(addr, "/api/v1/auth/tokens", Some(session), json!({ "name": "fuzz" }))["token"]
            .as_str()
            .unwrap()
            .to_owned();
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
        let credential = post(
            addr,
            "/api/v1/dns-credentials",
            Some(&token),
            json!({ "project_id": project["id"], "name": "bind", "provider": "rfc2136", "config": {
                "server": "127.0.0.1:53", "key_name": "fuzz-key.", "algorithm": "hmac-sha256",
                "secret": TSIG_SECRET, "nameservers": ["127.0.0.1:53"] } }),
        );
        post(
            addr,
            "/api/v1/zones",
            Some(&token),
            json!({ "project_id": project["id"], "apex": "fuzz.test", "credential_id": credential["id"] }),
        );
        SeededService { server, token, _pebble: pebble, dir }
    }

    /// Runs schemathesis on the schema at `location` (a URL or a file) with the owner's token and `args`.
    fn schemathesis(&self, location: &str, args: &[&str]) -> (Output, String) {
        let output = Command::new("schemathesis")
            .args(["run", location])
            .args(["--header", &format!("Authorization: Bearer {}", self.token)])
            .args(["--seed", "4711", "--no-color"])
            .args(args)
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(self.dir.path())
            .output()
            .expect("run schemathesis");
        let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output, report)
    }
}

/// REST operations the REST fuzz leaves out: they make the server reach the hosts they name, and
/// generated names (or a catalogue CA such as `letsencrypt`) are not loopback.
const REST_NOT_FUZZED: &[&str] =
    &["createAcmeAccount", "updateAcmeAccount", "createTarget", "updateTarget", "createDnsCredential"];

#[test]
fn schemathesis_finds_no_server_errors_or_schema_violations() {
    // Denying every network but loopback backs up the exclusions, as in the GraphQL fuzz.
    let service = SeededService::start(&[
        ("CERTAUTOPILOT_EGRESS__DENY", "0.0.0.0/0,::/0"),
        ("CERTAUTOPILOT_EGRESS__ALLOW", "127.0.0.0/8"),
    ]);
    let url = format!("http://{}/api/v1/openapi.json", service.server.addr);
    let mut args = vec![
        "--checks",
        "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance",
        // Logout would end the fuzzer's own session.
        "--exclude-path",
        "/api/v1/auth/logout",
        "--max-examples",
        "25",
    ];
    for id in REST_NOT_FUZZED {
        args.extend(["--exclude-operation-id", id]);
    }
    let (output, report) = service.schemathesis(&url, &args);
    assert!(output.status.success(), "schemathesis reported failures:\n{report}");
    assert!(report.contains("Tested:"), "schemathesis ran no operation:\n{report}");
}

/// GraphQL operations the GraphQL fuzz leaves out, each with its reason.
const GRAPHQL_NOT_FUZZED: &[(&str, &str)] = &[
    // They end the fuzzer's own access (its token, its owner) once it finds their ids.
    ("Mutation.revokeApiToken", "revokes the fuzzer's own token"),
    ("Mutation.disableUser", "disables the fuzzer's owner"),
    // Enabling a user revokes their sessions and tokens (a login racing a disable must not
    // survive it), even when the user was enabled: the owner's own id ends the fuzzer's token.
    ("Mutation.enableUser", "revokes the fuzzer's own token when given the owner's id"),
    // They make the server reach the hosts they name, and generated names are not loopback.
    ("Mutation.createAcmeAccount", "fetches the generated directory URL"),
    ("Mutation.updateAcmeAccount", "fetches the generated directory URL"),
    ("Mutation.createTarget", "its scans and deployments reach the generated host"),
    ("Mutation.updateTarget", "its scans and deployments reach the generated host"),
    ("Mutation.createDnsCredential", "issuance sends DNS updates to the generated server"),
];

/// The fuzz's answers as HAR entries: (status, body).
fn har_answers(path: &Path) -> Vec<(u16, String)> {
    let har: Value = serde_json::from_slice(&std::fs::read(path).expect("HAR report written")).expect("HAR is JSON");
    har["log"]["entries"]
        .as_array()
        .expect("HAR entries")
        .iter()
        .map(|e| {
            let status = e["response"]["status"].as_u64().unwrap_or(0) as u16;
            (status, e["response"]["content"]["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// schemathesis generates queries and mutations from the served GraphQL schema (its SDL) and sends
/// them to the seeded service as the owner. Its own GraphQL judgement counts every resolver
/// error as a server error, and ours (`not_found`, `validation_failed`, …) are the caller's, so the
/// answers are judged here from its HAR report: none is a 5xx, none carries an `internal` error, and
/// none holds the seeded secret. Bounded by `--max-examples`, as the REST fuzz.
#[test]
fn graphql_fuzz_finds_no_server_errors_and_no_secrets() {
    // Denying every network but loopback backs up the exclusions: nothing generated leaves the host.
    let service = SeededService::start(&[
        ("CERTAUTOPILOT_EGRESS__DENY", "0.0.0.0/0,::/0"),
        ("CERTAUTOPILOT_EGRESS__ALLOW", "127.0.0.0/8"),
    ]);
    // The served SDL, as a console's tooling would take it (introspection is off outside development).
    let (status, sdl) = http_get(service.server.addr, "/api/graphql/schema.graphql");
    assert_eq!(status, 200);
    let schema = service.dir.path().join("schema.graphql");
    std::fs::write(&schema, sdl).unwrap();
    let har = service.dir.path().join("graphql.har");
    let endpoint = format!("http://{}/api/graphql", service.server.addr);
    let mut args: Vec<String> = [
        "--url",
        &endpoint,
        // schemathesis's GraphQL judgement counts every resolver error as a server error; a check
        // that does not apply to GraphQL leaves the judging to this test, from the HAR report.
        "--checks",
        "response_headers_conformance",
        // About 2,000 requests in ~15 s on 2 cores.
        "--max-examples",
        "40",
        "--generation-database",
        "none",
        "--report",
        "har",
        "--report-har-path",
        &har.display().to_string(),
    ]
    .map(str::to_owned)
    .to_vec();
    for (name, _why) in GRAPHQL_NOT_FUZZED {
        args.extend(["--exclude-name".to_owned(), (*name).to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let (output, report) = service.schemathesis(&schema.display().to_string(), &args);
    let elapsed = started.elapsed();
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    let answers = har_answers(&har);
    assert!(answers.len() >= 500, "only {} requests sent:\n{report}", answers.len());
    let mut failures = Vec::new();
    for (status, body) in &answers {
        let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let internal = json["errors"].as_array().into_iter().flatten().any(|e| e["extensions"]["code"] == "internal");
        // The owner's token must hold to the end, or the rest of the run proved nothing.
        let unauthenticated =
            json["errors"].as_array().into_iter().flatten().any(|e| e["extensions"]["code"] == "unauthenticated");
        assert!(!unauthenticated, "the fuzzer lost its access: {body}");
        if *status >= 500 || internal {
            failures.push(format!("{status}: {body}"));
        }
        assert!(!body.contains(TSIG_SECRET) && !body.contains(PASSWORD), "a seeded secret came back: {body}");
    }
    assert!(failures.is_empty(), "{} server errors:\n{}", failures.len(), failures.join("\n"));
    eprintln!("graphql fuzz: {} requests in {elapsed:?}", answers.len());
}
