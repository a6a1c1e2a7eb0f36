//! A plain-HTTP stand-in for a vendor API that cannot run here (Kubernetes, Vault, F5, NetScaler):
//! the test gives it a handler implementing the documented requests and errors; it records every
//! request. Loopback only; one connection per request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
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
}

impl StandInRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An answer with headers of its own (`Retry-After` on a 429).
#[derive(Debug, Clone)]
pub struct StandInReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl From<(u16, serde_json::Value)> for StandInReply {
    fn from((status, body): (u16, serde_json::Value)) -> Self {
        StandInReply { status, headers: Vec::new(), body }
    }
}

/// An answer: status, content type, body, extra headers.
type Handler = dyn Fn(&StandInRequest) -> (u16, &'static str, String, Vec<(String, String)>) + Send + Sync;

pub struct StandIn {
    port: u16,
    requests: Arc<Mutex<Vec<StandInRequest>>>,
}

impl StandIn {
    pub fn start(handler: impl Fn(&StandInRequest) -> (u16, serde_json::Value) + Send + Sync + 'static) -> StandIn {
        StandIn::start_with_headers(move |r| handler(r).into())
    }

    /// A stand-in whose JSON answers may carry headers.
    pub fn start_with_headers(handler: impl Fn(&StandInRequest) -> StandInReply + Send + Sync + 'static) -> StandIn {
        StandIn::start_full(move |request| {
            let StandInReply { status, headers, body } = handler(request);
            (status, "application/json", body.to_string(), headers)
        })
    }

    /// A stand-in whose handler answers any content type (`(status, content type, body)`).
    pub fn start_raw(
        handler: impl Fn(&StandInRequest) -> (u16, &'static str, String) + Send + Sync + 'static,
    ) -> StandIn {
        StandIn::start_full(move |request| {
            let (status, content_type, body) = handler(request);
            (status, content_type, body, Vec::new())
        })
    }

    fn start_full(
        handler: impl Fn(&StandInRequest) -> (u16, &'static str, String, Vec<(String, String)>) + Send + Sync + 'static,
    ) -> StandIn {
        let handler: Arc<Handler> = Arc::new(handler);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<StandInRequest>>> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, seen) = (handler.clone(), seen.clone());
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
                    };
                    let (status, content_type, text, headers) = handler(&request);
                    seen.lock().unwrap().push(request);
                    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
                        text.len()
                    );
                });
            }
        });
        StandIn { port, requests }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<StandInRequest> {
        self.requests.lock().unwrap().clone()
    }
}
