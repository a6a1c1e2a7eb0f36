//! A real SMTP server for the e-mail channel's tests: aiosmtpd (PyPI, installed into the tools venv
//! by scripts/test, found through `CAP_TEST_SMTP_PYTHON`) running `smtp_server.py` on two loopback
//! listeners, plain with STARTTLS and TLS from the first byte, with a certificate from a CA of the
//! test's own. Every accepted connection and every received message is one JSON line in a file.
//! Invariant: one server per test, killed on drop, on ports held until it has bound them (`ports`);
//! a message's line is on disk before the server answers 250, so a client that was told "accepted"
//! finds it without waiting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;

use super::ports::{PortReservation, start_on_fresh_ports, wait_until_bound};
use super::{ChildGuard, ElsewhereCa};

/// The program the tests run the server with: a python that has aiosmtpd.
pub const SMTP_PYTHON_VAR: &str = "CAP_TEST_SMTP_PYTHON";
/// What scripts/test installs (kept in step with its `AIOSMTPD_VERSION`), named in failures.
const AIOSMTPD: &str = "aiosmtpd 1.4.6";
const SCRIPT: &str = include_str!("smtp_server.py");

/// How the server behaves.
#[derive(Debug, Clone)]
pub struct SmtpServerOptions {
    /// Offer STARTTLS on the plain listener.
    pub starttls: bool,
    /// The one (username, password) AUTH accepts; then AUTH is required, over TLS only.
    pub auth: Option<(String, String)>,
    /// AUTH mechanisms not offered (`"PLAIN"` leaves LOGIN).
    pub auth_exclude: Vec<String>,
    /// The whole reply (`"451 4.3.0 try later"`) given to RCPT TO for an address, instead of 250.
    pub rcpt_replies: Vec<(String, String)>,
}

impl Default for SmtpServerOptions {
    fn default() -> Self {
        SmtpServerOptions { starttls: true, auth: None, auth_exclude: Vec::new(), rcpt_replies: Vec::new() }
    }
}

/// One message as the server received it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// `starttls` (the plain listener) or `tls`.
    pub listener: String,
    pub peer: String,
    /// Whether the message came over TLS (STARTTLS or implicit).
    pub secure: bool,
    /// The mechanism and login AUTH succeeded with.
    pub auth: Option<ReceivedAuth>,
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    data_base64: String,
    /// As Python's `email` package parses it.
    pub parsed: ParsedMail,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedAuth {
    pub mechanism: String,
    pub login: String,
}

/// The message through an independent parser: headers decoded (RFC 2047), the body decoded
/// (transfer encoding, charset), and whatever it found wrong.
#[derive(Debug, Clone, Deserialize)]
pub struct ParsedMail {
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub defects: Vec<String>,
}

impl ReceivedMail {
    /// The message as DATA carried it, dot-stuffing undone.
    pub fn data(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(&self.data_base64).expect("the server writes base64")
    }

    /// The decoded value of the one header `name` (case-insensitive); panics if there are several.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.parsed.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, v)| v.as_str());
        assert!(found.next().is_none(), "header {name} appears more than once");
        first
    }
}

pub struct SmtpServer {
    dir: PathBuf,
    starttls_port: u16,
    tls_port: u16,
    ca_pem: String,
    child: ChildGuard,
}

