//! The deployment files checked by their own tools: hadolint on the Containerfile, the compose file
//! against the Compose specification's JSON schema (check-jsonschema), the Kubernetes manifests
//! against Kubernetes 1.31 (kubernetes-validate), the PrometheusRule holding exactly the shipped
//! alerting rules; the image's filesystem, assembled by deploy/container/build.sh, runs the binary
//! from a chroot; and the image builds from scratch with buildah.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A checker from the tools venv scripts/test fills.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("CAP_TEST_TOOLS_BIN").unwrap_or_else(|_| {
        panic!("CAP_TEST_TOOLS_BIN is not set: run the tests through ./scripts/test, which installs {name}")
    });
    let path = Path::new(&dir).join(name);
    assert!(path.is_file(), "{} is missing: ./scripts/test installs it", path.display());
    path
}

fn passes(command: &mut Command) -> String {
    let out = command.output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{command:?}: {said}");
    said
}

#[test]
fn the_containerfile_passes_hadolint() {
    passes(Command::new(tool("hadolint")).arg(repo().join("deploy/container/Containerfile")));
}

#[test]
fn the_compose_file_follows_the_compose_specification() {
    let schema = std::env::var("CAP_TEST_COMPOSE_SCHEMA")
        .expect("CAP_TEST_COMPOSE_SCHEMA is not set: run the tests through ./scripts/test, which fetches the schema");
    let said = passes(
        Command::new(tool("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema)
            .arg(repo().join("deploy/compose/compose.yaml")),
    );
    assert!(said.contains("ok"), "{said}");
}

#[test]
fn the_kubernetes_manifests_validate_against_1_31_and_carry_the_shipped_alerts() {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    // The Prometheus Operator's kinds have no schema in Kubernetes itself: checked apart below.
    let core: Vec<&PathBuf> = files.iter().filter(|f| !f.ends_with("70-monitoring.yaml")).collect();
    assert!(core.len() >= 7, "{files:?}");
    passes(Command::new(tool("kubernetes-validate")).args(["--kubernetes-version", "1.31.0", "--strict"]).args(&core));
    let monitoring = std::fs::read_to_string(dir.join("70-monitoring.yaml")).unwrap();
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/certautopilot-alerts.yml")).unwrap();
    let groups = &alerts[alerts.find("\ngroups:").expect("a groups section") + 1..];
    let indented: String =
        groups.lines().map(|l| if l.trim().is_empty() { "\n".to_owned() } else { format!("  {l}\n") }).collect();
    assert!(monitoring.ends_with(&indented), "70-monitoring.yaml's PrometheusRule holds exactly the shipped rules");
}

#[test]
fn the_images_filesystem_runs_the_binary() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "this test chroots: run it as root (CI does)");
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    passes(
        Command::new("bash")
            .arg(repo().join("deploy/container/build.sh"))
            .args(["--binary", crate::process::BIN, "--rootfs"])
            .arg(&rootfs)
            .arg("--rootfs-only"),
    );
    let said = passes(Command::new("chroot").arg(&rootfs).args(["/usr/local/bin/certautopilot", "version"]));
    assert!(said.contains(env!("CARGO_PKG_VERSION")), "{said}");
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("certautopilot:x:10001:10001"), "{passwd}");
}

/// The image itself, built from scratch by Debian's buildah (vfs storage and chroot isolation under
/// this test's own directory: nothing pulled, nothing left behind): its user is 10001, its
/// entrypoint the binary, and the binary runs in it. It is run as root here: buildah's chroot
/// isolation cannot start a process as another user in this sandbox ("permission denied"), which a
/// real runtime (runc, crun) does.
#[test]
fn the_image_builds_from_scratch_with_buildah() {
    assert_eq!(unsafe { libc::geteuid() }, 0, "buildah builds as root here (CI runs as root)");
    let dir = tempfile::tempdir().unwrap();
    let storage = |args: &[&str]| {
        let mut command = Command::new("buildah");
        command.arg("--root").arg(dir.path().join("storage")).arg("--runroot").arg(dir.path().join("run"));
        command.args(["--storage-driver", "vfs"]).args(args);
        command
    };
    let context = dir.path().join("context");
    passes(
        Command::new("bash")
            .arg(repo().join("deploy/container/build.sh"))
            .args(["--binary", crate::process::BIN, "--rootfs"])
            .arg(context.join("rootfs"))
            .arg("--rootfs-only"),
    );
    let containerfile = repo().join("deploy/container/Containerfile");
    let containerfile = containerfile.to_str().unwrap();
    passes(
        storage(&[
            "bud",
            "--isolation",
            "chroot",
            "--layers=false",
            "-f",
            containerfile,
            "-t",
            "localhost/certautopilot:test",
        ])
        .arg(&context),
    );
    let config = passes(&mut storage(&[
        "inspect",
        "--format",
        "{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}}",
        "localhost/certautopilot:test",
    ]));
    assert!(config.contains("10001:10001 [/usr/local/bin/certautopilot]"), "{config}");
    let container =
        passes(&mut storage(&["from", "localhost/certautopilot:test"])).lines().last().unwrap().trim().to_owned();
    let said = passes(&mut storage(&[
        "run",
        "--isolation",
        "chroot",
        "--user",
        "0:0",
        &container,
        "--",
        "/usr/local/bin/certautopilot",
        "version",
    ]));
    assert!(said.contains(env!("CARGO_PKG_VERSION")), "{said}");
    let _ = storage(&["rm", &container]).output();
    let _ = storage(&["rmi", "--all", "--force"]).output();
}
