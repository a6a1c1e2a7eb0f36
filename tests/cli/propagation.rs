//! Propagation per zone, end to end through the API of the real binary against Pebble and BIND:
//! a lagging second name server keeps the order waiting with that server named in the certificate's
//! live status (REST, GraphQL) and the timeline (the job log, the console's live step), then the order proceeds once it has the record; a
//! server that never answers is reported as unreachable with the `resolvers` advice.
//! The "lagging secondary" is a second real BIND serving the same zone that receives the record
//! late: the test itself adds it there (RFC 2136, `nsupdate`) once the wait is seen, standing in for
//! a zone transfer that arrives late.

use std::process::{Command, Stdio};
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, Bind, PortReservation, TestZone, ZONE};
use serde_json::{Value, json};

use crate::issuance::{project, start};
use crate::process::ApiClient;

const DEADLINE: Duration = Duration::from_secs(60);

fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The project's zone `ZONE`, its propagation settings replaced at the version read.
fn set_propagation(c: &ApiClient, pid: &str, propagation: Value) {
    let zones = c.ok("GET", &format!("/api/v1/zones?project_id={pid}"), None, 200);
    let zone = zones["items"].as_array().unwrap().iter().find(|z| z["apex"] == json!(ZONE)).unwrap().clone();
    let body = json!({ "propagation": propagation, "version": zone["version"] });
    let updated = c.ok("PATCH", &format!("/api/v1/zones/{}", zone["id"].as_str().unwrap()), Some(body), 200);
    let strategy = propagation["strategy"].as_str().unwrap_or("authoritative");
    assert_eq!(updated["propagation"]["strategy"], json!(strategy), "{updated}");
}

fn request(c: &ApiClient, pid: &str, account: &str, cn: &str) -> String {
    let body = json!({ "project_id": pid, "common_name": cn, "key_type": "ecdsa-p256", "acme_account_id": account });
    c.ok("POST", "/api/v1/certificates", Some(body), 202)["certificate"]["id"].as_str().unwrap().to_owned()
}

fn timeline(c: &ApiClient, cid: &str) -> Vec<String> {
    let timeline = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200);
    timeline["items"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap_or_default().to_owned()).collect()
}

/// Adds a TXT value at `name` on `bind` with its TSIG key (the late zone transfer).
fn publish_late(bind: &Bind, name: &str, value: &str) {
    let key = bind.key();
    let script = format!("server 127.0.0.1 {}\nupdate add {name}. 60 TXT \"{value}\"\nsend\n", bind.addr().port());
    let mut child = Command::new("nsupdate")
        .args(["-y", &format!("{}:{}:{}", key.algorithm, key.name, key.secret)])
        .stdin(Stdio::piped())
        .spawn()
        .expect("nsupdate is installed (bind9-dnsutils)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "nsupdate failed: {}", bind.log());
}

/// A second name server that lacks the record keeps the order waiting, named with its answer
/// (NXDOMAIN) in the timeline while the certificate is not issued; once it has the record the
/// order proceeds and is issued.
#[test]
fn a_lagging_secondary_keeps_the_order_waiting_then_it_proceeds() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let lagging = Bind::start(&dir.path().join("lagging"), env.bind.key().clone(), vec![TestZone::new(ZONE)]);
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "lagging", None);
    let servers = [env.bind.addr().to_string(), lagging.addr().to_string()];
    set_propagation(&c, &pid, json!({ "strategy": "authoritative", "nameservers": servers, "timeout_seconds": 60 }));
    let cn = format!("lag.{ZONE}");
    let name = format!("_acme-challenge.{cn}");
    let cid = request(&c, &pid, &account, &cn);

    // --- the order waits, naming the lagging server and what it answers: in the certificate's
    // live status (REST and GraphQL) and in the timeline
    let lagging_addr = lagging.addr().to_string();
    let live = c.wait_for(&format!("/api/v1/certificates/{cid}/live"), DEADLINE, "the wait named", |l| {
        l["waiting"]["missing"].as_array().is_some_and(|m| m.iter().any(|s| s["server"] == json!(lagging_addr)))
    });
    assert_eq!(live["running"], json!(true), "{live}");
    let waiting = &live["waiting"];
    assert_eq!((&waiting["name"], &waiting["strategy"]), (&json!(name), &json!("authoritative")), "{live}");
    assert_eq!(waiting["ready"], json!([env.bind.addr().to_string()]), "the primary has it: {live}");
    let missing = &waiting["missing"][0];
    assert_eq!((&missing["answer"], &missing["detail"]), (&json!("nxdomain"), &json!("NXDOMAIN")), "{live}");
    assert_eq!(missing["unreachable"], json!(false), "it answers, only without the record: {live}");
    assert!(live["step"]["message"].as_str().unwrap().starts_with("waiting for"), "{live}");
    assert_eq!(live["job"]["kind"], json!("issue"), "{live}");
    let query = json!({ "query": "query($id: ID!) { certificate(id: $id) { live { running step { message } \
        waiting { name ready missing { server answer detail unreachable } } } } }", "variables": { "id": cid } });
    let gql = c.ok("POST", "/api/graphql", Some(query), 200);
    let gql_waiting = &gql["data"]["certificate"]["live"]["waiting"];
    assert_eq!(gql_waiting["missing"][0]["server"], json!(lagging_addr), "{gql}");
    assert_eq!(gql_waiting["ready"], waiting["ready"], "{gql}");
    let line = timeline(&c, &cid)
        .into_iter()
        .find(|e| e.starts_with("waiting for") && e.contains(&format!("{lagging_addr} (NXDOMAIN)")))
        .unwrap_or_else(|| panic!("the timeline names the wait: {live}"));
    assert!(line.contains("1 of 2 servers answer the value"), "{line}");
    assert!(!line.contains(&env.bind.addr().to_string()), "the primary has it: not listed as missing: {line}");
    let status = c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200)["status"].clone();
    assert_ne!(status, json!("issued"), "still waiting");

    // --- the secondary catches up: the order proceeds
    let values = env.bind.txt(&name);
    assert_eq!(values.len(), 1, "the primary has the one challenge value: {values:?}");
    publish_late(&lagging, &name, &values[0]);
    c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "certificate issued", |cert| {
        cert["status"] == json!("issued")
    });
    let events = timeline(&c, &cid);
    assert!(events.iter().any(|e| e.contains("visible at all 2 servers")), "{events:#?}");
    let live = c.ok("GET", &format!("/api/v1/certificates/{cid}/live"), None, 200);
    assert!(live["waiting"].is_null(), "no longer waiting: {live}");
}

