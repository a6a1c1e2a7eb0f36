//! The `file` target on a real filesystem: atomic replacement under a concurrent reader, modes, and
//! the reload command's outcome.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use certautopilot_connectors::targets::{DeployError, Deployable, FilePathPolicy, FileTarget, ReloadCommand};
use certautopilot_connectors::testsupport::sample_deployable;

fn deployable(chain: &str) -> Deployable {
    sample_deployable(chain)
}

/// A reader polling the certificate and the key while both are replaced again and again only ever
/// sees one whole version of each, and some of its reads provably overlapped a replacement (a
/// deployment had started before the read ended and had not finished before it began).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_sees_half_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = FileTarget {
        cert_path: dir.path().join("cert.pem"),
        key_path: dir.path().join("key.pem"),
        key_mode: 0o600,
        cert_mode: 0o644,
        owner: None,
        reload: None,
        policy: Arc::new(FilePathPolicy::new([dir.path().to_owned()], [])),
    };
    let chains = [format!("A{}\n", "a".repeat(200_000)), format!("B{}\n", "b".repeat(50_000))];
    let keys = [
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", "k".repeat(150_000)),
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", "q".repeat(40_000)),
    ];
    let version = |i: usize| Deployable {
        key_pem: Some(certautopilot_core::crypto::SecretBytes::from_text(&keys[i % 2])),
        ..deployable(&chains[i % 2])
    };
    target.deploy(&version(0)).await.unwrap();
    // Deployments started and finished so far: a read that began with `finished == f` and ended with
    // `started > f` overlapped a deployment in progress.
    let started = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let overlapped = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, started, finished, overlapped) =
            (stop.clone(), started.clone(), finished.clone(), overlapped.clone());
        let (cert, key, chains, keys) =
            (target.cert_path.clone(), target.key_path.clone(), chains.clone(), keys.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let before = finished.load(Ordering::SeqCst);
                let seen_cert = std::fs::read_to_string(&cert).unwrap();
                let seen_key = std::fs::read_to_string(&key).unwrap();
                if started.load(Ordering::SeqCst) > before {
                    overlapped.fetch_add(1, Ordering::SeqCst);
                }
                assert!(chains.contains(&seen_cert), "a torn read of the certificate: {} bytes", seen_cert.len());
                assert!(keys.contains(&seen_key), "a torn read of the key: {} bytes", seen_key.len());
                reads += 1;
            }
            reads
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut i = 1;
    // A reader that stopped early saw a torn file: its panic is reported by the join below.
    while (overlapped.load(Ordering::SeqCst) < 20 || i < 60) && !reader.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} reads overlapped a replacement",
            overlapped.load(Ordering::SeqCst)
        );
        started.fetch_add(1, Ordering::SeqCst);
        target.deploy(&version(i)).await.unwrap();
        finished.fetch_add(1, Ordering::SeqCst);
        i += 1;
    }
    stop.store(true, Ordering::SeqCst);
    let reads = reader.join().expect("the reader saw only whole files");
    let overlapped = overlapped.load(Ordering::SeqCst);
    assert!(overlapped >= 20 && reads >= overlapped, "{overlapped} of {reads} reads overlapped a replacement");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&target.cert_path), mode(&target.key_path)), (0o644, 0o600));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left behind: {leftovers:?}");
}

