//! An acme-dns stand-in written from its documented API (joohoi/acme-dns README and its `auth.go`):
//! `POST /register` (optional `allowfrom` CIDRs) answers a UUID username, a 40-character password
//! and a UUID subdomain; `POST /update` with `X-Api-User` / `X-Api-Key` sets the subdomain's TXT.
//! Every authentication failure (unknown user, wrong key, address outside `allowfrom`, a subdomain
//! that is not the user's) is 401 `{"error":"forbidden"}`; then 400 `bad_subdomain` / `bad_txt`
//! (a value that is not 43 base64url characters). Each subdomain keeps its two most recent values.
//! Invariant: once `publish_to` names a BIND, the values at `<subdomain>.<domain>` there are exactly
//! the stand-in's (the oldest is deleted when a third arrives), so a CA validates through it.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine;
use serde_json::{Value, json};

use super::{StandIn, StandInAnswer, StandInRequest, TsigKey};

/// How many values acme-dns answers per subdomain (its rolling update: a name and its wildcard).
pub const ACMEDNS_KEPT_VALUES: usize = 2;

/// One registration.
#[derive(Debug, Clone)]
pub struct AcmeDnsAccount {
    pub username: String,
    pub password: String,
    pub subdomain: String,
    pub fulldomain: String,
    allowfrom: Vec<ipnet::IpNet>,
}

#[derive(Debug)]
struct Publish {
    server: SocketAddr,
    key: TsigKey,
}

#[derive(Debug, Default)]
struct State {
    accounts: Vec<AcmeDnsAccount>,
    txt: HashMap<String, VecDeque<String>>,
    publish: Option<Publish>,
    /// Answers given to the next `/update` requests instead of handling them (outages, 429).
    faults: VecDeque<StandInAnswer>,
}

pub struct AcmeDnsStandIn {
    http: StandIn,
    domain: String,
    state: Arc<Mutex<State>>,
}

impl AcmeDnsStandIn {
    /// Serves the subdomains of `domain` (e.g. `auth.example.test`).
    pub fn start(domain: &str) -> AcmeDnsStandIn {
        let state: Arc<Mutex<State>> = Arc::default();
        let (handler_state, handler_domain) = (state.clone(), domain.to_owned());
        let http = StandIn::start_answering(move |request| handle(&handler_state, &handler_domain, request));
        AcmeDnsStandIn { http, domain: domain.to_owned(), state }
    }

    pub fn url(&self) -> String {
        self.http.url()
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.http.requests()
    }

    /// Registers through the API, as a user would (`allowfrom`: CIDRs, may be empty).
    pub fn register(&self, allowfrom: &[&str]) -> AcmeDnsAccount {
        let body = json!({ "allowfrom": allowfrom }).to_string();
        let mut stream = std::net::TcpStream::connect(self.http.addr()).expect("the stand-in listens");
        write!(
            stream,
            "POST /register HTTP/1.1\r\nHost: acme-dns\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
        let (_, json) = response.split_once("\r\n\r\n").expect("an HTTP answer");
        let answer: Value = serde_json::from_str(json).expect("register answers JSON");
        let username = answer["username"].as_str().expect("a username").to_owned();
        self.state.lock().unwrap().accounts.iter().find(|a| a.username == username).cloned().expect("registered")
    }

    /// From now on, every update is also applied at `server` (RFC 2136 with `key`), in the zone
    /// `domain`, which that server must serve with `key` allowed to update TXT.
    pub fn publish_to(&self, server: SocketAddr, key: TsigKey) {
        self.state.lock().unwrap().publish = Some(Publish { server, key });
    }

    /// The next `/update` requests get these answers, one each, instead of being handled.
    pub fn fail_next(&self, answers: impl IntoIterator<Item = StandInAnswer>) {
        self.state.lock().unwrap().faults.extend(answers);
    }

    /// The subdomain's values, oldest first.
    pub fn txt(&self, subdomain: &str) -> Vec<String> {
        self.state.lock().unwrap().txt.get(subdomain).map(|v| v.iter().cloned().collect()).unwrap_or_default()
    }
}

fn error(status: u16, code: &str) -> StandInAnswer {
    (status, json!({ "error": code })).into()
}

fn handle(state: &Mutex<State>, domain: &str, request: &StandInRequest) -> StandInAnswer {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/register") => register(state, domain, request),
        ("POST", "/update") => update(state, domain, request),
        ("GET", "/health") => (200, Value::Null).into(),
        _ => (404, json!({ "error": "not found" })).into(),
    }
}

