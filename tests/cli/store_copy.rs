//! `certautopilot store copy` as an operator runs it: an installation set up by `setup` copied into a
//! new SQLite file and into a second installation's configuration, with progress, equal counts and
//! the target's audit chains verified; a non-empty target refused with nothing written; a MongoDB
//! URI's password never printed.

use std::path::Path;
use std::process::Output;

use crate::process::command;

/// Sets up an installation in `dir` (file KEK `kek.json`, data in `data/`) and returns its config.
fn set_up(dir: &Path) -> std::path::PathBuf {
    use std::io::Write as _;
    let config = dir.join("c.toml");
    std::fs::create_dir(dir.join("data")).unwrap();
    std::fs::write(
        &config,
        format!(
            "[node]\ndata_dir = \"{}\"\n[kek]\nprovider = \"file\"\nfile_path = \"{}\"\n",
            dir.join("data").display(),
            dir.join("kek.json").display()
        ),
    )
    .unwrap();
    let init = command(dir).args(["--config", "c.toml", "kek", "init"]).output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let mut setup = command(dir)
        .args(["--config", "c.toml", "setup", "--org", "Moving", "--email", "owner@moving.test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    setup.stdin.take().unwrap().write_all(b"correct horse battery staple\n").unwrap();
    assert!(setup.wait().unwrap().success());
    config
}

fn copy(dir: &Path, from: &str, to: &str) -> Output {
    command(dir).args(["store", "copy", "--from", from, "--to", to]).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap()
}

/// A copy into a new SQLite file reports each part's progress and count and checks the chain's
/// links against the source's head (no KEK given); a second copy into it is refused, exit 1, and
/// writes nothing. A copy into another installation's configuration verifies the chain fully with
/// that installation's KEK (the same key file: sealed values were copied as ciphertext).
#[test]
fn an_installation_moves_to_an_empty_store_and_never_into_a_full_one() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let source_config = set_up(&source);
    let source_db = source.join("data/certautopilot.db");

    let target_db = dir.path().join("copy.db");
    let out = copy(dir.path(), source_db.to_str().unwrap(), &format!("sqlite://{}", target_db.display()));
    let report = text(&out);
    assert!(out.status.success(), "{report}");
    assert!(report.contains("organizations                    1/1"), "progress per part: {report}");
    assert!(report.contains("counts equal in source and target"), "{report}");
    assert!(report.contains("Moving: chain linked: 1 entries"), "{report}");
    assert!(report.contains("(the source's)"), "{report}");
    for table in ["organizations", "users", "sealed_secrets", "audit_events"] {
        assert_eq!(rows(&target_db, table), rows(&source_db, table), "{table}");
    }

    let out = copy(dir.path(), source_db.to_str().unwrap(), target_db.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the target store is not empty"), "{}", text(&out));
    assert!(text(&out).contains("nothing was written"), "{}", text(&out));
    assert_eq!(rows(&target_db, "audit_events"), 1);

    // A second installation with the same KEK file: the copy's chain verifies with it.
    let moved = dir.path().join("moved");
    std::fs::create_dir(&moved).unwrap();
    let moved_config = moved.join("c.toml");
    std::fs::write(
        &moved_config,
        format!(
            "[node]\ndata_dir = \"{}\"\n[kek]\nprovider = \"file\"\nfile_path = \"{}\"\n",
            moved.join("data").display(),
            source.join("kek.json").display()
        ),
    )
    .unwrap();
    let out = copy(dir.path(), source_config.to_str().unwrap(), moved_config.to_str().unwrap());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("with its KEK (audit verify)"), "{}", text(&out));
    assert!(text(&out).contains("Moving: chain intact: 1 entries"), "{}", text(&out));
    let verify = command(dir.path()).args(["--config", moved_config.to_str().unwrap(), "audit", "verify"]).output();
    assert!(verify.unwrap().status.success());
}

/// `uri` (the test server's) with `database` as its path.
fn with_database(uri: &str, database: &str) -> String {
    match uri.split_once("/?") {
        Some((hosts, query)) => format!("{hosts}/{database}?{query}"),
        None => format!("{}/{database}", uri.trim_end_matches('/')),
    }
}

/// SQLite → MongoDB → SQLite with the binary: the MongoDB copy's chains link to the source's head,
/// the copy back into a second installation verifies fully with its KEK and holds what the source
/// held, and a second copy into the (now non-empty) MongoDB database is refused.
#[test]
fn an_installation_moves_to_mongodb_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    set_up(&source);
    let source_db = source.join("data/certautopilot.db");
    let mongo = with_database(
        &certautopilot_core::testsupport::shared_mongodb_uri(),
        &format!("cli{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()),
    );

    let out = copy(dir.path(), source_db.to_str().unwrap(), &mongo);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Moving: chain linked: 1 entries"), "{}", text(&out));
    let again = copy(dir.path(), source_db.to_str().unwrap(), &mongo);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(text(&again).contains("the target store is not empty"), "{}", text(&again));

    let back = dir.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let back_config = back.join("c.toml");
    std::fs::write(
        &back_config,
        format!(
            "[node]\ndata_dir = \"{}\"\n[kek]\nprovider = \"file\"\nfile_path = \"{}\"\n",
            back.join("data").display(),
            source.join("kek.json").display()
        ),
    )
    .unwrap();
    let out = copy(dir.path(), &mongo, back_config.to_str().unwrap());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Moving: chain intact: 1 entries"), "{}", text(&out));
    let back_db = back.join("data/certautopilot.db");
    for table in ["organizations", "users", "sealed_secrets", "audit_events", "audit_outbox"] {
        assert_eq!(rows(&back_db, table), rows(&source_db, table), "{table}");
    }
}

/// Whatever goes wrong with a MongoDB target, the URI's password is not in the output.
#[test]
fn a_mongodb_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    set_up(&source);
    let from = source.join("data/certautopilot.db");
    for to in [
        "mongodb://cap:hunter2@127.0.0.1:1/capdb?serverSelectionTimeoutMS=200&connectTimeoutMS=200",
        "mongodb://cap:hunter2@127.0.0.1:1/?replicaSet=rs0",
    ] {
        let out = copy(dir.path(), from.to_str().unwrap(), to);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(!text(&out).contains("hunter2"), "{}", text(&out));
        assert!(text(&out).contains("cap:***@127.0.0.1:1"), "{}", text(&out));
    }
}
