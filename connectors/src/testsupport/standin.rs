//! A plain-HTTP stand-in for a vendor API that cannot run here (Kubernetes, Vault, F5, NetScaler, DNS
//! providers' APIs):
//! the test gives it a handler implementing the documented requests and errors; it records every
//! request. Loopback only; one connection per request. A handler may answer with headers
//! (`Retry-After`) through `start_answering`, and sees the peer's address (acme-dns's `allowfrom`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct StandInRequest {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// The body as text, for APIs that do not speak JSON (Route 53's XML, form posts).
    pub text: String,
    /// Who sent it (acme-dns checks `allowfrom`).
    pub peer: SocketAddr,
}

impl StandInRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An answer with headers (`Retry-After`, rate-limit headers); a 204 is sent without a body.
#[derive(Debug, Clone)]
pub struct StandInAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    /// A body of another content type (Route 53's XML), sent instead of `body`.
    pub raw: Option<Box<(&'static str, String)>>,
}

impl From<(u16, serde_json::Value)> for StandInAnswer {
    fn from((status, body): (u16, serde_json::Value)) -> Self {
        StandInAnswer::json(status, body)
    }
}

impl StandInAnswer {
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        StandInAnswer { status, headers: Vec::new(), body, raw: None }
    }

    pub fn raw(status: u16, content_type: &'static str, body: String) -> Self {
        StandInAnswer {
            status,
            headers: Vec::new(),
            body: serde_json::Value::Null,
            raw: Some(Box::new((content_type, body))),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Handler = dyn Fn(&StandInRequest) -> StandInAnswer + Send + Sync;

pub struct StandIn {
    port: u16,
    requests: Arc<Mutex<Vec<StandInRequest>>>,
}

impl StandIn {
    pub fn start(handler: impl Fn(&StandInRequest) -> (u16, serde_json::Value) + Send + Sync + 'static) -> StandIn {
        Self::start_answering(move |request| {
            let (status, body) = handler(request);
            StandInAnswer::json(status, body)
        })
    }

    /// A stand-in whose handler answers any content type (`(status, content type, body)`).
    pub fn start_raw(
        handler: impl Fn(&StandInRequest) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> StandIn {
        Self::start_answering(move |request| {
            let (status, content_type, body) = handler(request);
            StandInAnswer::raw(status, content_type, body)
        })
    }

    /// Like `start`, with a handler that can also set response headers.
    pub fn start_answering(handler: impl Fn(&StandInRequest) -> StandInAnswer + Send + Sync + 'static) -> StandIn {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<StandInRequest>>> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, seen) = (handler.clone(), seen.clone());
                let Ok(peer) = stream.peer_addr() else { continue };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("").to_owned());
                    let mut headers = Vec::new();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = header.trim_end().split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                        }
                    }
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let request = StandInRequest {
                        method,
                        path,
                        headers,
                        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                        text: String::from_utf8_lossy(&body).into_owned(),
                        peer,
                    };
                    // Recorded before it is handled: a test that sees the handler's effect finds the
                    // request that caused it.
                    seen.lock().unwrap().push(request.clone());
                    let answer = handler(&request);
                    let (content_type, text) = match answer.raw {
                        Some(raw) => *raw,
                        None if answer.status == 204 => ("application/json", String::new()),
                        None => ("application/json", answer.body.to_string()),
                    };
                    let extra: String = answer.headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {} X\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        answer.status,
                        text.len()
                    );
                });
            }
        });
        StandIn { port, requests }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.requests.lock().unwrap().clone()
    }
}
