//! Issue 15, item 1 (the KEK trap) and the KEK part of item 14, against the real binary: a store
//! sealed under the dev KEK refuses to start under a new file KEK and says which KEK and version is
//! missing; `kek migrate` moves everything to a file or PKCS#11 KEK (killed mid-way it resumes),
//! version numbers never collide across providers, a rotation killed inside `serve` with PKCS#11
//! resumes, and `/readyz` turns 503 when another node seals under a version this one lacks.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_core::crypto::{Envelope, KekProvider, LocalKek, LocalKekKind, SecretBytes};
use certautopilot_core::model::{DnsCredential, OrgRole, Organization, Project, Rfc2136Config, User};
use certautopilot_core::softhsm::{SoftHsm, USER_PIN};
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{RecordStore, prelude::*};
use certautopilot_core::{OrgScope, ProjectScope, SystemClock, Timestamp};
use serde_json::json;

use crate::process::{Server, command, post_json, wait_for_status};

const PASSWORD: &str = "correct horse battery staple";
const FILE_KEK: &str = "[kek]\nprovider = \"file\"\nfile_path = \"kek.json\"\n";
const PREVIOUS_DEV: &str = "[kek.previous]\nprovider = \"dev\"\n";

async fn open(dir: &Path) -> SqliteStore {
    SqliteStore::open(dir.join("data/certautopilot.db"), Default::default(), Arc::new(SystemClock)).await.unwrap()
}

fn cli(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = command(dir);
    cmd.args(["--config", "c.toml"]).args(args);
    cmd
}