/// A server where nothing answers (a loopback port held open but never read: every query times
/// out) is reported as unreachable with the advice to use `resolvers`, not as a propagation
/// timeout; the certificate's error names it.
#[test]
fn an_unreachable_server_is_reported_with_the_resolvers_advice() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let silent = PortReservation::tcp_and_udp();
    let silent_addr = format!("127.0.0.1:{}", silent.port());
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "unreachable", None);
    set_propagation(&c, &pid, json!({ "nameservers": [silent_addr], "timeout_seconds": 2 }));
    let cid = request(&c, &pid, &account, &format!("silent.{ZONE}"));
    let cert = c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, "the unreachable error", |cert| {
        cert["last_error"].as_str().is_some_and(|e| e.contains("could not be reached"))
    });
    let error = cert["last_error"].as_str().unwrap();
    assert!(error.contains(&silent_addr) && error.contains("`resolvers`"), "{error}");
    assert!(!error.contains("not visible within"), "not a propagation timeout: {error}");
    let events = timeline(&c, &cid);
    assert!(events.iter().any(|e| e.contains(&format!("{silent_addr} (unreachable"))), "{events:#?}");
    drop(silent);
}

/// `resolvers` (pointed at the test BIND, which answers recursive queries from loopback the same
/// as authoritatively for its own zone), `delay` and `none` each let the order through.
#[test]
fn resolvers_delay_and_none_strategies_issue() {
    install_ring();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = project(&c, &env, "strategies", None);
    let strategies = [
        (
            "resolvers",
            json!({ "strategy": "resolvers", "resolvers": [env.bind.addr().to_string()] }),
            "visible at all 1",
        ),
        ("delay", json!({ "strategy": "delay", "delay_seconds": 1 }), "waiting a fixed 1 s"),
        ("none", json!({ "strategy": "none" }), ""),
    ];
    for (label, settings, expected) in strategies {
        set_propagation(&c, &pid, settings);
        let cid = request(&c, &pid, &account, &format!("{label}.{ZONE}"));
        c.wait_for(&format!("/api/v1/certificates/{cid}"), DEADLINE, &format!("{label}: issued"), |cert| {
            cert["status"] == json!("issued")
        });
        let events = timeline(&c, &cid);
        assert!(events.iter().any(|e| e.contains(expected)), "{label}: {events:#?}");
    }
}
