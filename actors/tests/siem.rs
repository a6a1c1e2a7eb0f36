//! The SIEM forwarder against a real rsyslog (Debian `rsyslog`, `rsyslog-relp`) started on loopback
//! with UDP, TCP and RELP inputs that write each message to a file: every event arrives, parses, and
//! carries its fields; through an outage with two forwarder restarts nothing is lost; and a panic is
//! restarted under supervision, delivering on from its cursor.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_actors::ActorRegistry;
use certautopilot_actors::siem_forwarder::{ForwarderHandle, ForwarderSnapshot, SiemDestination, SiemForwarder};
use certautopilot_actors::testing::wait_for;
use certautopilot_connectors::siem::{SiemFormat, SiemTransport, TlsDestination};
use certautopilot_connectors::testsupport::Rsyslog;
use certautopilot_core::audit::{AuditDraft, ChainWriter};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AuditObject, Organization};
use certautopilot_core::store::sqlite::SqliteStore;
use certautopilot_core::store::{AuditWrite, prelude::*};
use certautopilot_core::{Principal, Timestamp};

/// Starts a forwarder under supervision on this test's arbiter.
fn start(store: &Arc<SqliteStore>, destination: SiemDestination, registry: &ActorRegistry) -> ForwarderHandle {
    SiemForwarder::new(store.clone(), destination, "node-1").start(registry, &actix_rt::Arbiter::current())
}

async fn store_with_events(dir: &Path, n: usize) -> (Arc<SqliteStore>, Organization) {
    let store = Arc::new(SqliteStore::open_in(dir).await.unwrap());
    let org = Organization::new("siem", Timestamp::now());
    store.create_organization(&org).await.unwrap();
    append_events(&store, &org, 0..n).await;
    (store, org)
}

/// Commits events numbered `range` to the organization's chain.
async fn append_events(store: &SqliteStore, org: &Organization, range: std::ops::Range<usize>) {
    let secret = Arc::new(SecretBytes::new(vec![2; 32]));
    for i in range {
        let draft = AuditDraft {
            org_id: org.id,
            actor: Principal::System("test".into()),
            action: if i % 2 == 0 { "cert.requested".into() } else { "member.added".into() },
            object: Some(AuditObject { kind: "certificate".into(), id: format!("c{i}") }),
            project_id: None,
            details: serde_json::json!({ "i": i }),
        };
        store.append_audit(AuditWrite { draft }).await.unwrap();
    }
    ChainWriter::new(org.id, secret).drain(store).await.unwrap();
}

fn tls_destination(rsyslog: &Rsyslog) -> TlsDestination {
    TlsDestination {
        addr: rsyslog.tls(),
        server_name: "127.0.0.1".into(),
        ca_path: rsyslog.ca_pem(),
        client_cert: None,
    }
}

fn destination(name: &str, format: SiemFormat, transport: SiemTransport) -> SiemDestination {
    SiemDestination { name: name.into(), format, transport, batch: 200, backlog_warn: 1_000_000 }
}

/// Seqs found in lines of either format.
fn seqs(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.split_once("seq=\"").map(|(_, r)| r).or_else(|| l.split_once("cn1=").map(|(_, r)| r))?;
            rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
        })
        .collect()
}

