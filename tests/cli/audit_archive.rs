//! Audit retention end to end through the real binary: with the organization's retention set, the
//! scheduler's verifier moves verified entries into segment files and the live chain keeps a
//! checkpoint; a SIGKILL at either side of the store step (segment written, not committed; committed)
//! loses and duplicates nothing; `audit verify --archives` walks every segment into the live chain,
//! and a tampered archive names its segment. A SIEM destination that has not received the entries
//! holds archiving back.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::process::{ApiClient, Server, command, wait_for_status};

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let server = Server::start(dir, &[], env);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    server
}

fn archive_dir(dir: &Path) -> PathBuf {
    dir.join("data/audit-archive")
}

/// Committed segments (no `.partial`), sorted by name.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect())
        .unwrap_or_default();
    all.sort();
    all
}

fn verify(dir: &Path, flags: &[&str]) -> (i32, String) {
    let out =
        command(dir).args(["audit", "verify"]).args(flags).env("CERTAUTOPILOT_LOG__FILTER", "error").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn projects(c: &ApiClient, prefix: &str, n: usize) {
    for i in 0..n {
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": format!("{prefix}{i}") })), 201);
    }
}

fn wait_until(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn retention_archives_survive_kills_at_each_step_and_verify_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let archives = archive_dir(dir.path());
    let archives_arg = archives.display().to_string();

    // --- killed after the segment is written, before the store step: the entries stay live.
    let mut server = start(dir.path(), &[("FAILPOINTS", "audit.archive.after_segment=sleep(600000)")]);
    let c = ApiClient::setup_and_login(server.addr);
    projects(&c, "a", 5);
    let retention = c.ok("PUT", "/api/v1/organization/audit-retention", Some(json!({ "days": 0 })), 200);
    assert_eq!(retention["audit_retention_days"], json!(0));
    server.wait_for_log(Duration::from_secs(30), "failpoint reached; pausing");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let written = segments(&archives);
    assert_eq!(written.len(), 1, "the segment was written: {written:?}");
    let (code, said) = verify(dir.path(), &["--archives", &archives_arg]);
    assert_eq!(code, 0, "the live chain is whole, the segment pending: {said}");
    assert!(said.contains("archives intact: 0 segments"), "{said}");

    // --- killed after the store step: the segment is committed, the checkpoint moved.
    let mut server = start(dir.path(), &[("FAILPOINTS", "audit.archive.after_commit=sleep(600000)")]);
    server.wait_for_log(Duration::from_secs(30), "failpoint reached; pausing");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let (code, said) = verify(dir.path(), &["--archives", &archives_arg]);
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("archives intact: 1 segments"), "{said}");

    // --- running on: more history, more segments, and verify still walks all of it. Each round
    // pauses between its segment and its store step, so the test always meets that window.
    let server = start(dir.path(), &[("FAILPOINTS", "audit.archive.after_segment=sleep(300)")]);
    let mut c = ApiClient { addr: server.addr, token: None };
    c.login();
    projects(&c, "b", 5);
    // The segment file is in place before its store step commits `audit.archived`: wait for both.
    let archived_events =
        || c.ok("GET", "/api/v1/audit/events?action=audit.archived", None, 200)["items"].as_array().unwrap().len();
    wait_until("a second segment, committed and audited", Duration::from_secs(30), || {
        segments(&archives).len() >= 2 && archived_events() >= 2
    });
    let live_from = c.ok("GET", "/api/v1/audit/events?limit=1", None, 200)["items"][0]["seq"].as_u64().unwrap();
    assert!(live_from > 1, "the live chain starts past the archives");
    drop(server);
    // Contiguous from the first entry through the segments into the live chain: nothing lost,
    // nothing twice (each entry must follow the one before it).
    let (code, said) = verify(dir.path(), &["--archives", &archives_arg]);
    assert_eq!(code, 0, "{said}");
    let number_after = |label: &str| -> u64 {
        said.split(label)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {said}"))
    };
    let (archived, total) = (number_after("segments, "), number_after("chain intact: "));
    // A round may have written its segment and been stopped before committing: such a segment
    // starts past the checkpoint and is pending; the committed ones end exactly at it.
    let names: Vec<String> =
        segments(&archives).iter().map(|s| s.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let at_checkpoint = names.iter().position(|n| n.ends_with(&format!("-{archived:020}.jsonl")));
    let at_checkpoint = at_checkpoint.unwrap_or_else(|| panic!("a segment ends at the checkpoint: {names:?} {said}"));
    for pending in &names[at_checkpoint + 1..] {
        assert!(pending.contains(&format!("-{:020}-", archived + 1)), "only a pending segment follows: {names:?}");
    }
    assert!(archived >= live_from - 1 && archived < total, "{said}");

    // --- tampered archives name their segment.
    let tampered = |case: &str, change: &dyn Fn(&[PathBuf])| -> String {
        let copy = dir.path().join(format!("tamper-{case}"));
        std::fs::create_dir_all(&copy).unwrap();
        for segment in segments(&archives) {
            std::fs::copy(&segment, copy.join(segment.file_name().unwrap())).unwrap();
        }
        change(&segments(&copy));
        let (code, said) = verify(dir.path(), &["--archives", copy.to_str().unwrap()]);
        assert_eq!(code, 1, "{case}: {said}");
        said
    };
    let said = tampered("byte", &|s| {
        let text = std::fs::read_to_string(&s[0]).unwrap().replacen("project.created", "project.deleted", 1);
        std::fs::write(&s[0], text).unwrap();
    });
    assert!(said.contains("archives broken: segment segment-") && said.contains("content changed"), "{said}");
    let said = tampered("missing", &|s| std::fs::remove_file(&s[0]).unwrap());
    assert!(said.contains("entry missing (expected seq 1)"), "{said}");
    let said = tampered("reordered", &|s| {
        let (a, b) = (std::fs::read(&s[0]).unwrap(), std::fs::read(&s[1]).unwrap());
        std::fs::write(&s[0], b).unwrap();
        std::fs::write(&s[1], a).unwrap();
    });
    assert!(said.contains("entry missing (expected seq 1)"), "{said}");
    let said = tampered("foreign", &|s| {
        let org = s[0].file_name().unwrap().to_string_lossy()["segment-".len().."segment-".len() + 36].to_owned();
        let other = "00000000-0000-4000-8000-000000000001";
        let text = std::fs::read_to_string(&s[0]).unwrap().replace(&org, other);
        std::fs::write(&s[0], text).unwrap();
    });
    assert!(said.contains("belongs to organization 00000000-0000-4000-8000-000000000001"), "{said}");
}

/// A SIEM destination that has received nothing (its receiver is not there) holds retention back:
/// nothing is archived, and the verifier's snapshot names the destination.
#[test]
fn a_siem_destination_behind_holds_archiving_back() {
    let dir = tempfile::tempdir().unwrap();
    let closed = certautopilot_connectors::testsupport::PortReservation::tcp();
    let config = format!(
        "[node]\nid = \"n1\"\n[[siem]]\nname = \"soc\"\nformat = \"rfc5424\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\n",
        closed.port()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let server = Server::start(dir.path(), &["--config", "c.toml"], &[]);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let c = ApiClient::setup_and_login(server.addr);
    projects(&c, "p", 3);
    c.ok("PUT", "/api/v1/organization/audit-retention", Some(json!({ "days": 0 })), 200);
    let verifier = c.wait_for("/api/v1/admin/actors/audit_verifier/n1", Duration::from_secs(30), "held back", |a| {
        a["detail"]["archiving_held_by"].as_str().is_some_and(|h| h.starts_with("soc at seq 0"))
    });
    assert_eq!(verifier["detail"]["entries_archived"], json!(0), "{verifier}");
    assert!(segments(&archive_dir(dir.path())).is_empty(), "nothing archived past the destination");
    drop(closed);
}
