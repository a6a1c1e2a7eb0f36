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

/// `store.backend = "mongodb"`: the effective configuration shows the URI with its password
/// redacted, and a bad URI or database name fails naming its key, without the password either.
#[test]
fn mongodb_settings_are_checked_and_the_password_never_printed() {
    let password = "n0t-for-eyes";
    let uri = format!("mongodb://cap:{password}@db1:27017,db2:27017/?replicaSet=rs0");
    let env = [("CERTAUTOPILOT_STORE__BACKEND", "mongodb"), ("CERTAUTOPILOT_STORE__MONGODB__URI", uri.as_str())];
    let out = check(Some("[store.mongodb]\ndatabase = \"cap_prod\"\n"), &env);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("backend = \"mongodb\""), "{text}");
    assert!(text.contains("uri = \"mongodb://cap:***@db1:27017,db2:27017/?replicaSet=rs0\""), "{text}");
    assert!(text.contains("database = \"cap_prod\""), "{text}");
    assert!(!text.contains(password), "{text}");

    for (file, key) in [
        (format!("[store]\nbackend = \"mongodb\"\n[store.mongodb]\nuri = \"mysql://cap:{password}@db1/\"\n"), "store.mongodb.uri:"),
        ("[store]\nbackend = \"mongodb\"\n".to_owned(), "store.mongodb.uri: is required"),
        (
            "[store]\nbackend = \"mongodb\"\n[store.mongodb]\nuri = \"mongodb://db1/\"\ndatabase = \"a.b\"\n".to_owned(),
            "store.mongodb.database:",
        ),
        (
            "[store]\nbackend = \"mongodb\"\n[store.mongodb]\nuri = \"mongodb://db1/\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n"
                .to_owned(),
            "store.mongodb.tls_ca_file: /nonexistent/ca.pem is not a file",
        ),
        (
            "[store]\nbackend = \"mongodb\"\n[store.mongodb]\nuri_file = \"/nonexistent/uri\"\n".to_owned(),
            "store.mongodb.uri_file: cannot read /nonexistent/uri",
        ),
    ] {
        let out = check(Some(&file), &[]);
        assert_eq!(out.status.code(), Some(1), "{file:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(key), "{file:?}: expected {key:?} in {stderr}");
        assert!(!stderr.contains(password), "{stderr}");
    }
}
