//! Backups end to end through the real binary: `backup` while certificates are being issued, a
//! second once they are, no file written over; `restore` into an empty data directory keeps the
//! store only after every sealed value opened, the chain verified and SQLite's check passed, and
//! the service then runs on it with every certificate; a restore with another KEK, or over a store,
//! is refused, naming why, and leaves nothing behind.

use std::path::Path;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE};
use serde_json::json;

use crate::issuance::{ISSUE_DEADLINE, install_ring, project, request, wait_status};
use crate::process::{ApiClient, Server, command, wait_for_status};

fn kek_env(kek: &Path) -> Vec<(String, String)> {
    vec![
        ("CERTAUTOPILOT_KEK__PROVIDER".into(), "file".into()),
        ("CERTAUTOPILOT_KEK__FILE_PATH".into(), kek.display().to_string()),
    ]
}

/// Runs the binary in `dir` with the file KEK `kek`; (success, stdout, stderr).
fn run(dir: &Path, kek: &Path, args: &[&str]) -> (bool, String, String) {
    std::fs::create_dir_all(dir).unwrap();
    let out = command(dir).args(args).envs(kek_env(kek)).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn new_kek(dir: &Path, name: &str) -> std::path::PathBuf {
    let kek = dir.join(name);
    let (ok, _, err) = run(dir, &kek, &["kek", "init"]);
    assert!(ok, "kek init: {err}");
    kek
}

fn serve(dir: &Path, kek: &Path) -> Server {
    let env: Vec<(String, String)> =
        crate::issuance::FAST.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(kek_env(kek)).collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    std::fs::create_dir_all(dir).unwrap();
    let server = Server::start(dir, &[], &env);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    server
}

#[test]
fn a_backup_taken_while_issuing_restores_whole_and_a_wrong_kek_or_a_store_in_place_is_refused() {
    install_ring();
    let root = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&root.path().join("env"), AcmeEnvOptions::default());
    let (a, b, c) = (root.path().join("a"), root.path().join("b"), root.path().join("c"));
    std::fs::create_dir_all(&a).unwrap();
    let kek = new_kek(root.path(), "kek.json");
    let mut server = serve(&a, &kek);
    let client = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&client, &env, "backed-up", None);
    let names: Vec<String> = (0..4).map(|i| format!("b{i}.{ZONE}")).collect();
    let certs: Vec<String> = names.iter().map(|n| request(&client, &pid, &account, n, &[])).collect();

    // --- while the four are being issued, and once they are.
    let during = root.path().join("during.db");
    let (ok, out, err) = run(&a, &kek, &["backup", "--to", during.to_str().unwrap()]);
    assert!(ok && out.contains("sealed values by KEK version: v1"), "{out}{err}");
    for cert in &certs {
        wait_status(&client, cert, "issued", ISSUE_DEADLINE);
    }
    let after = root.path().join("after.db");
    let (ok, out, err) = run(&a, &kek, &["backup", "--to", after.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&after).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, _, err) = run(&a, &kek, &["backup", "--to", after.to_str().unwrap()]);
    assert!(!ok && err.contains("never written over"), "{err}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // --- restore the later one into an empty directory, and serve it.
    let (ok, out, err) = run(&b, &kek, &["restore", "--from", after.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("restored: integrity ok") && out.contains("audit chains intact"), "{out}");
    let restored = serve(&b, &kek);
    let mut client = ApiClient { addr: restored.addr, token: None };
    client.login();
    let page = client.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    let issued: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == json!("issued"))
        .map(|c| c["common_name"].as_str().unwrap())
        .collect();
    assert_eq!(issued.len(), 4, "{page}");
    let (ok, out, err) = run(&b, &kek, &["audit", "verify"]);
    assert!(ok && out.contains("chain intact"), "{out}{err}");

    // --- the one taken under load is whole too (its own snapshot).
    let (ok, out, err) = run(&root.path().join("d"), &kek, &["restore", "--from", during.to_str().unwrap()]);
    assert!(ok, "{out}{err}");

    // --- refused: another KEK (named, nothing kept), and a directory that has a store.
    let other = new_kek(root.path(), "other-kek.json");
    let (ok, _, err) = run(&c, &other, &["restore", "--from", after.to_str().unwrap()]);
    assert!(!ok && err.contains("KEK version 1") && err.contains("different key"), "{err}");
    assert!(!c.join("data/certautopilot.db").exists(), "a refused restore keeps nothing");
    let (ok, _, err) = run(&b, &kek, &["restore", "--from", after.to_str().unwrap()]);
    assert!(!ok && err.contains("a store exists"), "{err}");
}
