//! `deploy/install.sh` staged under a temporary root (`--root`): the binary, a configuration that
//! `config check` accepts, a 0600 file KEK made by the binary, 0750/0700 directories, the systemd
//! units and the nginx site with a self-signed certificate; a second run keeps every one of them
//! as it was. The installed service then runs from those files behind the installed site in
//! Debian's nginx and answers the setup page over HTTPS, and, once it has an ACME account, issues
//! its own certificate through the file target settings the installer wrote, which nginx then
//! serves. `--uninstall` keeps the configuration and data; `--purge` removes them. And the same
//! for real, as root: the system user, the service running as that user, and a clean purge.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE, verify_chain};
use serde_json::json;

use crate::distribution::deployments;
use crate::issuance::{FAST, install_ring, project};
use crate::nginx::Nginx;
use crate::ownership::run_client;
use crate::process::{ApiClient, BIN, Server, clean_env, command, wait_for_status};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/install.sh");

/// Runs the installer with `args`; (success, what it printed).
fn run_installer(args: &[&str]) -> (bool, String) {
    let out = Command::new("bash").arg(SCRIPT).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn install(root: &Path, args: &[&str]) -> String {
    let root = root.display().to_string();
    let all: Vec<&str> = ["--root", root.as_str()].into_iter().chain(args.iter().copied()).collect();
    let (ok, said) = run_installer(&all);
    assert!(ok, "install.sh {args:?}: {said}");
    said
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_staged_install_runs_behind_nginx_and_uninstalls_keeping_data_until_purged() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let said = install(&root, &["--binary", BIN]);
    assert!(said.contains("/setup"), "it says where to go next: {said}");
    let etc = root.join("etc/certautopilot");
    let data = root.join("var/lib/certautopilot");
    let (config, kek, cert, key) = (
        etc.join("certautopilot.toml"),
        etc.join("kek.json"),
        etc.join("tls/fullchain.pem"),
        etc.join("tls/privkey.pem"),
    );
    assert_eq!((mode(&etc), mode(&data), mode(&kek), mode(&config)), (0o750, 0o700, 0o600, 0o640));
    for unit in ["certautopilot.service", "certautopilot@.service", "certautopilot-worker@.service"] {
        assert!(root.join("etc/systemd/system").join(unit).is_file(), "{unit}");
    }
    let site = std::fs::read_to_string(root.join("etc/nginx/sites-available/certautopilot")).unwrap();
    assert_eq!(
        std::fs::read_link(root.join("etc/nginx/sites-enabled/certautopilot")).unwrap(),
        Path::new("/etc/nginx/sites-available/certautopilot")
    );

    // --- idempotent: the configuration, the KEK and the certificate are kept.
    let before = [read(&config), read(&kek), read(&cert)];
    install(&root, &["--binary", BIN]);
    assert_eq!([read(&config), read(&kek), read(&cert)], before, "a second run changes nothing it made");

    // --- the installed files run: config check, then the service behind the installed site.
    let kek_path = kek.display().to_string();
    let data_path = data.display().to_string();
    let paths =
        [("CERTAUTOPILOT_KEK__FILE_PATH", kek_path.as_str()), ("CERTAUTOPILOT_NODE__DATA_DIR", data_path.as_str())];
    let installed = root.join("usr/local/bin/certautopilot");
    let check =
        Command::new(&installed).arg("--config").arg(&config).args(["config", "check"]).envs(paths).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let config_arg = config.display().to_string();
    let server = Server::start(dir.path(), &["--config", &config_arg], &paths);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let nginx = Nginx::start_site(&dir.path().join("nginx"), &site, &server.addr.to_string(), &cert, &key, &cert);
    let (code, _, body) = nginx.curl(&[&nginx.url("/setup")]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("<form"), "the setup page, over HTTPS through nginx: {body}");
    drop(nginx);
    drop(server);

    // --- uninstall keeps the configuration, KEK and data; purge removes them.
    install(&root, &["--uninstall"]);
    assert!(!installed.exists() && !root.join("etc/systemd/system/certautopilot.service").exists());
    assert!(!root.join("etc/nginx/sites-enabled/certautopilot").exists());
    assert!(kek.is_file() && config.is_file() && data.is_dir(), "kept until --purge");
    install(&root, &["--uninstall", "--purge"]);
    assert!(!etc.exists() && !data.exists());
}

/// The client as an operator runs it after the installer; it must succeed.
fn client(dir: &Path, home: &Path, args: &[&str], stdin: &str) -> String {
    let (code, said) = run_client(dir, home, args, stdin);
    assert_eq!(code, 0, "certautopilot {args:?}: {said}");
    said
}

/// The installer's next steps, followed: with an ACME account (Pebble) and a DNS credential (BIND)
/// in a project, `target create` with the settings file it wrote and `cert create --target` make
/// the service write its own certificate over the self-signed one, key 0600; nginx, started again
/// on the same files (what certautopilot-tls.path's reload does under systemd), then serves a chain
/// that verifies to Pebble's root for the service's name.
#[test]
fn the_installed_service_issues_its_own_certificate_and_nginx_serves_it() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let said = install(&root, &["--binary", BIN]);
    let etc = root.join("etc/certautopilot");
    let tls = etc.join("tls");
    let settings_file = etc.join("nginx-target.json");
    assert!(said.contains(&format!("--settings {}", settings_file.display())), "the next steps name it: {said}");
    let config = std::fs::read_to_string(etc.join("certautopilot.toml")).unwrap();
    assert!(config.contains("allowed_dirs = [\"/etc/certautopilot/tls\"]"), "{config}");
    for unit in ["certautopilot-tls.path", "certautopilot-tls-reload.service"] {
        assert!(root.join("etc/systemd/system").join(unit).is_file(), "{unit}");
    }

    // --- the service from the installed files; only the staged root's paths differ.
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let (kek, data, allowed) = (
        etc.join("kek.json").display().to_string(),
        root.join("var/lib/certautopilot").display().to_string(),
        tls.display().to_string(),
    );
    let staged = [
        ("CERTAUTOPILOT_KEK__FILE_PATH", kek.as_str()),
        ("CERTAUTOPILOT_NODE__DATA_DIR", data.as_str()),
        ("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", allowed.as_str()),
    ];
    let vars: Vec<(&str, &str)> = FAST.iter().copied().chain(staged).collect();
    let config_arg = etc.join("certautopilot.toml").display().to_string();
    let server = Server::start_with(command(dir.path()), &["--config", &config_arg], &vars);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let api = ApiClient::setup_and_login(server.addr);
    let (pid, _) = project(&api, &env, "this-service", None);

    let site = std::fs::read_to_string(root.join("etc/nginx/sites-available/certautopilot")).unwrap();
    let (cert, key) = (tls.join("fullchain.pem"), tls.join("privkey.pem"));
    let pebble_root = dir.path().join("pebble-root.pem");
    std::fs::write(&pebble_root, env.pebble.issuing_root_pem()).unwrap();
    let name = format!("console.{ZONE}");
    let nginx =
        Nginx::start_site(&dir.path().join("nginx-1"), &site, &server.addr.to_string(), &cert, &key, &pebble_root);
    let (code, _, _) = nginx.curl_named(&name, "/setup");
    assert_eq!(code, 0, "the self-signed certificate is not one Pebble's root vouches for");
    drop(nginx);

    // --- the printed steps, on the client.
    let settings = std::fs::read_to_string(&settings_file).unwrap().replace("/etc/certautopilot/tls", &allowed);
    let staged_settings = dir.path().join("nginx-target.json");
    std::fs::write(&staged_settings, settings).unwrap();
    let home = dir.path().join("home");
    let server_url = format!("http://{}", server.addr);
    client(
        dir.path(),
        &home,
        &["login", "--server", &server_url, "--email", "owner@acme.test"],
        "correct horse battery staple\n",
    );
    let target_args = ["target", "create", "--project", &pid, "--name", "this-service", "--type", "file", "--settings"];
    let mut args: Vec<&str> = target_args.to_vec();
    let staged_settings_arg = staged_settings.display().to_string();
    args.push(&staged_settings_arg);
    client(dir.path(), &home, &args, "");
    let created = client(
        dir.path(),
        &home,
        &[
            "cert",
            "create",
            "--project",
            &pid,
            "--account",
            "pebble",
            "--name",
            &name,
            "--target",
            "this-service",
            "--wait",
            "-o",
            "json",
        ],
        "",
    );
    assert!(created.contains("issued"), "{created}");
    let certs = api.ok("GET", &format!("/api/v1/certificates?project_id={pid}"), None, 200);
    let cid = certs["items"][0]["id"].as_str().unwrap().to_owned();
    deployments(&api, &cid, "its own certificate deployed", |items| {
        items.len() == 1 && items[0]["status"] == json!("deployed")
    });

    // --- the files are the issued chain and its key; nginx serves them under the service's name.
    let (_, chain) = api.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(std::fs::read_to_string(&cert).unwrap(), chain);
    verify_chain(&chain, &env.pebble.issuing_root_pem(), &name).unwrap();
    assert_eq!(mode(&key), 0o600);
    let nginx =
        Nginx::start_site(&dir.path().join("nginx-2"), &site, &server.addr.to_string(), &cert, &key, &pebble_root);
    let (code, _, body) = nginx.curl_named(&name, "/readyz");
    assert_eq!(code, 200, "nginx serves the service's own certificate, trusted through Pebble's root: {body}");
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}