impl SmtpServer {
    /// Writes a CA and a server certificate for 127.0.0.1 and localhost into `dir`, starts the
    /// server there on two held loopback ports, and returns once it listens on both.
    pub fn start(dir: &Path, options: SmtpServerOptions) -> SmtpServer {
        std::fs::create_dir_all(dir).unwrap();
        let ca = ElsewhereCa::new("certautopilot smtp test ca");
        let leaf = ca.leaf(&["localhost", "127.0.0.1"], Duration::from_secs(3600), Duration::from_secs(2 * 86400));
        std::fs::write(dir.join("server.pem"), &leaf.chain_pem).unwrap();
        std::fs::write(dir.join("server.key"), &leaf.key_pem).unwrap();
        std::fs::write(dir.join("smtp_server.py"), SCRIPT).unwrap();
        let python = python();
        let ca_pem = ca_pem_of(&leaf.chain_pem, &leaf.leaf_pem);
        let mut server =
            SmtpServer { dir: dir.to_owned(), starttls_port: 0, tls_port: 0, ca_pem, child: ChildGuard::default() };
        start_on_fresh_ports("aiosmtpd", || {
            let held = [PortReservation::tcp(), PortReservation::tcp()];
            server.starttls_port = held[0].port();
            server.tls_port = held[1].port();
            server.launch(&python, &options)?;
            let ports = [server.starttls_port, server.tls_port];
            match wait_until_bound(&mut server.child, &ports, &[], Duration::from_secs(30)) {
                Ok(()) => Ok(()),
                Err(e) => {
                    server.child.stop();
                    let log = server.log();
                    // Fresh ports cannot help a python without aiosmtpd.
                    assert!(!log.contains("aiosmtpd is not installed"), "{log}");
                    Err(format!("{e:?}: {log}"))
                }
            }
        });
        server
    }

    fn launch(&mut self, python: &Path, options: &SmtpServerOptions) -> Result<(), String> {
        let (messages, connections) = (self.dir.join("messages.jsonl"), self.dir.join("connections.jsonl"));
        for file in [&messages, &connections] {
            std::fs::write(file, "").unwrap();
        }
        let config = serde_json::json!({
            "starttls_port": self.starttls_port,
            "tls_port": self.tls_port,
            "cert": self.dir.join("server.pem"),
            "key": self.dir.join("server.key"),
            "starttls": options.starttls,
            "auth": options.auth.as_ref().map(|(u, p)| serde_json::json!({"username": u, "password": p})),
            "auth_exclude": options.auth_exclude,
            "rcpt_replies": options
                .rcpt_replies
                .iter()
                .map(|(address, reply)| (address.clone(), serde_json::Value::from(reply.as_str())))
                .collect::<serde_json::Map<_, _>>(),
            "messages": messages,
            "connections": connections,
        });
        let config_path = self.dir.join("smtp_server.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let log = std::fs::File::create(self.dir.join("smtp_server.log")).unwrap();
        let child = Command::new(python)
            .arg(self.dir.join("smtp_server.py"))
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        self.child = ChildGuard::new(child);
        Ok(())
    }

    /// The plain listener, offering STARTTLS unless the options said not to.
    pub fn starttls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.starttls_port))
    }

    /// The listener that speaks TLS from the first byte.
    pub fn tls_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.tls_port))
    }

    /// The CA that signed the server's certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        complete_lines(&self.dir.join("messages.jsonl"))
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("message record {line}: {e}")))
            .collect()
    }

    /// How many connections the server has accepted so far (either listener).
    pub fn connections(&self) -> usize {
        complete_lines(&self.dir.join("connections.jsonl")).len()
    }

    /// Waits until at least `count` messages arrived; panics after `timeout` with what did.
    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{count} messages did not arrive within {timeout:?}: {messages:#?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("smtp_server.log")).unwrap_or_default()
    }
}

/// The CA's PEM: the chain minus the leaf.
fn ca_pem_of(chain_pem: &str, leaf_pem: &str) -> String {
    chain_pem.strip_prefix(leaf_pem).expect("the chain starts with the leaf").to_owned()
}

/// The lines of `path` that are complete (a record being written has no newline yet).
fn complete_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => return Vec::new(),
    };
    complete.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// `$CAP_TEST_SMTP_PYTHON`, else the tools venv of this checkout; a clear failure otherwise (the
/// e-mail tests never skip).
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os(SMTP_PYTHON_VAR) {
        return PathBuf::from(path);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-tools/venv/bin/python");
    assert!(
        venv.exists(),
        "no python with {AIOSMTPD} for the e-mail tests: run ./scripts/test once (it installs it into \
         target/test-tools/venv), or set {SMTP_PYTHON_VAR} to a python that has it"
    );
    venv
}
