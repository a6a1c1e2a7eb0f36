//! The audit chain against its own database file: every tamper case makes `audit verify` exit 1 and
//! name the right entry, and a service killed (SIGKILL) in the middle of a stream of changes leaves
//! every change with its event, every event with its change, and a chain that verifies.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::process::{Server, command, post_json, try_http_request, wait_for_status};

/// Sets up an organization and makes some history: returns the owner's token.
fn make_history(addr: std::net::SocketAddr, projects: usize) -> String {
    post_json(
        addr,
        "/api/v1/setup",
        None,
        json!({ "org_name": "Audit", "email": "owner@audit.test", "password": "correct horse battery staple" }),
    );
    let (_, login) = post_json(
        addr,
        "/api/v1/auth/login",
        None,
        json!({ "email": "owner@audit.test", "password": "correct horse battery staple" }),
    );
    let token = login["token"].as_str().unwrap().to_owned();
    for i in 0..projects {
        let (status, _) = post_json(addr, "/api/v1/projects", Some(&token), json!({ "name": format!("p{i}") }));
        assert_eq!(status, 201);
    }
    token
}

/// `audit verify --full`: the tamper cases edit entries anywhere, also before the verified mark.
fn verify(dir: &Path) -> (i32, String) {
    verify_with(dir, &["--full"])
}

fn verify_with(dir: &Path, flags: &[&str]) -> (i32, String) {
    let out =
        command(dir).args(["audit", "verify"]).args(flags).env("CERTAUTOPILOT_LOG__FILTER", "error").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("data")).unwrap();
    for entry in std::fs::read_dir(from.join("data")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join("data").join(entry.file_name())).unwrap();
    }
}

fn tamper(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("data/certautopilot.db")).unwrap();
    conn.execute_batch(sql).unwrap();
}

