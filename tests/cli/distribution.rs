//! Distribution end to end through the API of the real binary: a certificate issued by Pebble lands
//! in local files and on a real sshd (modes, reload commands) and at a webhook receiver (signed,
//! retried after a 5xx); a failing reload and a refusing receiver are reported per target.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_connectors::acme::public_key_der;
use certautopilot_connectors::targets::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, Sshd, ZONE, current_user};
use certautopilot_connectors::x509::leaf_summary;
use certautopilot_core::crypto::SecretBytes;
use serde_json::{Value, json};

use crate::process::ApiClient;

const DEADLINE: Duration = Duration::from_secs(60);
const HMAC_SECRET: &str = "webhook-shared-secret-0123456789";

/// Each request a receiver got: its headers (lower-case names) and body.
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A webhook receiver on loopback answering with the scripted statuses in turn (the last one from
/// then on), keeping every request's headers and body.
pub(crate) struct Receiver {
    port: u16,
    pub(crate) requests: Received,
}

impl Receiver {
    pub(crate) fn start(statuses: Vec<u16>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Received = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for (i, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header == "\r\n" || header.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = header.trim_end().split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                let length: usize =
                    headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).unwrap();
                seen.lock().unwrap().push((headers, String::from_utf8_lossy(&body).into_owned()));
                let status = statuses.get(i).or(statuses.last()).copied().unwrap_or(200);
                let reply = format!("HTTP/1.1 {status} X\r\nContent-Length: 7\r\nConnection: close\r\n\r\nanswer!");
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        Receiver { port, requests }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

pub(crate) fn deployments(c: &ApiClient, cid: &str, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let body = c.wait_for(&format!("/api/v1/certificates/{cid}/deployments"), DEADLINE, what, |d| {
        d["items"].as_array().is_some_and(|items| done(items))
    });
    body["items"].as_array().unwrap().clone()
}

fn status_of(items: &[Value], target: &str) -> String {
    items
        .iter()
        .find(|d| d["target_id"] == json!(target))
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn issued_certificates_reach_files_and_webhooks() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions::default());
    let server = crate::issuance::start(dir.path(), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let (pid, account) = crate::issuance::project(&c, &env, "dist", None);

    // --- a file target with a reload command, and a webhook that fails once with 503.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let marker = out.join("reloaded");
    let file = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "nginx", "type": "file", "config": {
        "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem"), "mode": "0640",
        "reload_command": format!("touch {}", marker.display()) } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sshd = Sshd::start(&dir.path().join("sshd"));
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(&remote).unwrap();
    let ssh = c.ok("POST", "/api/v1/targets", Some(json!({ "project_id": pid, "name": "web-1", "type": "ssh", "config": {
        "host": "127.0.0.1", "port": sshd.addr().port(), "user": current_user(), "host_key_sha256": sshd.host_key_sha256(),
        "private_key": sshd.client_key(), "cert_path": remote.join("cert.pem"), "key_path": remote.join("key.pem"),
        "reload_command": format!("touch {}", remote.join("reloaded").display()) } })), 201)["id"].as_str().unwrap().to_owned();
    let hook = Receiver::start(vec![503, 200]);
    let webhook = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "hook", "type": "webhook",
        "config": { "url": hook.url(), "hmac_secret": HMAC_SECRET } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = c.ok(
        "POST",
        "/api/v1/certificates",
        Some(json!({ "project_id": pid, "common_name": format!("www.{ZONE}"),
        "key_type": "ecdsa-p256", "acme_account_id": account, "target_ids": [file, webhook, ssh] })),
        202,
    );
    let cid = created["certificate"]["id"].as_str().unwrap().to_owned();

    let items = deployments(&c, &cid, "all three deployed", |items| {
        items.len() == 3 && items.iter().all(|d| d["status"] == json!("deployed"))
    });
    let webhook_attempts = items.iter().find(|d| d["target_id"] == json!(webhook)).unwrap()["attempts"].clone();
    assert_eq!(webhook_attempts, json!(2), "the 503 was retried");

    // The files hold the issued chain and its key, with the modes asked for; the reload ran.
    let (_, chain) = c.call_text("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    assert_eq!(std::fs::read_to_string(out.join("cert.pem")).unwrap(), chain);
    let key_pem = SecretBytes::new(std::fs::read(out.join("key.pem")).unwrap());
    leaf_summary(&chain, Some(&public_key_der(&key_pem).unwrap())).expect("the key file matches the certificate");
    let mode = |name: &str| std::fs::metadata(out.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode("cert.pem"), mode("key.pem")), (0o644, 0o640));
    assert!(marker.exists(), "the reload command ran");
    // The same on the real sshd's side.
    assert_eq!(std::fs::read_to_string(remote.join("cert.pem")).unwrap(), chain);
    assert_eq!(std::fs::read(remote.join("key.pem")).unwrap(), key_pem.expose());
    let remote_mode = |name: &str| std::fs::metadata(remote.join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!((remote_mode("cert.pem"), remote_mode("key.pem")), (0o644, 0o600));
    assert!(remote.join("reloaded").exists(), "the reload command ran over ssh");

    // The webhook got a signed document with the chain and without the key.
    let requests = hook.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    let (headers, body) = &requests[1];
    let expected = signature(HMAC_SECRET.as_bytes(), header(headers, TIMESTAMP_HEADER), body.as_bytes());
    assert_eq!(header(headers, SIGNATURE_HEADER), expected);
    let document: Value = serde_json::from_str(body).unwrap();
    assert_eq!(document["chain_pem"], json!(chain));
    assert!(document.get("private_key_pem").is_none() && !body.contains("PRIVATE KEY"));

    let events: Vec<String> = c.ok("GET", &format!("/api/v1/certificates/{cid}/timeline"), None, 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(events.iter().filter(|e| *e == "cert.distributed").count(), 3, "{events:?}");
    assert!(events.iter().any(|e| e == "cert.distribution_failed"), "the 503 is in the timeline: {events:?}");

    // --- a broken reload command and a refusing receiver: each target reports its own failure.
    let broken = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "broken", "type": "file", "config": {
        "cert_path": out.join("b-cert.pem"), "key_path": out.join("b-key.pem"),
        "reload_command": "echo 'nginx: [emerg] bad config' >&2; exit 1" } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let refusing = Receiver::start(vec![401]);
    let denied = c.ok(
        "POST",
        "/api/v1/targets",
        Some(json!({ "project_id": pid, "name": "denied", "type": "webhook",
        "config": { "url": refusing.url(), "hmac_secret": HMAC_SECRET } })),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = c.ok("GET", &format!("/api/v1/certificates/{cid}"), None, 200)["version"].clone();
    let (status, stale) = c.call(
        "PUT",
        &format!("/api/v1/certificates/{cid}/targets"),
        Some(json!({ "target_ids": [file, webhook, ssh, broken, denied], "version": 1 })),
    );
    assert_eq!(status, 409, "a stale version is refused: {stale}");
    c.ok(
        "PUT",
        &format!("/api/v1/certificates/{cid}/targets"),
        Some(json!({ "target_ids": [file, webhook, ssh, broken, denied], "version": version })),
        200,
    );
    let queued = c.ok("POST", &format!("/api/v1/certificates/{cid}/distribute"), None, 202);
    assert_eq!(queued["job"]["kind"], json!("distribute"));
    let items = deployments(&c, &cid, "five outcomes", |items| {
        items.len() == 5 && status_of(items, &broken) == "failed" && status_of(items, &denied) == "failed"
    });
    let error_of =
        |t: &str| items.iter().find(|d| d["target_id"] == json!(t)).unwrap()["last_error"].as_str().unwrap().to_owned();
    assert!(error_of(&broken).contains("exit 1") && error_of(&broken).contains("bad config"), "{}", error_of(&broken));
    assert!(error_of(&denied).contains("401"), "{}", error_of(&denied));
    assert_eq!(refusing.requests.lock().unwrap().len(), 1, "a 401 is not retried");
    assert_eq!(status_of(&items, &file), "deployed");
}