async fn wait_for_lines(rsyslog: &Rsyslog, file: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = rsyslog.lines(file);
        let distinct: std::collections::BTreeSet<u64> = seqs(&lines).into_iter().collect();
        if distinct.len() >= n {
            return lines;
        }
        assert!(Instant::now() < deadline, "{file}: {} of {n} events arrived", distinct.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the forwarder reports `done` (its counters move after delivery, from its own task;
/// a snapshot read once may still hold the defaults).
async fn wait_forwarder(f: &ForwarderHandle, what: &str, done: impl Fn(&ForwarderSnapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let snapshot = f.snapshot();
        if done(&snapshot) {
            return;
        }
        assert!(Instant::now() < deadline, "the forwarder never reported {what}: {snapshot:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event arrives once, in order, with its fields, in each format and transport; and each
/// forwarder then reports all 50 sent and nothing left behind.
#[actix_rt::test]
async fn every_event_arrives_parsed_with_its_fields_over_udp_tcp_and_relp() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(dir.path());
    rsyslog.start();
    let (store, org) = store_with_events(dir.path(), 50).await;
    let registry = ActorRegistry::new();
    let forwarders: Vec<_> = [
        destination("udp-5424", SiemFormat::Rfc5424, SiemTransport::Udp(rsyslog.udp())),
        destination("tcp-cef", SiemFormat::Cef, SiemTransport::Tcp(rsyslog.tcp())),
        destination("relp-5424", SiemFormat::Rfc5424, SiemTransport::Relp(rsyslog.relp())),
        destination("tls-cef", SiemFormat::Cef, SiemTransport::Tls(tls_destination(&rsyslog))),
    ]
    .into_iter()
    .map(|d| start(&store, d, &registry))
    .collect();

    for (file, cef) in [("udp.log", false), ("tcp.log", true), ("relp.log", false), ("tls.log", true)] {
        let lines = wait_for_lines(&rsyslog, file, 50).await;
        assert_eq!(seqs(&lines), (1..=50).collect::<Vec<_>>(), "{file}: every event once, in order");
        for line in &lines {
            assert!(line.starts_with("<85>1 "), "{file}: {line}");
            assert!(line.contains(" node-1 certautopilot "), "{file}: {line}");
            if cef {
                assert!(line.contains(" CEF - CEF:0|CertAutoPilot|certautopilot|"), "{line}");
                assert!(line.contains(&format!("cs1Label=org cs1={}", org.id)), "{line}");
                assert!(line.contains("suser=system:test"), "{line}");
            } else {
                assert!(line.contains("[certautopilot@32473 seq=\""), "{line}");
                assert!(line.contains(&format!("org=\"{}\" actor=\"system:test\"", org.id)), "{line}");
                assert!(line.contains("object_kind=\"certificate\""), "{line}");
                assert!(line.contains(" hmac=\""), "{line}");
            }
        }
    }
    for f in forwarders {
        wait_forwarder(&f, "50 sent and an empty backlog", |s| s.sent == 50 && s.backlog == 0).await;
        f.shutdown().await;
    }
}

/// rsyslog is down while 1,000 events are committed and the forwarder is started and stopped twice;
/// once rsyslog is up, all 1,000 arrive over TCP, TLS and RELP, none twice.
#[actix_rt::test]
async fn nothing_is_lost_through_an_outage_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(dir.path());
    let (store, _org) = store_with_events(dir.path(), 1_000).await;
    let registry = ActorRegistry::new();
    let (tcp, relp, tls) = (rsyslog.tcp(), rsyslog.relp(), tls_destination(&rsyslog));
    let destinations = || {
        [
            destination("tcp", SiemFormat::Rfc5424, SiemTransport::Tcp(tcp)),
            destination("relp", SiemFormat::Rfc5424, SiemTransport::Relp(relp)),
            destination("tls", SiemFormat::Rfc5424, SiemTransport::Tls(tls.clone())),
        ]
    };
    // Started and stopped twice while rsyslog is down, then started a third time and kept: the
    // forwarders that counted the backlog must see it drain once rsyslog is up.
    let mut running = Vec::new();
    for round in 0..3 {
        running = destinations().into_iter().map(|d| start(&store, d, &registry)).collect();
        for f in &running {
            wait_forwarder(f, "a failed attempt", |s| s.failed_batches > 0).await;
            let snapshot = f.snapshot();
            assert_eq!((snapshot.sent, snapshot.backlog), (0, 1_000), "{snapshot:?}");
        }
        if round < 2 {
            for f in running.drain(..) {
                f.shutdown().await;
            }
        }
    }
    rsyslog.start();
    let mut duplicates = BTreeMap::new();
    for file in ["tcp.log", "relp.log", "tls.log"] {
        let lines = wait_for_lines(&rsyslog, file, 1_000).await;
        let found = seqs(&lines);
        duplicates.insert(file, found.len() - 1_000);
        let distinct: std::collections::BTreeSet<u64> = found.into_iter().collect();
        assert_eq!(distinct, (1..=1_000).collect());
    }
    assert_eq!(
        duplicates,
        BTreeMap::from([("relp.log", 0), ("tcp.log", 0), ("tls.log", 0)]),
        "duplicates per transport"
    );
    for f in running {
        wait_forwarder(&f, "1,000 sent and an empty backlog", |s| s.sent == 1_000 && s.backlog == 0).await;
        f.shutdown().await;
    }
}

/// A damaged entry in the middle of the chain is reported and skipped: every other event still
/// arrives, the forwarder keeps going (no retry loop on the bad one), and the skip is counted.
#[actix_rt::test]
async fn a_corrupt_entry_is_reported_and_skipped_past() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(dir.path());
    rsyslog.start();
    let (store, _org) = store_with_events(dir.path(), 300).await;
    let conn = rusqlite::Connection::open(dir.path().join("certautopilot.db")).unwrap();
    conn.execute("UPDATE audit_events SET doc = '{not json' WHERE seq = 150", []).unwrap();
    let forwarder = SiemForwarder::new(
        store.clone(),
        destination("tcp", SiemFormat::Rfc5424, SiemTransport::Tcp(rsyslog.tcp())),
        "n",
    )
    .start(&ActorRegistry::new(), &actix_rt::Arbiter::current());
    let lines = wait_for_lines(&rsyslog, "tcp.log", 299).await;
    let expected: Vec<u64> = (1..=300).filter(|s| *s != 150).collect();
    assert_eq!(seqs(&lines), expected);
    let deadline = Instant::now() + Duration::from_secs(10);
    while forwarder.snapshot().skipped_corrupt != 1 {
        assert!(Instant::now() < deadline, "{:?}", forwarder.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_forwarder(&forwarder, "299 sent and an empty backlog", |s| s.sent == 299 && s.backlog == 0).await;
    assert!(!forwarder.snapshot().chain_truncated);
    // Deleting the newest entries (already delivered) is noticed.
    conn.execute("DELETE FROM audit_events WHERE seq > 290", []).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !forwarder.snapshot().chain_truncated {
        assert!(Instant::now() < deadline, "truncation not noticed: {:?}", forwarder.snapshot());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    forwarder.shutdown().await;
}

/// A panic in the forwarder: the registry shows `restarts: 1` and the panic, and the new instance
/// resumes at the stored cursor — events committed after the restart arrive, and none of those
/// delivered before it is sent again.
#[actix_rt::test]
async fn a_panicking_forwarder_is_restarted_and_delivers_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut rsyslog = Rsyslog::new(dir.path());
    rsyslog.start();
    let (store, org) = store_with_events(dir.path(), 10).await;
    let registry = ActorRegistry::new();
    let forwarder =
        start(&store, destination("tcp", SiemFormat::Rfc5424, SiemTransport::Tcp(rsyslog.tcp())), &registry);
    wait_for_lines(&rsyslog, "tcp.log", 10).await;
    // Delivered and its cursor stored: the sent counter moves only after the cursor does.
    wait_forwarder(&forwarder, "10 sent", |s| s.sent == 10 && s.backlog == 0).await;

    forwarder.force_panic().await;
    let snap = wait_for(&registry, "siem_forwarder", "tcp", "a restart", |s| s.restarts == 1 && s.alive).await;
    assert!(snap.last_error.as_deref().is_some_and(|e| e.contains("forced panic in the siem forwarder")), "{snap:?}");

    append_events(&store, &org, 10..15).await;
    let lines = wait_for_lines(&rsyslog, "tcp.log", 15).await;
    assert_eq!(seqs(&lines), (1..=15).collect::<Vec<_>>(), "every event once, in order, across the restart");
    wait_forwarder(&forwarder, "the new instance sent the 5", |s| s.sent == 5 && s.backlog == 0).await;
    let snap = wait_for(&registry, "siem_forwarder", "tcp", "idle after delivering", |s| s.state == "idle").await;
    assert_eq!(snap.restarts, 1);
    forwarder.shutdown().await;
    assert!(registry.get("siem_forwarder", "tcp").is_none(), "a stopped forwarder leaves the registry");
}