fn doc(dir: &Path, seq: u64) -> serde_json::Value {
    let conn = rusqlite::Connection::open(dir.join("data/certautopilot.db")).unwrap();
    let text: String =
        conn.query_row("SELECT doc FROM audit_events WHERE seq = ?1", [seq as i64], |r| r.get(0)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_tamper_is_caught_at_the_right_entry() {
    let pristine = tempfile::tempdir().unwrap();
    {
        let mut server = Server::start(pristine.path(), &[], &[]);
        wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
        make_history(server.addr, 6);
        server.signal(libc::SIGTERM);
        assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    }
    // org.created, login.succeeded, then six project.created: seq 1..=8.
    let (code, out) = verify(pristine.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain intact: 8 entries, head "), "{out}");

    let case = |name: &str, apply: &dyn Fn(&Path), expect: &str| {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), dir.path());
        apply(dir.path());
        let (code, out) = verify(dir.path());
        assert_eq!(code, 1, "{name}: {out}");
        assert!(out.contains(expect), "{name}: expected {expect:?} in {out}");
    };
    case(
        "one byte of one entry's details",
        &|d| tamper(d, r#"UPDATE audit_events SET doc = replace(doc, '"name":"p2"', '"name":"q2"') WHERE seq = 5"#),
        "chain broken at seq 5: content changed",
    );
    case(
        "an entry deleted",
        &|d| tamper(d, "DELETE FROM audit_events WHERE seq = 4"),
        "chain broken at seq 5: entry missing (expected seq 4)",
    );
    case(
        "two entries swapped",
        &|d| {
            tamper(
                d,
                "UPDATE audit_events SET seq = -1 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = -1",
            )
        },
        "chain broken at seq 3: the stored entry is damaged: it was hashed as seq 4 (entries moved)",
    );
    case(
        "an entry made unreadable",
        &|d| tamper(d, "UPDATE audit_events SET doc = '{broken' WHERE seq = 7"),
        "chain broken at seq 7: the stored entry is damaged",
    );
    case(
        "a searchable column changed behind the hash",
        &|d| tamper(d, "UPDATE audit_events SET action = 'member.added' WHERE seq = 3"),
        "chain broken at seq 3: the stored entry is damaged: its indexed columns disagree with the hashed entry",
    );
    case(
        "an entry's hmac recomputed without the secret",
        &|d| {
            let mut entry: certautopilot_core::model::AuditEvent = serde_json::from_value(doc(d, 6)).unwrap();
            entry.details = json!({ "name": "forged" });
            entry.hmac = certautopilot_core::audit::entry_hmac(
                &certautopilot_core::crypto::SecretBytes::new(vec![1; 32]),
                &entry,
            );
            let conn = rusqlite::Connection::open(d.join("data/certautopilot.db")).unwrap();
            conn.execute("UPDATE audit_events SET doc = ?1 WHERE seq = 6", [serde_json::to_string(&entry).unwrap()])
                .unwrap();
        },
        "chain broken at seq 6: content changed",
    );
}

/// Projects are created from several clients at once while the service is SIGKILLed; afterwards
/// every project has its `project.created` event (chained, or committed to the outbox with it and
/// not chained yet) and every such event its project, and the chain verifies: a change and its
/// event land together or not at all. A restarted service chains what was left in the outbox
/// (a failpoint holds the first process's AuditActor, so there always is something left).
#[test]
fn killed_mid_stream_every_change_has_its_event_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    // Its AuditActor is held before chaining, so the kill finds events committed and not chained.
    let mut server = Server::start(dir.path(), &[], &[("FAILPOINTS", "audit.before_chain=sleep(600000)")]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let token = make_history(server.addr, 0);
    let addr = server.addr;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let token = token.clone();
            std::thread::spawn(move || {
                let auth = format!("Bearer {token}");
                // Until the server is gone: then requests fail and the stream ends.
                for i in 0.. {
                    let body = json!({ "name": format!("w{w}-{i}") });
                    if try_http_request(addr, "POST", "/api/v1/projects", &[("Authorization", &auth)], Some(&body))
                        .is_none()
                    {
                        break;
                    }
                }
            })
        })
        .collect();
    // Let a good number of changes land, then kill without warning.
    let conn = rusqlite::Connection::open(dir.path().join("data/certautopilot.db")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get::<_, i64>(0)).unwrap_or(0) < 60 {
        assert!(std::time::Instant::now() < deadline, "writers made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    for w in writers {
        let _ = w.join();
    }
    let ids = |sql: &str| -> Vec<String> {
        conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    };
    let projects = ids("SELECT id FROM projects ORDER BY id");
    let chained_sql =
        "SELECT json_extract(doc, '$.object.id') FROM audit_events WHERE action = 'project.created' ORDER BY 1";
    let chained = ids(chained_sql);
    let waiting = ids("SELECT json_extract(draft, '$.object.id') FROM audit_outbox
         WHERE json_extract(draft, '$.action') = 'project.created' ORDER BY 1");
    assert!(projects.len() >= 60);
    let mut events: Vec<String> = chained.iter().chain(&waiting).cloned().collect();
    events.sort();
    assert_eq!(projects, events, "every project has its event (chained or in the outbox), each once");
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(chained.is_empty() && !waiting.is_empty(), "the actor was held: nothing chained");
    assert!(out.contains("chain intact: 0 entries"), "{out}");
    let outbox: i64 = conn.query_row("SELECT COUNT(*) FROM audit_outbox", [], |r| r.get(0)).unwrap();
    assert!(out.contains(&format!("{outbox} more committed and waiting in the outbox")), "{out}");

    // A new process's AuditActor chains what the killed one left, and the chain still verifies.
    let server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while conn.query_row("SELECT COUNT(*) FROM audit_outbox", [], |r| r.get::<_, i64>(0)).unwrap() > 0 {
        assert!(std::time::Instant::now() < deadline, "the outbox was not drained after the restart");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
    assert_eq!(ids(chained_sql), projects, "after the restart every event is chained");
    drop(conn);
    let (code, out) = verify(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("waiting in the outbox"), "{out}");
}

/// Issue M2.1b item 2: a read command run where there is no installation creates nothing (no
/// `./data`, no store, no development KEK) and says where it looked and how to point it elsewhere;
/// with `--config` naming the service's configuration it finds the store from anywhere.
#[test]
fn commands_other_than_serve_and_setup_never_create_a_store() {
    let elsewhere = tempfile::tempdir().unwrap();
    for args in [&["audit", "verify"][..], &["kek", "status"], &["kek", "rotate"]] {
        let out = command(elsewhere.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        let looked = elsewhere.path().join("data/certautopilot.db");
        assert!(stderr.contains(&format!("no store at {}", looked.display())), "{args:?}: {stderr}");
        assert!(stderr.contains("--config") && stderr.contains("CERTAUTOPILOT_NODE__DATA_DIR"), "{stderr}");
        assert!(std::fs::read_dir(elsewhere.path()).unwrap().next().is_none(), "{args:?} created something");
    }

    // The service's installation, reached from elsewhere through its configuration file.
    let service = tempfile::tempdir().unwrap();
    let mut server = Server::start(service.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    make_history(server.addr, 1);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
    let config = elsewhere.path().join("certautopilot.toml");
    std::fs::write(&config, format!("[node]\ndata_dir = {:?}\n", service.path().join("data").display().to_string()))
        .unwrap();
    let out =
        command(elsewhere.path()).args(["--config", config.to_str().unwrap(), "audit", "verify"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Standard output is the result alone; log lines (the dev KEK warning among them) go to stderr.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("Audit: chain intact") && stdout.lines().count() == 1, "{stdout}");
    let left: Vec<_> = std::fs::read_dir(elsewhere.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, [std::ffi::OsString::from("certautopilot.toml")], "nothing was created beside the config");
}

/// The scheduler's verifier keeps the verified-up-to mark near the head while the service runs:
/// `audit verify` then starts from it and reads only the entries since, the API answers the same
/// way, the metric shows the mark; `--full` still walks from the first entry.
#[test]
fn verification_starts_from_the_mark_the_scheduler_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let token = make_history(server.addr, 5);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let said = loop {
        let (code, said) = verify_with(dir.path(), &[]);
        assert_eq!(code, 0, "{said}");
        if said.contains("from the verified mark at entry") {
            break said;
        }
        assert!(std::time::Instant::now() < deadline, "no verified mark within 30 s: {said}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(said.contains("chain intact"), "{said}");
    let (code, full) = verify_with(dir.path(), &["--full"]);
    assert!(code == 0 && full.contains("walked from the first entry"), "{full}");
    let (status, answer) = post_json(server.addr, "/api/v1/audit/verify", Some(&token), json!({}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["intact"].clone(), answer["mode"].clone()), (json!(true), json!("from_mark")), "{answer}");
    assert!(answer["verified_from"].as_u64().unwrap() > 1, "{answer}");
    let metrics = crate::issuance::server_metrics(&mut server);
    let seq = metrics
        .lines()
        .find(|l| l.starts_with("certautopilot_audit_verified_seq{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(seq.is_some_and(|s| s > 1), "the mark is a metric: {metrics}");
}
