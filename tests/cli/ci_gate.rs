//! The CI entry point's lint gate is not optional: `.ci/run` on a machine where clippy cannot run
//! fails at once, naming the cause, instead of skipping the gate and passing.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// With a `cargo` whose clippy is missing (it fails every command, as `cargo clippy` does when the
/// component is not installed), `.ci/run` exits non-zero with a message naming clippy, and runs
/// nothing else: the only cargo command it tried was `cargo clippy --version`.
#[test]
fn ci_run_fails_when_clippy_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.log");
    let cargo = dir.path().join("cargo");
    std::fs::write(&cargo, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexit 1\n", calls.display())).unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/run");
    let out = Command::new("bash")
        .arg(&script)
        .env("PATH", format!("{}:/usr/bin:/bin", dir.path().display()))
        .output()
        .expect("run .ci/run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), ".ci/run passed without clippy: {stderr}");
    assert!(stderr.contains("clippy is not installed"), "{stderr}");
    let tried = std::fs::read_to_string(&calls).unwrap_or_default();
    assert_eq!(tried.trim(), "clippy --version", "it went on without the lint gate: {tried}");
}
