//! Issue 15 item 14: every kind of secret the service holds, scanned for while jobs really use it.
//! The real binary, logging at debug level and forwarding its audit chain to a real rsyslog, issues
//! through a Pebble requiring EAB and a BIND taking TSIG updates, and deploys the key to a file, a
//! real sshd, two webhooks and four vendor stand-ins; half of them fail (a wrong EAB key, a wrong
//! TSIG secret, a wrong host key, a webhook answering 500 with the request echoed, a Vault and an
//! F5 refusing the credential with the request echoed, an F5 answering the key's upload with 500
//! and the key echoed). Afterwards no secret, in any encoding, is
//! in the service's output, in any API answer the test got, in what rsyslog received, or in the
//! database files (where secrets are only sealed).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use certautopilot_connectors::targets::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use certautopilot_connectors::testsupport::{
    AcmeEnv, AcmeEnvOptions, EAB_KID, Rsyslog, Sshd, StandIn, StandInRequest, ZONE, current_user,
};
use serde_json::{Value, json};

use crate::process::{ApiClient, http_get};

const DEADLINE: Duration = Duration::from_secs(90);
const PASSWORD: &str = "correct horse battery staple";

// ---------------------------------------------------------------------------------------------
// Secrets and the forms they can take.

/// One secret and every needle that would betray it: its encodings, each long enough that finding
/// it anywhere cannot be chance.
struct Secret {
    name: String,
    needles: Vec<(String, Vec<u8>)>,
}

/// `bytes` raw, in hex, as `Debug` prints a byte slice, and in base64 and base64url at each of the three alignments it can have
/// inside a longer encoded value (the characters the neighbouring bytes change are dropped).
fn encodings(form: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = vec![
        (format!("{form}, raw"), bytes.to_vec()),
        (format!("{form}, hex"), hex.clone().into_bytes()),
        (format!("{form}, HEX"), hex.to_uppercase().into_bytes()),
        // `{:?}` of a byte slice or vector.
        (format!("{form}, Debug bytes"), bytes.iter().map(u8::to_string).collect::<Vec<_>>().join(", ").into_bytes()),
    ];
    for shift in 0..3 {
        let mut shifted = vec![0u8; shift];
        shifted.extend_from_slice(bytes);
        for (engine, label) in [(&STANDARD_NO_PAD, "base64"), (&URL_SAFE_NO_PAD, "base64url")] {
            let text = engine.encode(&shifted);
            let start = if shift == 0 { 0 } else { 4 };
            let end = text.len() - 4;
            if end > start + 12 {
                out.push((format!("{form}, {label} at offset {shift}"), text.as_bytes()[start..end].to_vec()));
            }
        }
    }
    out
}

impl Secret {
    /// A secret used as text (a password, a token, an HMAC key given as a string).
    fn text(name: &str, text: &str) -> Secret {
        Secret { name: name.to_owned(), needles: encodings("as text", text.as_bytes()) }
    }

    /// A secret given as base64 or base64url text of random bytes (TSIG, EAB): the text's own
    /// encodings and the bytes'.
    fn encoded(name: &str, text: &str) -> Secret {
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text))
            .unwrap_or_else(|e| panic!("{name} is base64: {e}"));
        let mut needles = encodings("as text", text.as_bytes());
        needles.extend(encodings("decoded", &bytes));
        Secret { name: name.to_owned(), needles }
    }

    /// A private key in PEM (or OpenSSH) armour: the private bytes (`private`, found inside the
    /// decoded body) in every encoding, and each body line that carries some of them, in every
    /// encoding of its text. Lines made of public material only are left out: a certificate
    /// legitimately contains that.
    fn private_key(name: &str, pem: &str, private: impl Fn(&[u8]) -> Option<(usize, usize)>) -> Secret {
        let lines: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----") && !l.trim().is_empty()).collect();
        let der = STANDARD.decode(lines.concat()).unwrap_or_else(|e| panic!("{name}: PEM body: {e}"));
        let (at, len) = private(&der).unwrap_or_else(|| panic!("{name}: private part not found in the key"));
        let mut needles = encodings("private bytes", &der[at..at + len]);
        let mut chars = 0;
        for (i, line) in lines.iter().enumerate() {
            let (first, last) = (chars * 6 / 8, ((chars + line.len()) * 6).div_ceil(8));
            if first < at + len && at < last {
                // The line as text, and that text encoded again (a Kubernetes Secret holds the PEM
                // in base64).
                needles.extend(encodings(&format!("PEM body line {}", i + 1), line.as_bytes()));
            }
            chars += line.len();
        }
        Secret { name: name.to_owned(), needles }
    }
}