/// Purges a real installation even when the test fails half-way.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        let _ = run_installer(&["--uninstall", "--purge"]);
    }
}

/// The installer for real (CI runs as root on a throwaway machine): the system user, directories
/// owned by it, the service running as that user (`setpriv`, as systemd's `User=` would) from
/// `/usr/local/bin` on the installed configuration and KEK, writing its store under
/// `/var/lib/certautopilot`, the setup page through nginx on the installed site and certificate;
/// `--uninstall` keeps the data, `--purge` removes it and the user.
#[test]
fn a_real_install_as_root_serves_as_its_own_user_and_purges_cleanly() {
    assert!(is_root(), "this test installs for real, as root (CI's machine is throwaway and runs tests as root)");
    for path in ["/etc/certautopilot", "/var/lib/certautopilot", "/usr/local/bin/certautopilot"] {
        assert!(!Path::new(path).exists(), "{path} exists: this machine holds an installation this test would replace");
    }
    assert_eq!(uid_of("certautopilot"), None, "a user certautopilot exists already");
    let _purge = PurgeOnDrop;
    let (ok, said) = run_installer(&["--binary", BIN]);
    assert!(ok, "{said}");
    assert!(said.contains("created the system user certautopilot"), "{said}");
    let uid = uid_of("certautopilot").expect("the system user");
    let etc = Path::new("/etc/certautopilot");
    let data = Path::new("/var/lib/certautopilot");
    for (path, owner, perms) in [
        (etc.to_path_buf(), 0, 0o750),
        (etc.join("kek.json"), uid, 0o600),
        (etc.join("certautopilot.toml"), 0, 0o640),
        (etc.join("tls"), uid, 0o750),
        (etc.join("tls/privkey.pem"), uid, 0o600),
        (data.to_path_buf(), uid, 0o700),
    ] {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.mode() & 0o777), (owner, perms), "{}", path.display());
    }

    // --- as the service's own user, on the installed files only.
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=certautopilot", "--regid=certautopilot", "--init-groups", "--"])
        .args(["/usr/local/bin/certautopilot", "--config", "/etc/certautopilot/certautopilot.toml"])
        .current_dir("/");
    clean_env(&mut cmd);
    let server = Server::start_with(cmd, &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let store =
        std::fs::read_dir(data).unwrap().map(|e| e.unwrap()).find(|e| e.file_name().to_string_lossy().ends_with(".db"));
    let store = store.expect("the store under /var/lib/certautopilot");
    assert_eq!(store.metadata().unwrap().uid(), uid, "written by the service's user");
    let site = std::fs::read_to_string("/etc/nginx/sites-enabled/certautopilot").unwrap();
    let (cert, key) = (etc.join("tls/fullchain.pem"), etc.join("tls/privkey.pem"));
    let nginx_dir = tempfile::tempdir().unwrap();
    let nginx = Nginx::start_site(nginx_dir.path(), &site, &server.addr.to_string(), &cert, &key, &cert);
    let (code, _, body) = nginx.curl(&[&nginx.url("/setup")]);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("<form"), "the setup page over HTTPS: {body}");
    drop(nginx);
    drop(server);

    // --- uninstall keeps what matters until --purge; purge leaves nothing, the user included.
    let (ok, said) = run_installer(&["--uninstall"]);
    assert!(ok, "{said}");
    assert!(
        !Path::new("/usr/local/bin/certautopilot").exists()
            && !Path::new("/etc/nginx/sites-enabled/certautopilot").exists()
    );
    assert!(etc.join("kek.json").is_file() && data.is_dir(), "kept until --purge");
    let (ok, said) = run_installer(&["--uninstall", "--purge"]);
    assert!(ok, "{said}");
    assert!(!etc.exists() && !data.exists());
    assert_eq!(uid_of("certautopilot"), None, "the user is gone");
}