fn succeed(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail by itself within `deadline` (a `serve` that refuses to start);
/// returns its standard error.
fn fails_within(cmd: &mut Command, deadline: Duration) -> String {
    let mut child = cmd
        .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out: Output = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "{cmd:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn setup(dir: &Path) {
    let mut child = cli(dir, &["setup", "--org", "Trap", "--email", "owner@trap.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn file_versions(dir: &Path) -> Vec<u32> {
    LocalKek::load(&dir.join("kek.json"), LocalKekKind::File).unwrap().versions()
}

/// An organization (with its sealed audit secret) and `n` DNS credentials, each with a sealed
/// secret `secret-<i>`, written straight to the store under `envelope`.
async fn seed(store: &SqliteStore, envelope: &Envelope, n: usize) -> (OrgScope, ProjectScope) {
    let now = Timestamp::now();
    let mut org = Organization::new("migrate", now);
    org.audit_secret =
        Some(envelope.seal(&org.id.to_string(), "audit_secret", &SecretBytes::new(vec![4; 32])).unwrap());
    store.create_organization(&org).await.unwrap();
    let owner = User::new(org.id, "o@migrate.test", OrgRole::Owner, now);
    let org_scope = OrgScope::for_user(&owner).unwrap();
    store.insert(&org_scope, &owner).await.unwrap();
    let project = Project::new(org.id, "p", now);
    store.insert(&org_scope, &project).await.unwrap();
    let scope = ProjectScope::for_owner(&owner, &project).unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1_000) {
        let batch: Vec<DnsCredential> = chunk
            .iter()
            .map(|i| {
                let mut c = DnsCredential::new(project.id, format!("cred-{i}"), Rfc2136Config::default(), now);
                let secret = SecretBytes::from_text(&format!("secret-{i}"));
                c.secret = Some(envelope.seal(&c.id.to_string(), "secret", &secret).unwrap());
                c
            })
            .collect();
        store.insert_many(&scope, &batch).await.unwrap();
    }
    (org_scope, scope)
}

/// Every credential's secret opens to its original value with `envelope`.
async fn all_secrets_open(store: &SqliteStore, scope: &ProjectScope, envelope: &Envelope, n: usize) {
    let mut page = certautopilot_core::PageRequest::first(1_000);
    let mut checked = 0;
    loop {
        let creds = store.list::<DnsCredential>(scope, &page).await.unwrap();
        for c in &creds.items {
            let opened = envelope.open(&c.id.to_string(), "secret", c.secret.as_ref().unwrap()).unwrap();
            assert_eq!(opened.expose_str(), Some(&*format!("secret-{}", c.name.trim_start_matches("cred-"))));
            checked += 1;
        }
        match creds.next_cursor {
            Some(cursor) => page = certautopilot_core::PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    assert_eq!(checked, n);
}

/// Kills `child` once the store holds at least `at_least` values under `version`.
async fn kill_when_moved(store: &SqliteStore, mut child: std::process::Child, version: u32, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let moved = store.kek_usage().await.unwrap().get(&version).copied().unwrap_or(0);
        if moved >= at_least {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "finished before it could be killed ({moved} moved)");
        assert!(Instant::now() < deadline, "no progress to {at_least} under version {version}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The trap exactly as the issue walked into it: set up and rotate under the dev KEK (values under
/// dev version 2), then `kek init` and `kek.provider = "file"`. `serve` now refuses to start, naming
/// the missing version and the KEK it tried, and pointing at the dev KEK and `kek migrate`; `kek
/// rotate` refuses instead of making a colliding "version 2"; `kek status` fails loudly. Nothing in
/// the store or the new key file changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_dev_store_under_a_new_file_kek_refuses_to_start_and_names_the_missing_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("c.toml"), "").unwrap();
    setup(path);
    succeed(&mut cli(path, &["kek", "rotate"]));
    std::fs::write(path.join("c.toml"), FILE_KEK).unwrap();
    succeed(&mut cli(path, &["kek", "init"]));
    let store = open(path).await;
    let usage = store.kek_usage().await.unwrap();
    assert_eq!(usage, BTreeMap::from([(2, 2)]), "the org's two keys under dev version 2");

    let stderr = fails_within(&mut cli(path, &["serve"]), Duration::from_secs(30));
    for needle in [
        "sealed under KEK version 2, which this node's KEK (file:kek.json) does not have",
        "they open with the dev KEK at ./data/dev-kek.json",
        "`certautopilot kek migrate --to file`",
    ] {
        assert!(stderr.contains(needle), "serve's refusal lacks {needle:?}: {stderr}");
    }
    let out = cli(path, &["kek", "rotate"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEK version 2, which this node's KEK"));
    let out = cli(path, &["kek", "status"]).output().unwrap();
    assert!(!out.status.success(), "status must not look healthy");
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not have"));
    assert_eq!(file_versions(path), vec![1], "no version was made");
    assert_eq!(store.kek_usage().await.unwrap(), usage, "nothing was re-wrapped");
}

/// The supported way out: with `[kek.previous] provider = "dev"`, `kek migrate --to file` moves
/// every value to a new file-KEK version numbered above the dev KEK's (3, not a second 2), verifies
/// and audits it; logins work; the dev KEK stays until `kek retire --previous`, after which the
/// configuration must drop `[kek.previous]`. Bad input first: each refusal changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_migrate_from_dev_to_file_moves_everything_and_keeps_the_old_kek_until_retired() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::write(path.join("c.toml"), "").unwrap();
    setup(path);
    succeed(&mut cli(path, &["kek", "rotate"]));
    std::fs::write(path.join("c.toml"), FILE_KEK).unwrap();
    succeed(&mut cli(path, &["kek", "init"]));
    let store = open(path).await;
    let before = store.kek_usage().await.unwrap();

    // --- bad input: each is refused with the reason, and nothing changes
    let refusals: [(&str, &[&str], &str); 4] = [
        (FILE_KEK, &["kek", "migrate", "--to", "hsm"], "invalid value 'hsm'"),
        (FILE_KEK, &["kek", "migrate", "--to", "file"], "nothing to migrate from"),
        (
            &format!("{FILE_KEK}{PREVIOUS_DEV}"),
            &["kek", "migrate", "--to", "pkcs11"],
            "the configuration has kek.provider = \"file\"",
        ),
        (
            "[kek]\nprovider = \"file\"\n[kek.previous]\nprovider = \"dev\"\n",
            &["kek", "migrate", "--to", "file"],
            "kek.file_path",
        ),
    ];
    for (config, args, needle) in refusals {
        std::fs::write(path.join("c.toml"), config).unwrap();
        let out = cli(path, args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(needle), "{args:?} with {config:?}: {stderr}");
        assert_eq!(store.kek_usage().await.unwrap(), before, "{args:?} changed the store");
        assert_eq!(file_versions(path), vec![1], "{args:?} changed the key file");
    }

    // --- the migration
    std::fs::write(path.join("c.toml"), format!("{FILE_KEK}{PREVIOUS_DEV}")).unwrap();
    let stdout = succeed(&mut cli(path, &["kek", "migrate", "--to", "file"]));
    assert!(stdout.contains("migration to file:kek.json complete (new version)"), "{stdout}");
    assert!(stdout.contains("all 2 data keys open under file:kek.json"), "{stdout}");
    assert_eq!(store.kek_usage().await.unwrap(), BTreeMap::from([(3, 2)]), "above dev's 1 and 2: no collision");
    assert_eq!(file_versions(path), vec![1, 3]);
    assert!(path.join("data/dev-kek.json").exists(), "the old KEK is kept until retired");
    let status = succeed(&mut cli(path, &["kek", "status"]));
    assert!(status.contains("previous provider: dev:") && status.contains("versions [1, 2]"), "{status}");

    // --- the service starts and logins work
    {
        let server = Server::start(path, &["--config", "c.toml"], &[]);
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        let (status, body) = post_json(
            server.addr,
            "/api/v1/auth/login",
            None,
            json!({ "email": "owner@trap.test", "password": PASSWORD }),
        );
        assert_eq!(status, 200, "{body}");
    }

    // --- retiring the dev KEK; then the configuration must drop [kek.previous]
    succeed(&mut cli(path, &["kek", "retire", "--previous", "--settle-secs", "0"]));
    assert!(!path.join("data/dev-kek.json").exists());
    let stderr = fails_within(&mut cli(path, &["serve"]), Duration::from_secs(30));
    assert!(stderr.contains("remove [kek.previous] from the configuration"), "{stderr}");
    std::fs::write(path.join("c.toml"), FILE_KEK).unwrap();
    {
        let server = Server::start(path, &["--config", "c.toml"], &[]);
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        let (status, body) = post_json(
            server.addr,
            "/api/v1/auth/login",
            None,
            json!({ "email": "owner@trap.test", "password": PASSWORD }),
        );
        assert_eq!(status, 200, "{body}");
    }
    let stdout = succeed(&mut cli(path, &["kek", "rotate"]));
    assert!(stdout.contains("rotation to KEK version 4 complete (new version)"), "{stdout}");

    // --- the chain holds kek.rotated (dev, v2), kek.migrated (v3), kek.retired, kek.rotated (v4)
    let org = store.list_organizations().await.unwrap().remove(0);
    let events = store.list_audit_events(&OrgScope::for_system("test", &org), 0, 100).await.unwrap();
    let kek_events: Vec<(String, Option<u64>)> = events
        .iter()
        .filter(|e| e.action.starts_with("kek."))
        .map(|e| (e.action.clone(), e.details["version"].as_u64()))
        .collect();
    assert_eq!(
        kek_events,
        vec![
            ("kek.rotated".to_owned(), Some(2)),
            ("kek.migrated".to_owned(), Some(3)),
            ("kek.retired".to_owned(), None),
            ("kek.rotated".to_owned(), Some(4)),
        ]
    );
    let migrated = events.iter().find(|e| e.action == "kek.migrated").unwrap();
    assert_eq!(
        (migrated.details["from"].as_str(), migrated.details["verified"].as_u64()),
        (Some("dev:./data/dev-kek.json"), Some(2))
    );
    succeed(&mut cli(path, &["audit", "verify"]));
}

/// A migration of 5,000 values killed (SIGKILL) twice mid-way: no value is lost or doubled, no
/// second version is made, the last run completes ("resumed"), every secret opens with the new key
/// file alone, and only the completed run wrote `kek.migrated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_killed_migration_resumes_and_completes() {
    const N: usize = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir(path.join("data")).unwrap();
    let store = open(path).await;
    let dev = Envelope::new(Arc::new(LocalKek::dev(&path.join("data")).unwrap()));
    let (org_scope, scope) = seed(&store, &dev, N).await;
    std::fs::write(path.join("c.toml"), format!("{FILE_KEK}{PREVIOUS_DEV}")).unwrap();
    succeed(&mut cli(path, &["kek", "init"]));
    let total = N as u64 + 1;

    for (round, at_least) in [(1, 500u64), (2, 2_500)] {
        let child = cli(path, &["kek", "migrate", "--to", "file", "--batch", "250"])
            .env("FAILPOINTS", "kek.after_batch=sleep(30)")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        kill_when_moved(&store, child, 2, at_least).await;
        let usage = store.kek_usage().await.unwrap();
        assert_eq!(usage.values().sum::<u64>(), total, "round {round}: nothing lost or doubled: {usage:?}");
        assert_eq!(file_versions(path), vec![1, 2], "round {round}: a resumed migration makes no new version");
    }
    let stdout = succeed(&mut cli(path, &["kek", "migrate", "--to", "file", "--batch", "250"]));
    assert!(
        stdout.contains("complete (resumed)") && stdout.contains(&format!("all {total} data keys open")),
        "{stdout}"
    );
    assert_eq!(store.kek_usage().await.unwrap(), BTreeMap::from([(2, total)]));
    let file_only = Envelope::new(Arc::new(LocalKek::load(&path.join("kek.json"), LocalKekKind::File).unwrap()));
    all_secrets_open(&store, &scope, &file_only, N).await;
    let events = store.list_audit_events(&org_scope, 0, 100).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "kek.migrated").count(), 1);
}

fn hsm_env(hsm: &SoftHsm) -> Vec<(&'static str, String)> {
    vec![("SOFTHSM2_CONF", hsm.conf.display().to_string()), ("CAP_TEST_HSM_PIN", USER_PIN.to_owned())]
}

/// From the dev KEK to a SoftHSM2 token: `kek migrate --to pkcs11` moves everything under a token
/// version above the dev KEK's. Then `serve` with `kek.rotate_every_days` runs the scheduled rotation
/// with the token; it is killed (SIGKILL) mid-way, and the restarted service finishes it (the job's
/// lease expires and the worker runs it again, continuing toward the same version): every value
/// under the new version, opening, with one `kek.rotated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_migrate_to_pkcs11_then_a_rotation_killed_inside_serve_resumes() {
    const N: usize = 3_000;
    let hsm = SoftHsm::start("cap-migrate").expect("SoftHSM2 test token");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir(path.join("data")).unwrap();
    let store = open(path).await;
    let dev = Envelope::new(Arc::new(LocalKek::dev(&path.join("data")).unwrap()));
    let (org_scope, scope) = seed(&store, &dev, N).await;
    let total = N as u64 + 1;
    let pkcs11 = format!(
        "[kek]\nprovider = \"pkcs11\"\nrotate_every_days = 30\n[kek.pkcs11]\nmodule = \"{}\"\ntoken_label = \"cap-migrate\"\npin_env = \"CAP_TEST_HSM_PIN\"\n{PREVIOUS_DEV}[jobs]\nlease_secs = 4\nheartbeat_secs = 1\n",
        hsm.module.display()
    );
    std::fs::write(path.join("c.toml"), &pkcs11).unwrap();

    // --- migration to the token
    let stdout = succeed(cli(path, &["kek", "migrate", "--to", "pkcs11"]).envs(hsm_env(&hsm)));
    assert!(stdout.contains("migration to pkcs11:") && stdout.contains("(new version)"), "{stdout}");
    assert_eq!(store.kek_usage().await.unwrap(), BTreeMap::from([(2, total)]), "above the token's own v1");

    // --- the scheduled rotation inside serve, killed after its first batch
    {
        let mut env = hsm_env(&hsm);
        env.push(("FAILPOINTS", "kek.after_batch=sleep(1000)".to_owned()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut server = Server::start(path, &["--config", "c.toml"], &env);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let usage = store.kek_usage().await.unwrap();
            if usage.get(&3).copied().unwrap_or(0) >= 1_000 {
                assert!(usage.get(&2).copied().unwrap_or(0) > 0, "killed mid-way, not after: {usage:?}");
                break;
            }
            assert!(Instant::now() < deadline, "the scheduled rotation made no progress: {usage:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.signal(libc::SIGKILL);
        server.wait_exit(Duration::from_secs(30));
    }
    // --- the restarted service resumes the same rotation and completes it
    {
        let env = hsm_env(&hsm);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut server = Server::start(path, &["--config", "c.toml"], &env);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let events = store.list_audit_events(&org_scope, 0, 100).await.unwrap();
            if events.iter().any(|e| e.action == "kek.rotated") {
                break;
            }
            assert!(Instant::now() < deadline, "the rotation did not complete after the restart");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    }
    assert_eq!(store.kek_usage().await.unwrap(), BTreeMap::from([(3, total)]), "one version, no collision");
    let events = store.list_audit_events(&org_scope, 0, 100).await.unwrap();
    let rotated: Vec<_> = events.iter().filter(|e| e.action == "kek.rotated").collect();
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].details["version"].as_u64(), Some(3));
    // Every secret opens through the token (via the binary's check: `kek status` opens samples; and
    // in full here through the KEK ring the service uses).
    let status = succeed(cli(path, &["kek", "status"]).envs(hsm_env(&hsm)));
    assert!(status.contains(&format!("version 3: {total} data keys")), "{status}");
    let _ = scope;
}

/// A node whose KEK lacks a version the store uses is not ready: another node (here, a copy of the
/// key file that rotated on its own) seals a value under version 2; `/readyz` turns 503 naming the
/// version and the KEK, without a secret, and turns 200 again once that value is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_readyz_reports_a_kek_version_this_node_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir(path.join("data")).unwrap();
    std::fs::write(path.join("c.toml"), FILE_KEK).unwrap();
    succeed(&mut cli(path, &["kek", "init"]));
    setup(path);
    let server = Server::start(path, &["--config", "c.toml"], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));

    let other_node = path.join("other-kek.json");
    std::fs::copy(path.join("kek.json"), &other_node).unwrap();
    let other = Arc::new(LocalKek::load(&other_node, LocalKekKind::File).unwrap());
    assert_eq!(other.create_version().unwrap(), 2);
    let store = open(path).await;
    let org = store.list_organizations().await.unwrap().remove(0);
    let owner_scope = OrgScope::for_system("test", &org);
    let project = Project::new(org.id, "p", Timestamp::now());
    store.insert(&owner_scope, &project).await.unwrap();
    let scope = ProjectScope::for_system("test", &project);
    let mut credential =
        DnsCredential::new(project.id, "from-another-node", Rfc2136Config::default(), Timestamp::now());
    let secret = SecretBytes::from_text("tsig-secret-from-elsewhere");
    credential.secret = Some(Envelope::new(other).seal(&credential.id.to_string(), "secret", &secret).unwrap());
    store.insert(&scope, &credential).await.unwrap();

    let body = wait_for_status(server.addr, "/readyz", 503, Duration::from_secs(30));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "kek_unavailable");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.contains("sealed under KEK version 2, which this node's KEK (file:kek.json) does not have"),
        "{reason}"
    );
    assert!(!reason.contains("tsig-secret"), "{reason}");
    store.delete::<DnsCredential>(&scope, &credential.id, None).await.unwrap();
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
}