/// The reload command runs after the files are in place; its failure is reported with its stderr.
#[tokio::test]
async fn reload_success_and_failure_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("reloaded");
    let mut target = FileTarget {
        cert_path: dir.path().join("cert.pem"),
        key_path: dir.path().join("key.pem"),
        key_mode: 0o640,
        cert_mode: 0o644,
        owner: None,
        policy: Arc::new(FilePathPolicy::new([dir.path().to_owned()], [])),
        reload: Some(ReloadCommand {
            command: format!("test -s {} && touch {}", dir.path().join("cert.pem").display(), marker.display()),
            timeout: Duration::from_secs(10),
        }),
    };
    let report = target.deploy(&deployable("chain\n")).await.unwrap();
    assert_eq!(report.reload.as_deref(), Some("reload command succeeded"));
    assert!(marker.exists(), "the command ran after the files were written");

    target.reload =
        Some(ReloadCommand { command: "echo nginx: bad config >&2; exit 3".into(), timeout: Duration::from_secs(10) });
    let err = target.deploy(&deployable("chain\n")).await.unwrap_err();
    assert_eq!(err, DeployError::Permanent("the reload command failed (exit 3): nginx: bad config".into()));

    target.reload = Some(ReloadCommand { command: "sleep 5".into(), timeout: Duration::from_millis(200) });
    let err = target.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("did not finish"), "{err}");

    // As root, files can be given to another owner; anyone can name themselves.
    let (owner, uid) = if unsafe { libc::geteuid() } == 0 { ("nobody:nogroup", 65_534) } else { ("", 0) };
    if !owner.is_empty() {
        let owned = FileTarget { owner: Some(owner.into()), reload: None, ..target.clone() };
        owned.deploy(&deployable("chain\n")).await.unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&owned.key_path).unwrap().uid(), uid);
        assert_eq!(std::fs::metadata(&owned.cert_path).unwrap().uid(), uid);
        let unknown = FileTarget { owner: Some("no-such-user-4711".into()), reload: None, ..target.clone() };
        let err = unknown.deploy(&deployable("chain\n")).await.unwrap_err();
        assert!(err.to_string().contains("no user"), "{err}");
    }

    let missing = FileTarget { cert_path: dir.path().join("no/such/dir/cert.pem"), reload: None, ..target };
    let err = missing.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("no/such/dir"), "{err}");
}

/// A write is held inside the allowed directories at write time, whatever was checked when the
/// target was saved: a key path that became a link to a protected file, a directory swapped for a
/// link leading out, or a mode wider than a key may have, each fail and leave the victim untouched.
#[tokio::test]
async fn writes_stay_inside_the_allowed_directories_at_write_time() {
    let root = tempfile::tempdir().unwrap();
    let allowed = root.path().join("certs");
    let data = root.path().join("data");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let kek = data.join("kek.key");
    std::fs::write(&kek, "the kek").unwrap();
    let policy = Arc::new(FilePathPolicy::new([allowed.clone()], [data.clone()]));
    let target = FileTarget {
        cert_path: allowed.join("cert.pem"),
        key_path: allowed.join("key.pem"),
        key_mode: 0o600,
        cert_mode: 0o644,
        owner: None,
        reload: None,
        policy: policy.clone(),
    };
    target.deploy(&deployable("chain\n")).await.unwrap();

    // The key file replaced by a link to the KEK between the check and the write.
    std::fs::remove_file(allowed.join("key.pem")).unwrap();
    std::os::unix::fs::symlink(&kek, allowed.join("key.pem")).unwrap();
    let err = target.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&kek).unwrap(), "the kek");

    // A directory inside the allowed one swapped for a link into the data directory.
    std::os::unix::fs::symlink(&data, allowed.join("site")).unwrap();
    let through = FileTarget { key_path: allowed.join("site/kek.key"), ..target.clone() };
    let err = through.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("not under a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&kek).unwrap(), "the kek");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1, "no temporary file was left in the data directory");

    // Modes wider than a key or a certificate may have.
    let key_path = allowed.join("other-key.pem");
    let wide = FileTarget { key_path: key_path.clone(), key_mode: 0o777, ..target.clone() };
    let err = wide.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("key mode: 0777 is wider than 0640"), "{err}");
    let wide = FileTarget { key_path: key_path.clone(), cert_mode: 0o666, ..target.clone() };
    let err = wide.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("cert mode: 0666 is wider than 0644"), "{err}");
    assert!(!key_path.exists());

    // With nothing allowed, nothing is written.
    let disabled = FileTarget { policy: Arc::new(FilePathPolicy::default()), ..target };
    let err = disabled.deploy(&deployable("chain\n")).await.unwrap_err();
    assert!(err.to_string().contains("[targets.file] allowed_dirs"), "{err}");
}
