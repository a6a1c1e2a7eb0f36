//! ACME Renewal Information (RFC 9773) in front of Pebble, which has none: a small HTTPS server that
//! serves Pebble's directory with a `renewalInfo` URL added, and answers renewal-info queries. The
//! other directory URLs still point at Pebble, so everything else goes straight to it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::make_tls_certificates;

/// A suggested window, as seconds since the Unix epoch.
pub type Window = (u64, u64);

pub struct AriProxy {
    addr: SocketAddr,
    ca_pem: String,
    stop: Arc<AtomicBool>,
    answered: Arc<Mutex<HashMap<String, Window>>>,
}

impl AriProxy {
    /// Serves on a free loopback port. The first certificate asked about gets `first`; every other
    /// one a window a month away (so a renewed certificate is not renewed again at once).
    pub fn start(dir: &Path, pebble_directory: &str, pebble_ca_pem: &str, first: Window) -> AriProxy {
        make_tls_certificates(&dir.join("tls"), "localhost", "IP:127.0.0.1");
        let certs = CertificateDer::pem_file_iter(dir.join("tls/server.pem")).unwrap().map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("tls/server.key")).unwrap();
        let config =
            Arc::new(rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answered: Arc<Mutex<HashMap<String, Window>>> = Arc::default();
        let (thread_stop, thread_answered) = (stop.clone(), answered.clone());
        let (pebble_directory, pebble_ca) = (pebble_directory.to_owned(), pebble_ca_pem.to_owned());
        std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = serve(stream, &config, addr, &pebble_directory, &pebble_ca, &thread_answered, first);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem")).unwrap();
        AriProxy { addr, ca_pem, stop, answered }
    }

    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.addr)
    }

    /// The CA of this server's HTTPS certificate (trust it beside Pebble's).
    pub fn https_ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The windows handed out so far, by certificate identifier.
    pub fn answered(&self) -> HashMap<String, Window> {
        self.answered.lock().unwrap().clone()
    }
}

impl Drop for AriProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    config: &Arc<rustls::ServerConfig>,
    addr: SocketAddr,
    pebble_directory: &str,
    pebble_ca: &str,
    answered: &Mutex<HashMap<String, Window>>,
    first: Window,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let conn = rustls::ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut reader = BufReader::new(&mut tls);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, extra, body) = if path == "/dir" {
        let (_, text) = super::https_get(pebble_directory, pebble_ca)?;
        let mut directory: serde_json::Value = serde_json::from_str(&text)?;
        directory["renewalInfo"] = format!("https://{addr}/renewal-info").into();
        ("200 OK", String::new(), directory.to_string())
    } else if let Some(id) = path.strip_prefix("/renewal-info/") {
        let mut answered = answered.lock().unwrap();
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        let window = if answered.is_empty() || answered.get(id) == Some(&first) {
            first
        } else {
            (now + 30 * 86_400, now + 31 * 86_400)
        };
        answered.insert(id.to_owned(), window);
        let rfc3339 = |secs: u64| {
            time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let body = serde_json::json!({ "suggestedWindow": { "start": rfc3339(window.0), "end": rfc3339(window.1) } });
        ("200 OK", "Retry-After: 3600\r\n".to_owned(), body.to_string())
    } else {
        ("404 Not Found", String::new(), String::new())
    };
    write!(
        tls,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    )?;
    tls.conn.send_close_notify();
    tls.flush()
}
