//! The developer tools stay out of builds without their features (issue 16, item 5): `dev-env` and
//! `bench` run the connectors' test support, which release builds leave out. Without the features the
//! subcommands still parse and refuse, naming the feature to build with.

/// `certautopilot dev-env` in a build without `dev-env` exits 1 and says how to get it; nothing
/// is started (no directory is made).
#[cfg(not(feature = "dev-env"))]
#[test]
fn dev_env_names_its_feature_when_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::process::command(dir.path()).args(["dev-env", "--dir", "env"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--features dev-env"), "{stderr}");
    assert!(!dir.path().join("env").exists());
}

/// `certautopilot bench …` with any arguments in a build without `bench` exits 1 and says how to
/// get it.
#[cfg(not(feature = "bench"))]
#[test]
fn bench_names_its_feature_when_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::process::command(dir.path()).args(["bench", "jobs", "--jobs", "10"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--features bench"), "{stderr}");
}