fn random_uuid() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn register(state: &Mutex<State>, domain: &str, request: &StandInRequest) -> StandInAnswer {
    let mut allowfrom = Vec::new();
    for cidr in request.body["allowfrom"].as_array().into_iter().flatten() {
        match cidr.as_str().and_then(|c| c.parse::<ipnet::IpNet>().ok()) {
            Some(net) => allowfrom.push(net),
            None => return error(400, "invalid_allowfrom_cidr"),
        }
    }
    let mut password = [0u8; 30];
    rand::fill(&mut password);
    let subdomain = random_uuid();
    let account = AcmeDnsAccount {
        username: random_uuid(),
        password: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(password),
        fulldomain: format!("{subdomain}.{domain}"),
        subdomain,
        allowfrom,
    };
    let answer = json!({ "username": account.username, "password": account.password,
        "fulldomain": account.fulldomain, "subdomain": account.subdomain,
        "allowfrom": account.allowfrom.iter().map(ToString::to_string).collect::<Vec<_>>() });
    state.lock().unwrap().accounts.push(account);
    (201, answer).into()
}

fn allowed_from(account: &AcmeDnsAccount, peer: IpAddr) -> bool {
    account.allowfrom.is_empty() || account.allowfrom.iter().any(|net| net.contains(&peer))
}

fn update(state: &Mutex<State>, domain: &str, request: &StandInRequest) -> StandInAnswer {
    let mut state = state.lock().unwrap();
    if let Some(fault) = state.faults.pop_front() {
        return fault;
    }
    let (user, key) = (request.header("x-api-user").unwrap_or(""), request.header("x-api-key").unwrap_or(""));
    let subdomain = request.body["subdomain"].as_str().unwrap_or("").to_owned();
    let authenticated = state.accounts.iter().any(|a| {
        a.username == user && a.password == key && allowed_from(a, request.peer.ip()) && a.subdomain == subdomain
    });
    if !authenticated {
        return error(401, "forbidden");
    }
    if !is_uuid(&subdomain) {
        return error(400, "bad_subdomain");
    }
    let txt = request.body["txt"].as_str().unwrap_or("").to_owned();
    let valid = txt.len() == 43 && txt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return error(400, "bad_txt");
    }
    let values = state.txt.entry(subdomain.clone()).or_default();
    values.push_back(txt.clone());
    let dropped = (values.len() > ACMEDNS_KEPT_VALUES).then(|| values.pop_front()).flatten();
    if let Some(publish) = &state.publish
        && let Err(e) = nsupdate(publish, domain, &format!("{subdomain}.{domain}"), &txt, dropped.as_deref())
    {
        eprintln!("acme-dns stand-in: publishing to BIND failed: {e}");
        return error(500, "db_error");
    }
    (200, json!({ "txt": txt })).into()
}

/// Adds `value` at `name` (and deletes `dropped`) on the BIND, with `nsupdate` (bind9-dnsutils).
fn nsupdate(publish: &Publish, zone: &str, name: &str, value: &str, dropped: Option<&str>) -> Result<(), String> {
    let mut script = format!("server {} {}\nzone {zone}.\n", publish.server.ip(), publish.server.port());
    if let Some(old) = dropped {
        script.push_str(&format!("update delete {name}. TXT \"{old}\"\n"));
    }
    // acme-dns answers its TXT records with TTL 1.
    script.push_str(&format!("update add {name}. 1 TXT \"{value}\"\nsend\n"));
    let key = format!("{}:{}:{}", publish.key.algorithm, publish.key.name, publish.key.secret);
    let mut child = Command::new("nsupdate")
        .args(["-y", &key, "-t", "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nsupdate: {e}"))?;
    child.stdin.take().expect("piped").write_all(script.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}
