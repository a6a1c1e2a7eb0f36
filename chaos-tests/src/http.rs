//! A small blocking HTTP/1.1 client for tests that run the real binary: one request per connection,
//! JSON bodies, bearer tokens, and polling with a deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request; returns the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = http_request(addr, "GET", path, &[], None);
    (status, body)
}

/// Like `http_request`, but `None` instead of a panic when the server is gone (for tests that kill it).
pub fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> Option<u16> {
    exchange(addr, method, path, headers, json).ok().map(|(status, _, _)| status)
}

/// One HTTP/1.1 request with headers and an optional JSON body; returns status, raw head and body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> (u16, String, String) {
    exchange(addr, method, path, headers, json).expect("HTTP exchange")
}

fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = json.map(|j| j.to_string()).unwrap_or_default();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if json.is_some() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status line"))?;
    let (head, body) = response.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
    Ok((status, head, body))
}

/// Polls `path` until it answers `status` or the deadline passes.
pub fn wait_for_status(addr: SocketAddr, path: &str, status: u16, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        let (got, body) = http_get(addr, path);
        if got == status {
            return body;
        }
        assert!(start.elapsed() < deadline, "{path} still {got} after {deadline:?}: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// POSTs JSON, with a bearer token if given; returns the status and the parsed body (null if none).
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (status, _, text) = http_request(addr, "POST", path, &headers, Some(&body));
    (status, serde_json::from_str(&text).unwrap_or_default())
}

/// A JSON API client with an optional bearer token.
pub struct ApiClient {
    pub addr: SocketAddr,
    pub token: Option<String>,
}

impl ApiClient {
    pub fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let (status, text) = self.call_text(method, path, body);
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// Like `call`, but `None` when the server does not answer (it may be down or restarting).
    pub fn try_call(&self, method: &str, path: &str) -> Option<(u16, serde_json::Value)> {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let (status, _, text) = exchange(self.addr, method, path, &headers, None).ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)))
    }

    pub fn call_text(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        let (status, _, text) = http_request(self.addr, method, path, &headers, body.as_ref());
        (status, text)
    }

    pub fn ok(&self, method: &str, path: &str, body: Option<serde_json::Value>, expect: u16) -> serde_json::Value {
        let (status, value) = self.call(method, path, body);
        assert_eq!(status, expect, "{method} {path}: {value}");
        value
    }

    /// Sets the organization up and logs the owner in (a fresh store only).
    pub fn setup_and_login(addr: SocketAddr) -> ApiClient {
        let mut c = ApiClient { addr, token: None };
        let body = serde_json::json!({ "org_name": "Acme", "email": "owner@acme.test", "password": "correct horse battery staple" });
        c.ok("POST", "/api/v1/setup", Some(body), 201);
        c.login();
        c
    }

    pub fn login(&mut self) {
        let body = serde_json::json!({ "email": "owner@acme.test", "password": "correct horse battery staple" });
        let login = self.ok("POST", "/api/v1/auth/login", Some(body), 200);
        self.token = Some(login["token"].as_str().expect("token").to_owned());
    }

    /// Polls GET `path` until `done` holds for the JSON body; panics with the last body after `deadline`.
    pub fn wait_for(
        &self,
        path: &str,
        deadline: Duration,
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.call("GET", path, None);
            if status == 200 && done(&body) {
                return body;
            }
            assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}; last answer {status}: {body}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}
