//! The `ssh` target against a real OpenSSH server: SFTP upload with modes, atomic rename, the reload
//! command, the pinned host key, and an outage.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::targets::{Deployable, SshTarget};
use certautopilot_connectors::testsupport::{Sshd, current_user, sample_deployable};
use certautopilot_core::crypto::SecretBytes;

const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ+test\n-----END CERTIFICATE-----\n";

fn deployable() -> Deployable {
    sample_deployable(CHAIN)
}

fn target(sshd: &Sshd, out: &std::path::Path, reload: Option<String>) -> SshTarget {
    SshTarget {
        host: "127.0.0.1".into(),
        port: sshd.addr().port(),
        user: current_user(),
        host_key_sha256: sshd.host_key_sha256(),
        private_key: SecretBytes::from_text(&sshd.client_key()),
        cert_path: out.join("cert.pem").display().to_string(),
        key_path: out.join("key.pem").display().to_string(),
        key_mode: 0o600,
        owner: None,
        reload_command: reload,
        timeout: Duration::from_secs(10),
        sessions: None,
        egress: EgressPolicy::allowing_loopback(),
    }
}

/// Uploads with the right modes, runs the reload command, refuses a host whose key is not the pinned
/// one without writing anything, reports a failing reload, and rides out an outage.
#[tokio::test]
async fn upload_with_modes_reload_pinning_and_an_outage() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut sshd = Sshd::start(&dir.path().join("sshd"));
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let marker = out.join("reloaded");

    let ok = target(&sshd, &out, Some(format!("touch '{}'", marker.display())));
    let report = ok.deploy(&deployable()).await.unwrap_or_else(|e| panic!("{e}; sshd log: {}", sshd.log()));
    assert_eq!(report.reload.as_deref(), Some("reload command succeeded"));
    assert_eq!(std::fs::read_to_string(out.join("cert.pem")).unwrap(), CHAIN);
    assert!(std::fs::read_to_string(out.join("key.pem")).unwrap().contains("secret"));
    let mode = |n: &str| std::fs::metadata(out.join(n)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("cert.pem"), mode("key.pem")), (0o644, 0o600));
    assert!(marker.exists());
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 3, "no temporary files left");

    // As root, the files can be handed to another owner on the server.
    if unsafe { libc::geteuid() } == 0 {
        let owned = SshTarget { owner: Some("nobody:nogroup".into()), ..target(&sshd, &out, None) };
        owned.deploy(&deployable()).await.unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(out.join("key.pem")).unwrap().uid(), 65_534);
    }

    // A different pinned key is refused before anything is sent: into an empty directory, where
    // not a file (nor a temporary one, nor the reload's marker) appears.
    let untouched = dir.path().join("untouched");
    std::fs::create_dir_all(&untouched).unwrap();
    let untouched_marker = untouched.join("reloaded");
    let mut wrong = target(&sshd, &untouched, Some(format!("touch '{}'", untouched_marker.display())));
    wrong.host_key_sha256 = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into();
    let result = wrong.deploy(&deployable()).await;
    let written: Vec<_> = std::fs::read_dir(&untouched).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(written.is_empty(), "a refused host got files: {written:?} ({result:?})");
    let err = result.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("does not match the pinned"), "{err}");

    // A failing reload command is reported with its exit status; its stderr is the server's text
    // and stays in the debug log.
    let failing = target(&sshd, &out, Some("echo 'haproxy: bad cert' >&2; exit 2".into()));
    let err = failing.deploy(&deployable()).await.unwrap_err();
    assert!(err.to_string().contains("exit 2") && !err.to_string().contains("haproxy"), "{err}");

    // Down: transient. Back: it works.
    sshd.stop();
    let err = ok.deploy(&deployable()).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    sshd.restart();
    ok.deploy(&deployable()).await.unwrap();
}

/// An impostor: the pinned server goes away and another sshd, with its own host key but accepting
/// the same client key, takes its address. The deploy fails as a host-key mismatch (permanent), and
/// nothing is written there; the real server, back on its address, is deployed to as before.
#[tokio::test]
async fn an_impostor_on_the_pinned_address_gets_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut sshd = Sshd::start(&dir.path().join("sshd"));
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let marker = out.join("reloaded");
    let pinned = target(&sshd, &out, Some(format!("touch '{}'", marker.display())));
    pinned.deploy(&deployable()).await.unwrap_or_else(|e| panic!("{e}; sshd log: {}", sshd.log()));
    for file in ["cert.pem", "key.pem", "reloaded"] {
        std::fs::remove_file(out.join(file)).unwrap();
    }

    sshd.stop();
    let impostor = sshd.impostor(&dir.path().join("impostor"));
    assert_eq!(impostor.addr(), sshd.addr(), "the impostor listens where the pinned server did");
    assert_ne!(impostor.host_key_sha256(), sshd.host_key_sha256());
    let result = pinned.deploy(&deployable()).await;
    let written: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(written.is_empty(), "the impostor got files: {written:?} ({result:?})");
    let err = result.unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "host key {} does not match the pinned {}",
            impostor.host_key_sha256(),
            sshd.host_key_sha256()
        )),
        "{err}"
    );
    // The impostor never got as far as a login, let alone an SFTP session.
    let log = impostor.log();
    assert!(!log.contains("Accepted publickey") && !log.contains("subsystem request for sftp"), "{log}");

    drop(impostor);
    sshd.restart();
    pinned.deploy(&deployable()).await.unwrap_or_else(|e| panic!("{e}; sshd log: {}", sshd.log()));
    assert_eq!(std::fs::read_to_string(out.join("cert.pem")).unwrap(), CHAIN);
}
