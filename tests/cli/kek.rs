//! KEK rotation with the file provider, end to end: `kek rotate` is killed (SIGKILL) at several
//! points of a 20,000-secret rotation; each rerun continues, the last completes, every secret still
//! opens to its original value, and `kek status` shows one version in use. A second rotation moves
//! everything to the next version.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_core::crypto::{Envelope, KekProvider, LocalKek, LocalKekKind, SecretBytes};
use certautopilot_core::model::{DnsCredential, OrgRole, Organization, Project, Rfc2136Config, User};
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{PageRequest, RecordStore, prelude::*};
use certautopilot_core::{OrgScope, ProjectScope, SystemClock, Timestamp};

use crate::process::command;

const SECRETS: usize = 20_000;
/// The credentials' secrets plus the organization's sealed audit secret.
const SEALED: u64 = SECRETS as u64 + 1;

async fn open(dir: &std::path::Path) -> SqliteStore {
    SqliteStore::open(dir.join("data/certautopilot.db"), Default::default(), Arc::new(SystemClock)).await.unwrap()
}

fn kek_command(dir: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut cmd = command(dir);
    cmd.args(["--config", "c.toml", "kek"]).args(args);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_survives_kills_and_every_secret_still_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir(path.join("data")).unwrap();
    std::fs::write(path.join("c.toml"), "[kek]\nprovider = \"file\"\nfile_path = \"kek.json\"\n").unwrap();
    let out = kek_command(path, &["init"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // --- seed: 20,000 DNS credentials, each with its own sealed secret
    let store = open(path).await;
    let envelope = Envelope::new(Arc::new(LocalKek::load(&path.join("kek.json"), LocalKekKind::File).unwrap()));
    let now = Timestamp::now();
    let mut org = Organization::new("rotate", now);
    let audit_secret = SecretBytes::new(vec![4; 32]);
    org.audit_secret = Some(envelope.seal(&org.id.to_string(), "audit_secret", &audit_secret).unwrap());
    store.create_organization(&org).await.unwrap();
    let owner = User::new(org.id, "o@rotate.test", OrgRole::Owner, now);
    let org_scope = OrgScope::for_user(&owner).unwrap();
    store.insert(&org_scope, &owner).await.unwrap();
    let project = Project::new(org.id, "p", now);
    store.insert(&org_scope, &project).await.unwrap();
    let scope = ProjectScope::for_owner(&owner, &project).unwrap();
    for chunk in 0..SECRETS / 1_000 {
        let batch: Vec<DnsCredential> = (0..1_000)
            .map(|i| {
                let n = chunk * 1_000 + i;
                let mut c = DnsCredential::new(project.id, format!("cred-{n}"), Rfc2136Config::default(), now);
                c.secret = Some(
                    envelope
                        .seal(&c.id.to_string(), "secret", &SecretBytes::from_text(&format!("secret-{n}")))
                        .unwrap(),
                );
                c
            })
            .collect();
        store.insert_many(&scope, &batch).await.unwrap();
    }
    assert_eq!(store.kek_usage().await.unwrap().get(&1), Some(&SEALED));

    // --- three kills at growing points of the rotation
    for (round, at_least) in [(1, 500u64), (2, 6_000), (3, 12_000)] {
        // Slowed (80 batches, 30 ms each at least) so the kill lands mid-way on a busy machine too.
        let mut child = kek_command(path, &["rotate", "--batch", "250"])
            .env("FAILPOINTS", "kek.after_batch=sleep(30)")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let moved = store.kek_usage().await.unwrap().get(&2).copied().unwrap_or(0);
            if moved >= at_least {
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "round {round}: rotation finished before it could be killed");
            assert!(Instant::now() < deadline, "round {round}: no progress to {at_least}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let usage = store.kek_usage().await.unwrap();
        assert_eq!(usage.values().sum::<u64>(), SEALED, "round {round}: no value lost or doubled: {usage:?}");
        assert!(
            !usage.contains_key(&3),
            "round {round}: a resumed rotation must not create another version: {usage:?}"
        );
    }

    // --- the last run completes what the killed ones began
    let out = kek_command(path, &["rotate", "--batch", "250"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("rotation to KEK version 2 complete (resumed)"), "{stdout}");
    assert_eq!(store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(2, SEALED)]));

    // --- every secret opens to its original value with the key file as it is now
    let fresh = Envelope::new(Arc::new(LocalKek::load(&path.join("kek.json"), LocalKekKind::File).unwrap()));
    let mut page = PageRequest::first(1_000);
    let mut checked = 0;
    loop {
        let creds = store.list::<DnsCredential>(&scope, &page).await.unwrap();
        for c in &creds.items {
            let sealed = c.secret.as_ref().unwrap();
            assert_eq!(sealed.kek_version, 2);
            let n = c.name.trim_start_matches("cred-");
            assert_eq!(
                fresh.open(&c.id.to_string(), "secret", sealed).unwrap().expose_str(),
                Some(&*format!("secret-{n}"))
            );
            checked += 1;
        }
        match creds.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    assert_eq!(checked, SECRETS);

    // --- a new rotation makes version 3; status shows it
    let out = kek_command(path, &["rotate"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("rotation to KEK version 3 complete (new version)"));
    let status = String::from_utf8_lossy(&kek_command(path, &["status"]).output().unwrap().stdout).into_owned();
    assert!(
        status.contains("current version: 3") && status.contains(&format!("version 3: {SEALED} data keys")),
        "{status}"
    );
    assert!(!status.contains("version 2:"), "{status}");
    // --- retiring: refused while data keys use a version or for the current one; v1 and v2 can go
    let refused = kek_command(path, &["retire", "--version", "3"]).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is the current one"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    for version in ["1", "2"] {
        let out = kek_command(path, &["retire", "--version", version, "--settle-secs", "0"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let status = String::from_utf8_lossy(&kek_command(path, &["status"]).output().unwrap().stdout).into_owned();
    assert!(status.contains("versions held: [3]"), "{status}");
    assert_eq!(LocalKek::load(&path.join("kek.json"), LocalKekKind::File).unwrap().versions(), vec![3]);

    // Every completed run wrote kek.rotated to the organization's chain (the killed ones did not).
    let events = store.list_audit_events(&org_scope, 0, 100).await.unwrap();
    let rotations: Vec<u64> =
        events.iter().filter(|e| e.action == "kek.rotated").map(|e| e.details["version"].as_u64().unwrap()).collect();
    assert_eq!(rotations, vec![2, 3]);
    assert_eq!(events.iter().filter(|e| e.action == "kek.retired").count(), 2);
}

/// With `kek.rotate_every_days`, the scheduler enqueues one `rotate_kek` job per period and a worker
/// runs it: the organization's sealed keys move to the new version and `kek.rotated` is in the chain.
/// A restart within the same period does not rotate again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_rotates_once_per_period() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    std::fs::create_dir(path.join("data")).unwrap();
    std::fs::write(
        path.join("c.toml"),
        "[kek]\nprovider = \"file\"\nfile_path = \"kek.json\"\nrotate_every_days = 30\n",
    )
    .unwrap();
    assert!(kek_command(path, &["init"]).output().unwrap().status.success());
    let mut setup = command(path)
        .args(["--config", "c.toml", "setup", "--org", "Sched", "--email", "owner@sched.test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    setup.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
    assert!(setup.wait().unwrap().success());

    let store = open(path).await;
    let org = store.list_organizations().await.unwrap().remove(0);
    let scope = OrgScope::for_system("test", &org);
    let rotated =
        |events: &[certautopilot_core::model::AuditEvent]| events.iter().filter(|e| e.action == "kek.rotated").count();
    for round in 0..2 {
        let mut server = crate::process::Server::start(path, &["--config", "c.toml"], &[]);
        if round == 1 {
            // The timer ticked in this run too, and found the period's rotation already there.
            server.wait_for_log(Duration::from_secs(30), "kek rotation for this period already scheduled");
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let events = store.list_audit_events(&scope, 0, 100).await.unwrap();
            if rotated(&events) == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no rotation: {:?}",
                events.iter().map(|e| &e.action).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    }
    assert_eq!(store.kek_usage().await.unwrap(), std::collections::BTreeMap::from([(2, 2)]), "both org keys under v2");
    let events = store.list_audit_events(&scope, 0, 100).await.unwrap();
    assert_eq!(rotated(&events), 1, "one rotation for the period, not one per start");
}
