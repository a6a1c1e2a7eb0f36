//! `config check`: prints the effective configuration for a good file, and for a bad one exits
//! non-zero naming the key at fault.

use std::process::Output;

use crate::process::command;

fn check(file: Option<&str>, env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    if let Some(text) = file {
        std::fs::write(dir.path().join("c.toml"), text).unwrap();
        cmd.args(["--config", "c.toml"]);
    }
    cmd.args(["config", "check"]).envs(env.iter().copied()).output().unwrap()
}

/// A valid file prints every effective key, file values and environment overrides applied.
#[test]
fn valid_configuration_prints_effective_settings() {
    let out = check(Some("[jobs]\nlease_secs = 120\n"), &[("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:8181")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "lease_secs = 120",
        "listen = \"127.0.0.1:8181\"",
        "path = \"./data/certautopilot.db\"",
        "synchronous = \"full\"",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// Each kind of bad file fails with exit 1 and an error that starts with the key.
#[test]
fn invalid_configurations_name_the_key() {
    for (file, env, key) in [
        ("[store.sqlite]\npth = \"x.db\"\n", vec![], "store.sqlite.pth: unknown field `pth`"),
        ("[jobs]\nlease_secs = \"long\"\n", vec![], "jobs.lease_secs:"),
        ("[jobs]\nlease_secs = 10\nheartbeat_secs = 9\n", vec![], "jobs.heartbeat_secs: must be at most half"),
        ("", vec![("CERTAUTOPILOT_API__LISTEN", "not-an-address")], "api.listen:"),
        ("", vec![("CERTAUTOPILOT_NOPE", "1")], "unknown field `nope`"),
        ("[api\n", vec![], "is not valid TOML"),
    ] {
        let out = check(Some(file), &env);
        assert_eq!(out.status.code(), Some(1), "{file:?} {env:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{file:?} {env:?}: expected {key:?} in {stderr}");
        assert!(out.stdout.is_empty(), "nothing printed as effective config for a bad file");
    }
}

/// A missing config file is a clear error, not the defaults.
#[test]
fn missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path()).args(["--config", "absent.toml", "config", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file absent.toml"));
}