/// The 32-byte scalar of an ECDSA key (SEC1 `ECPrivateKey`, alone or inside PKCS#8).
fn ec_scalar(der: &[u8]) -> Option<(usize, usize)> {
    der.windows(5).position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20]).map(|i| (i + 5, 32))
}

/// The 32-byte seed of an Ed25519 key in OpenSSH's format (the 64-byte private string is the seed
/// and the public key).
fn ed25519_seed(der: &[u8]) -> Option<(usize, usize)> {
    let at = der.windows(4).position(|w| w == [0, 0, 0, 0x40])? + 4;
    let public = der.get(at + 32..at + 64)?;
    // The public half is also earlier in the file, after its own length.
    der[..at].windows(32).any(|w| w == public).then_some((at, 32))
}

// ---------------------------------------------------------------------------------------------
// Where secrets must not be, and the search.

/// What was looked at: its name and bytes.
struct Haystack {
    place: String,
    bytes: Vec<u8>,
}

/// `bytes` with line breaks removed, literal (`\n`) and escaped at any depth (`\\n`, as a JSON log
/// carries an escaped remote answer), and `%2B`, `%2F`, `%3D` decoded: a secret split across PEM
/// lines or put in a URL is found as well.
fn normalized(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' | b'\r' => i += 1,
            b'\\' => {
                let mut j = i;
                while j < bytes.len() && bytes[j] == b'\\' {
                    j += 1;
                }
                if j < bytes.len() && matches!(bytes[j], b'n' | b'r') {
                    i = j + 1;
                } else {
                    out.extend_from_slice(&bytes[i..j]);
                    i = j;
                }
            }
            b'%' if i + 2 < bytes.len() => {
                let decoded = match bytes[i + 1..i + 3].to_ascii_uppercase().as_slice() {
                    b"2B" => Some(b'+'),
                    b"2F" => Some(b'/'),
                    b"3D" => Some(b'='),
                    _ => None,
                };
                match decoded {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Every (secret, form) whose needle occurs in `haystack` (as is, or normalized).
fn found_in(secrets: &[Secret], haystack: &[u8]) -> Vec<(String, String)> {
    const PREFIX: usize = 8;
    let mut index: std::collections::HashMap<u64, Vec<(usize, usize)>> = std::collections::HashMap::new();
    for (s, secret) in secrets.iter().enumerate() {
        for (n, (_, needle)) in secret.needles.iter().enumerate() {
            assert!(needle.len() >= 12, "{}: needle too short to mean anything", secret.name);
            let key = u64::from_le_bytes(needle[..PREFIX].try_into().unwrap());
            index.entry(key).or_default().push((s, n));
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for hay in [haystack.to_vec(), normalized(haystack)] {
        for i in 0..hay.len().saturating_sub(PREFIX - 1) {
            let key = u64::from_le_bytes(hay[i..i + PREFIX].try_into().unwrap());
            if let Some(candidates) = index.get(&key) {
                for &(s, n) in candidates {
                    if hay[i..].starts_with(&secrets[s].needles[n].1) {
                        found.insert((secrets[s].name.clone(), secrets[s].needles[n].0.clone()));
                    }
                }
            }
        }
    }
    found.into_iter().collect()
}

/// A place where the secret must be found: proves its needles match what the service really sent.
fn assert_found(secrets: &[Secret], name: &str, place: &str, haystack: &[u8]) {
    let secret = secrets.iter().find(|s| s.name == name).unwrap();
    let hits = found_in(std::slice::from_ref(secret), haystack);
    assert!(!hits.is_empty(), "control: {name} not found in {place}, where it is expected: the needles are wrong");
}

// ---------------------------------------------------------------------------------------------
// The service and an API client keeping every answer.

/// `serve` with stdout and stderr in files (everything it prints is scanned).
struct Service {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Service {
    fn start(dir: &Path, env: &[(&str, &str)]) -> (Service, SocketAddr, SocketAddr) {
        let (stdout, stderr) = (dir.join("service.stdout"), dir.join("service.stderr"));
        let child = crate::process::command(dir)
            .args(["serve", "--log-format", "json", "--config", "c.toml"])
            .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_API__SHUTDOWN_GRACE_SECS", "5")
            .env("CERTAUTOPILOT_EGRESS__ALLOW_LOOPBACK", "true")
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start certautopilot serve");
        let service = Service { child, stdout, stderr };
        let api = service.listening("api listening");
        let metrics = service.listening("metrics listening");
        (service, api, metrics)
    }

    /// The address in the first log line with `message`, waiting for it.
    fn listening(&self, message: &str) -> SocketAddr {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            let line = text.lines().find(|l| crate::process::log_message(l) == Some(message));
            if let Some(addr) = line.and_then(|l| serde_json::from_str::<Value>(l).ok()?["addr"].as_str()?.parse().ok())
            {
                return addr;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no {message:?} within 30 s: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, and wait for the exit, so everything it wrote is in the files.
    fn stop(&mut self) {
        // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(start.elapsed() < Duration::from_secs(20), "serve did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An API client that keeps every answer it got, to be scanned.
struct Recorder {
    client: ApiClient,
    answers: Mutex<Vec<(String, String)>>,
}

impl Recorder {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = self.client.call_text(method, path, body);
        self.answers.lock().unwrap().push((format!("{method} {path}"), text.clone()));
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>, expect: u16) -> Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, expect, "{method} {path}: {value}");
        value
    }

    fn id(&self, path: &str, body: Value) -> String {
        self.ok("POST", path, Some(body), 201)["id"].as_str().unwrap().to_owned()
    }

    fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.call("GET", path, None);
            if status == 200 && done(&body) {
                return body;
            }
            assert!(start.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}; last answer {status}: {body}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every page of a list.
    fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = match &cursor {
                Some(c) => format!("{path}{sep}limit=100&cursor={c}"),
                None => format!("{path}{sep}limit=100"),
            };
            let body = self.ok("GET", &page, None, 200);
            items.extend(body["items"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Receivers.

type Requests = Arc<Mutex<Vec<String>>>;

/// An HTTP receiver answering each request with the status `answer` gives for its request line;
/// where `answer` says so, the body of the answer is the request as received (head and body).
/// Keeps every request as text. Returns its base URL.
fn receiver(answer: impl Fn(&str) -> (u16, bool) + Send + 'static) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let requests: Requests = Arc::default();
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let request = format!("{head}{}", String::from_utf8_lossy(&body));
            seen.lock().unwrap().push(request.clone());
            let (status, echo) = answer(head.lines().next().unwrap_or(""));
            let text = if echo { request } else { "{}".to_owned() };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    (url, requests)
}

/// The request a stand-in got, echoed in the order it came (method, path, headers, body).
fn echo(r: &StandInRequest) -> Value {
    json!([r.method, r.path, r.headers, r.body])
}

/// A Kubernetes API server keeping one Secret, for the bearer `token`.
fn kubernetes(token: String) -> StandIn {
    let stored: Arc<Mutex<Option<Value>>> = Arc::default();
    StandIn::start(move |r| {
        if r.header("authorization") != Some(&format!("Bearer {token}")) {
            return (401, json!({ "kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401 }));
        }
        let mut stored = stored.lock().unwrap();
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/namespaces/web/secrets/www-tls") => match &*stored {
                Some(secret) => (200, secret.clone()),
                None => (404, json!({ "kind": "Status", "reason": "NotFound", "code": 404 })),
            },
            ("POST", "/api/v1/namespaces/web/secrets") => {
                let mut secret = r.body.clone();
                secret["metadata"]["resourceVersion"] = json!("1");
                *stored = Some(secret.clone());
                (201, secret)
            }
            _ => (404, json!({ "kind": "Status", "reason": "NotFound", "code": 404 })),
        }
    })
}

// ---------------------------------------------------------------------------------------------

fn random_text(prefix: &str) -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    format!("{prefix}-{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn random_b64url() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn status_of<'a>(items: &'a [Value], target: &str) -> &'a str {
    items.iter().find(|d| d["target_id"] == json!(target)).and_then(|d| d["status"].as_str()).unwrap_or("")
}

#[test]
fn secret_scan_no_secret_escapes_while_jobs_use_them() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let env = AcmeEnv::start(&dir.path().join("env"), AcmeEnvOptions { require_eab: true, ..Default::default() });
    let mut rsyslog = Rsyslog::new(&dir.path().join("rsyslog"));
    std::fs::create_dir_all(dir.path().join("rsyslog")).unwrap();
    rsyslog.start();
    let config = format!(
        "[[siem]]\nname = \"soc\"\nformat = \"rfc5424\"\ntransport = \"relp\"\naddress = \"{}\"\n",
        rsyslog.relp()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let allowed = dir.path().display().to_string();
    let mut service_env: Vec<(&str, &str)> = crate::issuance::FAST.to_vec();
    service_env.extend([
        ("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", allowed.as_str()),
        ("CERTAUTOPILOT_JOBS__MAX_ATTEMPTS", "3"),
        // Every crate at debug: the most detail the service can be made to print.
        ("RUST_LOG", "debug"),
    ]);
    let (mut service, addr, metrics) = Service::start(dir.path(), &service_env);
    crate::process::wait_for_status(addr, "/readyz", 200, Duration::from_secs(30));
    let c = Recorder { client: ApiClient { addr, token: None }, answers: Mutex::default() };
    let setup = json!({ "org_name": "Acme", "email": "owner@acme.test", "password": PASSWORD });
    c.ok("POST", "/api/v1/setup", Some(setup), 201);
    let login =
        c.ok("POST", "/api/v1/auth/login", Some(json!({ "email": "owner@acme.test", "password": PASSWORD })), 200);
    let c = Recorder {
        client: ApiClient { addr, token: Some(login["token"].as_str().unwrap().to_owned()) },
        answers: c.answers,
    };

    let sshd = Sshd::start(&dir.path().join("sshd"));
    let tsig = env.bind.key().clone();
    let wrong_tsig = certautopilot_connectors::testsupport::TsigKey::random(&tsig.name);
    let wrong_eab = random_b64url();
    let (hook_secret, failing_hook_secret) = (random_text("hook"), random_text("hook-500"));
    let (kube_token, vault_token) = (random_text("kube"), random_text("vault"));
    let (f5_password, f5_echo_password) = (random_text("f5"), random_text("f5-echo"));

    // --- a project whose account binds with the CA's EAB key and whose zones take TSIG updates.
    let pid = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "web" })), 201)["id"].as_str().unwrap().to_owned();
    let account_body = |pid: &str, name: &str, key: &str| {
        json!({ "project_id": pid, "name": name, "directory_url": env.pebble.directory_url(),
            "contact": ["mailto:ops@example.test"], "tos_agreed": true, "ca_bundle_pem": env.pebble.https_ca_pem(),
            "eab_kid": EAB_KID, "eab_hmac_key": key })
    };
    let account = c.id("/api/v1/acme-accounts", account_body(&pid, "pebble", env.eab_hmac_key()));
    let wrong_eab_account = c.id("/api/v1/acme-accounts", account_body(&pid, "wrong-eab", &wrong_eab));
    let zones = |pid: &str, key: &certautopilot_connectors::testsupport::TsigKey| {
        let credential = c.id(
            "/api/v1/dns-credentials",
            json!({ "project_id": pid, "name": "bind", "provider": "rfc2136", "config": {
                "server": env.bind.addr().to_string(), "key_name": key.name, "algorithm": key.algorithm,
                "secret": key.secret, "nameservers": [env.bind.addr().to_string()] } }),
        );
        for apex in [ZONE, certautopilot_connectors::testsupport::DELEGATED_ZONE] {
            c.id("/api/v1/zones", json!({ "project_id": pid, "apex": apex, "credential_id": credential }));
        }
    };
    zones(&pid, &tsig);

    // --- targets: four that take the certificate, four that fail.
    let out = dir.path().join("out");
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&remote).unwrap();
    let target = |name: &str, kind: &str, config: Value| {
        c.id("/api/v1/targets", json!({ "project_id": pid, "name": name, "type": kind, "config": config }))
    };
    let file = target("file", "file", json!({ "cert_path": out.join("cert.pem"), "key_path": out.join("key.pem") }));
    let ssh_config = |fingerprint: String, sub: &str| {
        json!({ "host": "127.0.0.1", "port": sshd.addr().port(), "user": current_user(),
            "host_key_sha256": fingerprint, "private_key": sshd.client_key(),
            "cert_path": remote.join(sub).join("cert.pem"), "key_path": remote.join(sub).join("key.pem") })
    };
    std::fs::create_dir_all(remote.join("ok")).unwrap();
    let ssh = target("ssh", "ssh", ssh_config(sshd.host_key_sha256(), "ok"));
    let mut impostor_key = [0u8; 32];
    rand::fill(&mut impostor_key);
    let wrong_host = target(
        "ssh-wrong-host-key",
        "ssh",
        ssh_config(format!("SHA256:{}", STANDARD_NO_PAD.encode(impostor_key)), "wrong"),
    );
    let (hook_url, hook_requests) = receiver(|_| (200, false));
    let hook = target(
        "hook",
        "webhook",
        json!({ "url": format!("{hook_url}/hook"), "hmac_secret": hook_secret, "include_private_key": true }),
    );
    let (failing_url, failing_requests) = receiver(|_| (500, true));
    let failing_hook = target(
        "hook-500",
        "webhook",
        json!({ "url": format!("{failing_url}/hook"), "hmac_secret": failing_hook_secret, "include_private_key": true }),
    );
    let kube_api = kubernetes(kube_token.clone());
    let kube = target(
        "kube",
        "kubernetes",
        json!({ "api_url": kube_api.url(), "namespace": "web", "secret_name": "www-tls", "token": kube_token }),
    );
    let vault_api = StandIn::start(|r| (401, json!({ "errors": ["permission denied"], "echo": echo(r) })));
    let vault =
        target("vault", "vault", json!({ "address": vault_api.url(), "path": "tls/www", "token": vault_token }));
    let f5_api =
        StandIn::start(|r| (401, json!({ "code": 401, "message": "Authentication failed.", "echo": echo(r) })));
    let f5 = target(
        "f5",
        "f5",
        json!({ "url": f5_api.url(), "username": "admin", "password": f5_password, "profile": "www", "object_name": "www" }),
    );
    // An F5 taking the chain's upload and answering the key's with 500 and the request echoed: the
    // key itself comes back in an error answer.
    let (f5_echo_url, f5_echo_requests) =
        receiver(|line| if line.contains(".key ") { (500, true) } else { (200, false) });
    let f5_echo = target(
        "f5-key-upload-500",
        "f5",
        json!({ "url": f5_echo_url, "username": "admin", "password": f5_echo_password, "profile": "www", "object_name": "www" }),
    );
    let all_targets = [&file, &ssh, &wrong_host, &hook, &failing_hook, &kube, &vault, &f5, &f5_echo];

    // --- issue and deploy; a certificate on the wrong EAB key; another project on a wrong TSIG key.
    let certificate = |pid: &str, account: &str, name: &str, targets: Vec<&String>| {
        c.ok(
            "POST",
            "/api/v1/certificates",
            Some(json!({ "project_id": pid, "common_name": format!("{name}.{ZONE}"), "key_type": "ecdsa-p256",
                "acme_account_id": account, "target_ids": targets })),
            202,
        )["certificate"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let cid = certificate(&pid, &account, "www", all_targets.to_vec());
    let refused = certificate(&pid, &wrong_eab_account, "refused", vec![]);
    let pid2 =
        c.ok("POST", "/api/v1/projects", Some(json!({ "name": "bad-dns" })), 201)["id"].as_str().unwrap().to_owned();
    let account2 = c.id("/api/v1/acme-accounts", account_body(&pid2, "pebble", env.eab_hmac_key()));
    zones(&pid2, &wrong_tsig);
    let bad_dns = certificate(&pid2, &account2, "baddns", vec![]);

    // --- the work settles: each target reaches its outcome, the two broken certificates fail.
    let expected = [
        (&file, "deployed"),
        (&ssh, "deployed"),
        (&hook, "deployed"),
        (&kube, "deployed"),
        (&wrong_host, "failed"),
        (&failing_hook, "failed"),
        (&vault, "failed"),
        (&f5, "failed"),
        (&f5_echo, "failed"),
    ];
    let deployments = c.wait_for(&format!("/api/v1/certificates/{cid}/deployments"), "every target settled", |d| {
        d["items"].as_array().is_some_and(|items| expected.iter().all(|(t, s)| status_of(items, t) == *s))
    });
    for (name, id) in [("wrong EAB", &refused), ("wrong TSIG", &bad_dns)] {
        let failed = c.wait_for(&format!("/api/v1/certificates/{id}"), &format!("{name} fails"), |cert| {
            cert["status"] == json!("failed")
        });
        assert!(failed["last_error"].is_string(), "{name}: {failed}");
    }
    // The failures are the ones staged, not some other.
    let items = deployments["items"].as_array().unwrap();
    let error_of = |t: &str| {
        items.iter().find(|d| d["target_id"] == json!(t)).unwrap()["last_error"].as_str().unwrap_or("").to_owned()
    };
    assert!(error_of(&wrong_host).contains("does not match the pinned"), "{}", error_of(&wrong_host));
    assert!(error_of(&failing_hook).contains("500"), "{}", error_of(&failing_hook));
    assert!(error_of(&vault).contains("refused (401)"), "{}", error_of(&vault));
    assert!(error_of(&f5).contains("refused (401)"), "{}", error_of(&f5));
    assert!(error_of(&f5_echo).contains("500"), "{}", error_of(&f5_echo));
    assert_eq!(failing_requests.lock().unwrap().len(), 3, "the 500 was retried to the last attempt");

    // --- the SIEM forwarder caught up with the audit chain.
    let events = c.all("/api/v1/audit/events");
    let last_seq = events.iter().filter_map(|e| e["seq"].as_u64()).max().unwrap();
    let start = Instant::now();
    while !rsyslog.lines("relp.log").iter().any(|l| l.contains(&format!("seq=\"{last_seq}\""))) {
        assert!(start.elapsed() < DEADLINE, "event {last_seq} did not reach rsyslog");
        std::thread::sleep(Duration::from_millis(50));
    }

    // --- every view the API offers of what happened, recorded for the scan.
    for pid in [&pid, &pid2] {
        for list in ["acme-accounts", "dns-credentials", "zones", "targets", "certificates"] {
            for item in c.all(&format!("/api/v1/{list}?project_id={pid}")) {
                c.ok("GET", &format!("/api/v1/{list}/{}", item["id"].as_str().unwrap()), None, 200);
            }
        }
        for job in c.all(&format!("/api/v1/jobs?project_id={pid}")) {
            c.ok("GET", &format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()), None, 200);
        }
    }
    for id in [&cid, &refused, &bad_dns] {
        for view in ["timeline", "deployments"] {
            c.ok("GET", &format!("/api/v1/certificates/{id}/{view}"), None, 200);
        }
    }
    c.call("GET", &format!("/api/v1/certificates/{cid}/chain"), None);
    c.ok("GET", "/api/v1/admin/actors", None, 200);
    let (_, metrics_page) = http_get(metrics, "/metrics");
    service.stop();

    // --- the secrets, and controls showing their needles match what the service really sent.
    let key_pem = std::fs::read_to_string(out.join("key.pem")).expect("the file target got the key");
    let secrets = vec![
        Secret::encoded("EAB HMAC key", env.eab_hmac_key()),
        Secret::encoded("wrong EAB HMAC key", &wrong_eab),
        Secret::encoded("TSIG secret", &tsig.secret),
        Secret::encoded("wrong TSIG secret", &wrong_tsig.secret),
        Secret::private_key("certificate private key", &key_pem, ec_scalar),
        Secret::private_key("SSH client private key", &sshd.client_key(), ed25519_seed),
        Secret::text("webhook HMAC secret", &hook_secret),
        Secret::text("failing webhook HMAC secret", &failing_hook_secret),
        Secret::text("kubernetes token", &kube_token),
        Secret::text("vault token", &vault_token),
        Secret::text("F5 password", &f5_password),
        Secret::text("F5 password (key upload target)", &f5_echo_password),
        Secret::text("owner password", PASSWORD),
    ];
    let kube_requests = kube_api.requests();
    let kube_post = kube_requests.iter().find(|r| r.method == "POST").expect("the Secret was created");
    // tls.key is the PEM in base64: the key's needles see through that encoding.
    assert_found(&secrets, "certificate private key", "the Kubernetes Secret", kube_post.body.to_string().as_bytes());
    let hooked = hook_requests.lock().unwrap().last().cloned().expect("the webhook was called");
    assert_found(&secrets, "certificate private key", "the webhook document", hooked.as_bytes());
    let (head, body) = hooked.split_once("\r\n\r\n").unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
    };
    let timestamp = header(TIMESTAMP_HEADER).unwrap();
    assert_eq!(header(SIGNATURE_HEADER), Some(signature(hook_secret.as_bytes(), timestamp, body.as_bytes()).as_str()));
    assert_found(&secrets, "kubernetes token", "the Kubernetes request", format!("{:?}", kube_post.headers).as_bytes());
    for (name, api) in [("vault token", &vault_api), ("F5 password", &f5_api)] {
        let requests = format!("{:?}", api.requests());
        assert_found(&secrets, name, "the refusing stand-in's requests", requests.as_bytes());
    }
    let key_upload = f5_echo_requests.lock().unwrap().iter().find(|r| r.contains(".key ")).cloned();
    let key_upload = key_upload.expect("the F5 got the key's upload");
    assert_found(&secrets, "certificate private key", "the F5 key upload", key_upload.as_bytes());
    assert_found(&secrets, "F5 password (key upload target)", "the F5 key upload", key_upload.as_bytes());
    assert_eq!(std::fs::read_to_string(remote.join("ok/key.pem")).unwrap(), key_pem, "the key reached the sshd");
    assert!(!remote.join("wrong/cert.pem").exists(), "nothing written past a wrong host key");
    assert_found(&secrets, "TSIG secret", "the BIND configuration", tsig.secret.as_bytes());

    // --- the scan.
    let stdout = std::fs::read(&service.stdout).unwrap();
    let log = String::from_utf8_lossy(&stdout);
    assert!(log.contains("\"level\":\"DEBUG\""), "the service logged at debug level");
    assert!(log.contains("remote detail, withheld from records"), "the failures' remote answers reached the log");
    let mut haystacks = vec![
        Haystack { place: "the service's stdout".into(), bytes: stdout.clone() },
        Haystack { place: "the service's stderr".into(), bytes: std::fs::read(&service.stderr).unwrap() },
        Haystack {
            place: "rsyslog's relp.log (SIEM output)".into(),
            bytes: std::fs::read(dir.path().join("rsyslog/relp.log")).unwrap(),
        },
        Haystack { place: "the metrics page".into(), bytes: metrics_page.into_bytes() },
    ];
    for file in ["certautopilot.db", "certautopilot.db-wal", "certautopilot.db-shm"] {
        if let Ok(bytes) = std::fs::read(dir.path().join("data").join(file)) {
            haystacks.push(Haystack { place: format!("the database file {file}"), bytes });
        }
    }
    let answers = std::mem::take(&mut *c.answers.lock().unwrap());
    let answer_count = answers.len();
    for (route, text) in answers {
        haystacks.push(Haystack { place: format!("the API answer to {route}"), bytes: text.into_bytes() });
    }
    let mut leaks = Vec::new();
    for haystack in &haystacks {
        for (secret, form) in found_in(&secrets, &haystack.bytes) {
            leaks.push(format!("{secret} ({form}) in {}", haystack.place));
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "secrets found where they must not be:\n  {}", leaks.join("\n  "));

    // Secrets are in the store, sealed.
    let db = rusqlite::Connection::open(dir.path().join("data/certautopilot.db")).unwrap();
    let sealed: Vec<(String, String)> = db
        .prepare("SELECT DISTINCT record_table, field FROM sealed_secrets ORDER BY 1, 2")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(sealed.len() >= 4, "certificate keys, account keys, DNS and target credentials are sealed: {sealed:?}");
    eprintln!(
        "secret scan: {} secrets, {} needles, {} places ({answer_count} API answers, {} bytes of service log), {:?}",
        secrets.len(),
        secrets.iter().map(|s| s.needles.len()).sum::<usize>(),
        haystacks.len(),
        stdout.len(),
        started.elapsed()
    );
}
