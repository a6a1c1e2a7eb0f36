//! What a distribution target's answers may put in front of users, through the API of the real
//! binary (M2.1 item 6): a receiver answering 500 with a secret-looking body, and a receiver the
//! egress policy refuses. Loopback only: the refused receiver listens on 127.0.0.2 and the
//! configuration denies that one address.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, ZONE};
use serde_json::{Value, json};

use crate::process::{ApiClient, Server, wait_for_status};

const DEADLINE: Duration = Duration::from_secs(60);
const MARKER: &str = "INTERNAL-SECRET-7f3a";
const HMAC_SECRET: &str = "webhook-shared-secret-0123456789";

/// A receiver on `ip` answering every request with 500 and a body holding the marker and a
/// newline. It serves connections one at a time, in order, and reports each on `seen` (`true` for
/// the sentinel a test sends to learn that everything before it has been seen).
struct Receiver {
    url: String,
    addr: std::net::SocketAddr,
    seen: std::sync::mpsc::Receiver<bool>,
}

const SENTINEL: &[u8] = b"SENTINEL";

impl Receiver {
    fn start(ip: &str) -> Receiver {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 65_536];
                let n = stream.read(&mut buf).unwrap_or(0);
                if tx.send(&buf[..n] == SENTINEL).is_err() {
                    break;
                }
                let body = format!("{MARKER} upstream db=10.0.0.5\nforged log line {MARKER}");
                let reply = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver { url: format!("http://{addr}/hook"), addr, seen }
    }

    /// How many connections came before now: a sentinel connection is sent and waited for (10 s).
    fn connections_before_now(&self) -> usize {
        let mut sentinel = std::net::TcpStream::connect(self.addr).unwrap();
        sentinel.write_all(SENTINEL).unwrap();
        let mut earlier = 0;
        while !self.seen.recv_timeout(Duration::from_secs(10)).expect("the sentinel is seen within 10 s") {
            earlier += 1;
        }
        earlier
    }
}

fn webhook(c: &ApiClient, pid: &str, name: &str, url: &str) -> String {
    let body = json!({ "project_id": pid, "name": name, "type": "webhook",
        "config": { "url": url, "hmac_secret": HMAC_SECRET } });
    c.ok("POST", "/api/v1/targets", Some(body), 201)["id"].as_str().unwrap().to_owned()
}

/// Everything a project viewer can read about a certificate's distribution: its view, its
/// deployments, its timeline, and every job of the project with its log.
fn everything_visible(c: &ApiClient, pid: &str, cid: &str) -> String {
    let mut text = String::new();
    for path in [
        format!("/api/v1/certificates/{cid}"),
        format!("/api/v1/certificates/{cid}/deployments"),
        format!("/api/v1/certificates/{cid}/timeline"),
    ] {
        text.push_str(&c.ok("GET", &path, None, 200).to_string());
    }
    let jobs = c.ok("GET", &format!("/api/v1/jobs?project_id={pid}"), None, 200);
    for job in jobs["items"].as_array().unwrap() {
        let id = job["id"].as_str().unwrap();
        text.push_str(&c.ok("GET", &format!("/api/v1/jobs/{id}"), None, 200).to_string());
    }
    text
}

/// A webhook answering 500 with a secret-looking body: the deployment record, the timeline and
/// the distribute job's log say `http 500 from the target`, and no view carries the body (nor its
/// newline). A webhook on an address `[egress] deny` lists fails permanently with the policy's
/// reason, and its receiver never sees a connection.
#[test]
fn target_answers_are_classified_and_egress_is_enforced() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let config = dir.path().join("egress.toml");
    std::fs::write(&config, "[egress]\nallow_loopback = true\ndeny = [\"127.0.0.2/32\"]\n").unwrap();
    let env_vars: Vec<(&str, &str)> = crate::issuance::FAST.to_vec();
    let server = Server::start(dir.path(), &["--config", config.to_str().unwrap()], &env_vars);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "reflect", None);

    let internal = Receiver::start("127.0.0.1");
    let failing = webhook(&c, &pid, "internal", &internal.url);
    let refused = Receiver::start("127.0.0.2");
    let denied = webhook(&c, &pid, "denied", &refused.url);
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": format!("reflect.{ZONE}"), "key_type": "ecdsa-p256",
            "acme_account_id": account, "target_ids": [failing, denied] })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();

    let error_of = |items: &[Value], target: &str| {
        items.iter().find(|d| d["target_id"] == json!(target)).and_then(|d| d["last_error"].as_str()).map(str::to_owned)
    };
    let body =
        c.wait_for(&format!("/api/v1/certificates/{cid}/deployments"), DEADLINE, "both failures recorded", |d| {
            let items = d["items"].as_array().cloned().unwrap_or_default();
            error_of(&items, &failing).is_some_and(|e| e.contains("http 500"))
                && items.iter().any(|d| d["target_id"] == json!(denied) && d["status"] == json!("failed"))
        });
    let items = body["items"].as_array().unwrap();
    let internal_error = error_of(items, &failing).unwrap();
    assert!(internal_error.ends_with("http 500 from the target"), "{internal_error}");
    let denied_error = error_of(items, &denied).unwrap();
    assert!(denied_error.contains("egress policy refuses 127.0.0.2"), "{denied_error}");

    // The distribute job has logged its retry by now or soon: wait for a job log with the reason.
    c.wait_for(&format!("/api/v1/jobs?project_id={pid}"), DEADLINE, "a distribute job with an error", |jobs| {
        jobs["items"].as_array().is_some_and(|items| {
            items.iter().any(|j| j["kind"] == json!("distribute") && j["last_error"].as_str().is_some())
        })
    });
    let visible = everything_visible(&c, &pid, &cid);
    assert!(visible.contains("http 500 from the target"), "the classified reason is shown");
    assert!(!visible.contains(MARKER), "the target's body never reaches a view");
    assert!(!visible.contains("upstream db"), "no part of the body reaches a view");
    assert_eq!(refused.connections_before_now(), 0, "the refused receiver never saw a connection");
    assert!(internal.connections_before_now() >= 1, "the allowed receiver was reached");
}
