//! Running the binary built by this test run, talking HTTP/1.1 to it, and reading its JSON logs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_certautopilot");

/// The binary with a clean `CERTAUTOPILOT_` environment, run in `dir`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CERTAUTOPILOT_") || key == "RUST_LOG" || key == "FAILPOINTS" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// A running `serve`, its address, and every log line it printed so far.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
}

impl Server {
    /// Starts `serve` with JSON logs on an ephemeral port and waits until it says where it listens.
    pub fn start(dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = command(dir);
        cmd.args(["serve", "--log-format", "json"])
            .args(extra_args)
            .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
            .env("CERTAUTOPILOT_API__SHUTDOWN_GRACE_SECS", "5")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start certautopilot serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, addr: "0.0.0.0:0".parse().unwrap(), lines, log: Vec::new() };
        let line = server.wait_for_log(Duration::from_secs(30), "api listening");
        let event: serde_json::Value = serde_json::from_str(&line).expect("JSON log line");
        server.addr = event["addr"].as_str().expect("addr field").parse().expect("socket address");
        server
    }

    /// Waits for a log line whose message is `message` and returns it.
    pub fn wait_for_log(&mut self, deadline: Duration, message: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log.iter().find(|l| log_message(l) == Some(message)) {
                return line.clone();
            }
            let left = deadline
                .checked_sub(start.elapsed())
                .unwrap_or_else(|| panic!("no {message:?} log within {deadline:?}; log: {:#?}", self.log));
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("no {message:?} log within {deadline:?}; log: {:#?}", self.log),
            }
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit and returns its exit code, collecting the rest of its log.
    pub fn wait_exit(&mut self, deadline: Duration) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(line);
                }
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn log_message(line: &str) -> Option<&str> {
    let start = line.find("\"message\":\"")? + "\"message\":\"".len();
    let end = line[start..].find('"')?;
    Some(&line[start..start + end])
}

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
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = json.map(|j| j.to_string()).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\nContent-Type: application/json\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split(' ').nth(1).and_then(|s| s.parse().ok())
}

/// One HTTP/1.1 request with headers and an optional JSON body; returns status, raw head and body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    json: Option<&serde_json::Value>,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
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
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let (head, body) = response.split_once("\r\n\r\n").map(|(h, b)| (h.to_owned(), b.to_owned())).unwrap_or_default();
    (status, head, body)
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
