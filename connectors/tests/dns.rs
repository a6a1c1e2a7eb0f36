//! RFC 2136 with TSIG and the authoritative checks, against two real implementations: BIND 9 and
//! Knot DNS. Each test body takes the server as an `Rfc2136Server` and runs once per server.

use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::dns::{Authoritative, DnsError, Rfc2136, Rfc2136Config, TsigAlgorithm, challenge_name};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::testsupport::{Bind, CNAME_NAME, Knot, Rfc2136Server, TestZone, TsigKey};
use certautopilot_core::crypto::SecretBytes;

fn client(server: &dyn Rfc2136Server, key: &TsigKey) -> Rfc2136 {
    Rfc2136::new(
        &Rfc2136Config {
            server: server.addr().to_string(),
            key_name: key.name.clone(),
            algorithm: TsigAlgorithm::from_name(key.algorithm).unwrap(),
            nameservers: Vec::new(),
        },
        server.addr(),
        SecretBytes::new(base64::engine::general_purpose::STANDARD.decode(&key.secret).unwrap()),
        Duration::from_secs(2),
        EgressPolicy::allowing_loopback(),
    )
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The servers every test runs against.
#[derive(Debug, Clone, Copy)]
enum Server {
    Bind,
    Knot,
}

fn start(which: Server, dir: &std::path::Path, key: TsigKey) -> Box<dyn Rfc2136Server> {
    match which {
        Server::Bind => Box::new(Bind::start(dir, key, zones())),
        Server::Knot => Box::new(Knot::start(dir, key, zones())),
    }
}

fn zones() -> Vec<TestZone> {
    vec![
        TestZone::new("example.test")
            .record(&format!("_acme-challenge.{CNAME_NAME}. IN CNAME _acme-challenge.cname.delegated.test.")),
        TestZone::new("delegated.test"),
        TestZone::new("locked.test").read_only(),
    ]
}

/// Add, see it at the authoritative servers found from NS, remove; two values coexist.
#[tokio::test]
async fn add_check_and_remove_a_txt_record_bind() {
    add_check_and_remove_a_txt_record(Server::Bind).await;
}

/// The same against Knot DNS.
#[tokio::test]
async fn add_check_and_remove_a_txt_record_knot() {
    add_check_and_remove_a_txt_record(Server::Knot).await;
}

async fn add_check_and_remove_a_txt_record(which: Server) {
    let dir = tempfile::tempdir().unwrap();
    let key = TsigKey::random("updater");
    let server = start(which, dir.path(), key.clone());
    let dns = client(&*server, &key);
    let check = Authoritative { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    let servers = check.servers("example.test", server.addr()).await.unwrap();
    assert_eq!(servers, vec![server.addr()], "ns1.example.test is 127.0.0.1 on the update server's port");

    let qname = challenge_name("*.www.example.test");
    assert_eq!(qname, "_acme-challenge.www.example.test");
    assert_eq!(check.missing_txt(&qname, "one", &servers).await.unwrap(), servers);
    dns.add_txt("example.test", &qname, "one", 60).await.unwrap();
    dns.add_txt("example.test", &qname, "two", 60).await.unwrap();
    check.wait_visible(&qname, "one", &servers, Duration::from_secs(5)).await.unwrap();
    let mut seen = server.txt(&qname);
    seen.sort();
    assert_eq!(seen, vec!["one", "two"]);

    dns.remove_txt("example.test", &qname, "one").await.unwrap();
    assert_eq!(server.txt(&qname), vec!["two"]);
    dns.remove_txt("example.test", &qname, "one").await.expect("removing what is gone succeeds");
    dns.remove_txt("example.test", &qname, "two").await.unwrap();
    assert!(server.txt(&qname).is_empty());
    let err = check.wait_visible(&qname, "one", &servers, Duration::from_millis(100)).await.unwrap_err();
    assert!(matches!(err, DnsError::NotPropagated { .. }), "{err}");
}

/// A CNAME on the challenge name is found, and the record is written in the zone it points into;
/// against BIND (which recurses, as the CA's resolver would) the original name reaches the value.
#[tokio::test]
async fn follows_a_cname_delegation_bind() {
    follows_a_cname_delegation(Server::Bind).await;
}

/// The same against Knot DNS, which answers the CNAME and the target's value separately.
#[tokio::test]
async fn follows_a_cname_delegation_knot() {
    follows_a_cname_delegation(Server::Knot).await;
}

async fn follows_a_cname_delegation(which: Server) {
    let dir = tempfile::tempdir().unwrap();
    let key = TsigKey::random("updater");
    let server = start(which, dir.path(), key.clone());
    let check = Authoritative { timeout: Duration::from_secs(2), egress: EgressPolicy::allowing_loopback() };
    let qname = challenge_name(CNAME_NAME);
    let target = check.cname(server.addr(), &qname).await.unwrap().expect("delegated");
    assert_eq!(target, "_acme-challenge.cname.delegated.test");
    assert_eq!(check.cname(server.addr(), &challenge_name("plain.example.test")).await.unwrap(), None);
    client(&*server, &key).add_txt("delegated.test", &target, "token", 60).await.unwrap();
    assert_eq!(server.txt(&target), vec!["token"]);
    if server.chases_cnames() {
        assert_eq!(server.txt(&qname), vec!["token"], "resolving the original name reaches the value");
    }
}

/// A wrong key, a zone that allows no updates and a dead server each fail with the right error, and
/// the refusal of the wrong key never shows the secret the client sent with.
#[tokio::test]
async fn refusals_and_outages_are_told_apart_bind() {
    refusals_and_outages_are_told_apart(Server::Bind).await;
}

/// The same against Knot DNS.
#[tokio::test]
async fn refusals_and_outages_are_told_apart_knot() {
    refusals_and_outages_are_told_apart(Server::Knot).await;
}

async fn refusals_and_outages_are_told_apart(which: Server) {
    let dir = tempfile::tempdir().unwrap();
    let key = TsigKey::random("updater");
    let mut server = start(which, dir.path(), key.clone());
    let wrong = TsigKey { secret: TsigKey::random("updater").secret, ..key.clone() };
    let err =
        client(&*server, &wrong).add_txt("example.test", "_acme-challenge.x.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::BadAnswer { .. } | DnsError::Refused { .. }), "wrong key: {err}");
    assert!(!err.is_transient());
    // The secret this client held (the wrong one), in the forms it had: base64 as configured and
    // the raw bytes as text; in neither the message nor the debug form.
    let raw = base64::engine::general_purpose::STANDARD.decode(&wrong.secret).unwrap();
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(&wrong.secret), "errors never carry the key: {shown}");
        assert!(
            !shown.contains(&format!("{raw:?}")) && !shown.contains(&hex(&raw)),
            "errors never carry the key: {shown}"
        );
    }

    let err = client(&*server, &key).add_txt("locked.test", "_acme-challenge.locked.test", "v", 60).await.unwrap_err();
    match which {
        Server::Bind => assert!(matches!(err, DnsError::Refused { .. }), "read-only zone: {err}"),
        // Knot treats a key the zone's ACL does not list as unknown there: BADKEY, unsigned, so the
        // answer does not verify. Still a final refusal, never retried.
        Server::Knot => assert!(matches!(err, DnsError::BadAnswer { .. }), "read-only zone: {err}"),
    }
    assert!(!err.is_transient(), "{err}");

    server.stop();
    let err =
        client(&*server, &key).add_txt("example.test", "_acme-challenge.x.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(err, DnsError::Unreachable { .. }), "server down: {err}");
    assert!(err.is_transient());
}
