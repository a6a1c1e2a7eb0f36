//! The product's central flow on each store backend, written once: `serve` issues a certificate
//! against Pebble validating DNS-01 through BIND 9, its scheduler renews it when the window opens,
//! and both versions reach a file target; after a clean stop, `kek rotate`, `kek status` and
//! `audit verify` work on the same store. Also how `serve` refuses a MongoDB deployment it cannot use.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, verify_chain};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions, shared_mongodb_uri};
use serde_json::json;

use crate::process::{ApiClient, command};

const DEADLINE: Duration = Duration::from_secs(60);

/// Where a test's `serve` and subcommands keep their data, as `CERTAUTOPILOT_STORE__…` settings.
enum Backend {
    /// The embedded default: the file under the test directory's `data/`.
    Sqlite,
    /// A database of the test's own on the run's shared MongoDB-protocol server.
    Mongodb { uri: String, database: String },
}

impl Backend {
    fn mongodb() -> Backend {
        Backend::Mongodb { uri: shared_mongodb_uri(), database: format!("e2e_{:016x}", rand::random::<u64>()) }
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite => Vec::new(),
            Backend::Mongodb { uri, database } => vec![
                ("CERTAUTOPILOT_STORE__BACKEND", "mongodb".into()),
                ("CERTAUTOPILOT_STORE__MONGODB__URI", uri.clone()),
                ("CERTAUTOPILOT_STORE__MONGODB__DATABASE", database.clone()),
            ],
        }
    }
}

/// Runs a subcommand against the backend's store in `dir` (where `serve` ran) and returns its output.
fn subcommand(dir: &Path, backend: &Backend, args: &[&str]) -> Output {
    let mut cmd = command(dir);
    cmd.args(args);
    for (key, value) in backend.env() {
        cmd.env(key, value);
    }
    cmd.output().expect("run certautopilot")
}

fn expect_success(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what} failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Issue, scheduled renewal and distribution through the API of the real binary, then the data
/// subcommands on the same store. The certificate lives 12 s, so the scheduler's renewal-due
/// query (each backend's own index) must find it 8 s after issuance; the file target must then
/// hold the renewed chain, which proves the job queue, the records and the sealed key worked.
fn issue_renew_and_distribute(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(
        &dir.path().join("env"),
        AcmeEnvOptions { validity: Some(Duration::from_secs(12)), ..Default::default() },
    );
    let settings = backend.env();
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = crate::issuance::start(dir.path(), &extra);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "e2e", None);
    let root = env.pebble.issuing_root_pem();
    let name = format!("www.{ZONE}");

    // --- a file target, and a certificate for it: issued, verified against Pebble's root, deployed.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (cert_file, key_file) = (out.join("cert.pem"), out.join("key.pem"));
    let target = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "local", "type": "file",
            "config": { "cert_path": cert_file, "key_path": key_file } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": name, "key_type": "ecdsa-p256",
            "acme_account_id": account, "target_ids": [target] })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();
    let first = c
        .wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "issued", |cert| cert["status"] == json!("issued"));
    let first_serial = first["serial"].as_str().unwrap().to_owned();
    let (status, first_chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(status, 200);
    verify_chain(&first_chain, &root, &name).unwrap();
    wait_for_file(&cert_file, "the first chain deployed", |text| text == first_chain);
    assert!(std::fs::read_to_string(&key_file).unwrap().contains("PRIVATE KEY"), "the key is deployed too");

    // --- the scheduler renews when the window opens (8 s in), and the renewal is deployed.
    let renewed = c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "scheduled renewal", |cert| {
        cert["status"] == json!("issued") && cert["serial"].as_str().is_some_and(|s| s != first_serial)
    });
    assert_eq!(renewed["history"][0]["serial"], json!(first_serial), "{renewed}");
    let deployed = wait_for_file(&cert_file, "a renewed chain deployed", |text| {
        text != first_chain && verify_chain(text, &root, &name).is_ok()
    });
    assert!(deployed.starts_with("-----BEGIN CERTIFICATE-----"));
    let events: Vec<String> = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    for expected in ["cert.issued", "cert.renewed", "cert.distributed"] {
        assert!(events.iter().any(|e| e == expected), "{expected} missing from the timeline: {events:?}");
    }
    assert!(env.pebble.orders_placed() >= 2, "one order per version");

    // --- stop cleanly, then the data subcommands open the same store.
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0, "clean stop");
    if let Backend::Mongodb { .. } = backend {
        assert!(!dir.path().join("data/certautopilot.db").exists(), "the MongoDB run wrote no SQLite store");
    }
    let rotated = expect_success(&subcommand(dir.path(), &backend, &["kek", "rotate"]), "kek rotate");
    assert!(rotated.contains("rotation to KEK version"), "{rotated}");
    let status = expect_success(&subcommand(dir.path(), &backend, &["kek", "status"]), "kek status");
    assert!(status.contains("the sampled values of every version open"), "{status}");
    let verified = expect_success(&subcommand(dir.path(), &backend, &["audit", "verify"]), "audit verify");
    assert!(verified.contains("chain intact"), "{verified}");
}

/// Polls `path` until its text satisfies `done`, and returns that text.
fn wait_for_file(path: &Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let start = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}; {} holds {text:?}", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sqlite_serve_issues_renews_and_distributes() {
    issue_renew_and_distribute(Backend::Sqlite);
}

#[test]
fn mongodb_serve_issues_renews_and_distributes() {
    issue_renew_and_distribute(Backend::mongodb());
}

/// `serve` with a MongoDB deployment it cannot use stops at start with an error that names
/// `store.mongodb` and what is wrong, and never shows the URI's password: a standalone server
/// (no transactions) and an address where nothing listens.
#[test]
fn serve_refuses_an_unusable_mongodb_deployment_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let standalone = MongoServer::start(
        &dir.path().join("standalone"),
        MongoServerOptions { standalone: true, ..Default::default() },
    );
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let password = "do-not-print-me";
    for (uri, expected) in [
        (standalone.uri(), "needs a replica set"),
        (format!("mongodb://cap:{password}@127.0.0.1:{closed_port}/"), "mongodb://cap:***@127.0.0.1:"),
    ] {
        let out = command(dir.path())
            .args(["serve"])
            .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_STORE__BACKEND", "mongodb")
            .env("CERTAUTOPILOT_STORE__MONGODB__URI", &uri)
            .env("CERTAUTOPILOT_STORE__MONGODB__SERVER_SELECTION_TIMEOUT_MS", "1000")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{uri}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stderr.contains("store.mongodb") && stderr.contains(expected), "{uri}: {stderr}");
        assert!(!stderr.contains(password) && !stdout.contains(password), "{stderr}\n{stdout}");
    }
}
