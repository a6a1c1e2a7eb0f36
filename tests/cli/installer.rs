//! `deploy/install.sh` staged under a temporary root (`--root`): the binary, a configuration that
//! `config check` accepts, a 0600 file KEK made by the binary, 0750/0700 directories, the systemd
//! units and the nginx site with a self-signed certificate; a second run keeps every one of them
//! as it was. The installed service then runs from those files behind the installed site in
//! Debian's nginx and answers the setup page over HTTPS. `--uninstall` keeps the configuration and
//! data; `--purge` removes them.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::nginx::Nginx;
use crate::process::{BIN, Server, wait_for_status};

fn install(root: &Path, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/install.sh");
    let out = Command::new("bash").arg(script).arg("--root").arg(root).args(args).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "install.sh {args:?}: {said}");
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
