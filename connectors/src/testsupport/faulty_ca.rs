//! A front for Pebble that adds what Debian's Pebble lacks and misbehaves on demand: an HTTPS server
//! that hands every request on to Pebble and its answer back, except that the directory it serves
//! offers ACME profiles (`meta.profiles`) and it records the profile each new order asks for, and
//! the signed requests (POSTs) it is told to fail: every `reset_every`-th has its connection reset
//! before it reaches Pebble, every `unavailable_every`-th is answered 503 with `Retry-After` and an
//! HTML page (a proxy's error page, no problem document); with `rate_limit_orders` every new order
//! is refused as rate-limited. Pebble builds its URLs from the
//! request's Host, so every URL it hands out names this front and every later request comes
//! through it too.
//! Invariant: a failed request never reaches Pebble, so trying it again is always safe.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::make_tls_certificates;

/// Which signed requests fail (1-based counts over POSTs; 0: never), and the profiles the
/// directory offers (name, description; none: the directory is Pebble's as it is).
#[derive(Debug, Clone, Default)]
pub struct FrontOptions {
    pub reset_every: usize,
    pub unavailable_every: usize,
    /// The `Retry-After` (seconds) sent with a 503.
    pub retry_after_secs: u64,
    pub profiles: Vec<(String, String)>,
    /// Every new order is refused as Let's Encrypt refuses one over its limits: 429 with a
    /// `rateLimited` problem and a `Retry-After` of an hour.
    pub rate_limit_orders: bool,
}

#[derive(Default)]
struct Counts {
    posts: AtomicUsize,
    resets: AtomicUsize,
    unavailable: AtomicUsize,
    forwarded: AtomicUsize,
    rate_limited: AtomicUsize,
    /// The `profile` of each new order, in order (`None`: it named none).
    ordered_profiles: Mutex<Vec<Option<String>>>,
}

pub struct FaultyCa {
    addr: SocketAddr,
    ca_pem: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

/// Where requests go on to: Pebble's address, and the roots its HTTPS certificate chains to.
struct Upstream {
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

impl FaultyCa {
    /// Serves on a free loopback port in front of the Pebble at `pebble_directory` (trusted with
    /// `pebble_ca_pem`).
    pub fn start(dir: &Path, pebble_directory: &str, pebble_ca_pem: &str, options: FrontOptions) -> FaultyCa {
        make_tls_certificates(&dir.join("tls"), "localhost", "IP:127.0.0.1");
        let certs = CertificateDer::pem_file_iter(dir.join("tls/server.pem")).unwrap().map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_file(dir.join("tls/server.key")).unwrap();
        let server =
            Arc::new(rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pebble_ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let host_port = pebble_directory.trim_start_matches("https://").split('/').next().unwrap_or_default();
        let upstream = Arc::new(Upstream {
            addr: host_port.parse().expect("Pebble's directory is at an address"),
            tls: Arc::new(rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth()),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, counts) = (Arc::new(AtomicBool::new(false)), Arc::new(Counts::default()));
        let options = Arc::new(options);
        let (thread_stop, thread_counts) = (stop.clone(), counts.clone());
        std::thread::spawn(move || {
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (server, upstream, counts) = (server.clone(), upstream.clone(), thread_counts.clone());
                        let options = options.clone();
                        std::thread::spawn(move || {
                            let _ = serve(stream, &server, &upstream, &counts, &options);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem")).unwrap();
        FaultyCa { addr, ca_pem, stop, counts }
    }

    pub fn directory_url(&self) -> String {
        format!("https://{}/dir", self.addr)
    }

    /// The CA of this front's HTTPS certificate: what an account talking through it must trust.
    pub fn https_ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The profile each new order asked for so far.
    pub fn ordered_profiles(&self) -> Vec<Option<String>> {
        self.counts.ordered_profiles.lock().unwrap().clone()
    }

    /// New orders refused as rate-limited so far.
    pub fn rate_limited(&self) -> usize {
        self.counts.rate_limited.load(Ordering::Relaxed)
    }

    /// (connections reset, 503s answered, requests passed on to Pebble) so far.
    pub fn injected(&self) -> (usize, usize, usize) {
        let c = &self.counts;
        (c.resets.load(Ordering::Relaxed), c.unavailable.load(Ordering::Relaxed), c.forwarded.load(Ordering::Relaxed))
    }
}

impl Drop for FaultyCa {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    stream: TcpStream,
    server: &Arc<rustls::ServerConfig>,
    upstream: &Upstream,
    counts: &Counts,
    faults: &FrontOptions,
) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let fd = stream.as_raw_fd();
    let conn = rustls::ServerConnection::new(server.clone()).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let (head, body) = read_request(&mut tls)?;
    if head.starts_with("POST ") {
        let n = counts.posts.fetch_add(1, Ordering::Relaxed) + 1;
        if faults.reset_every > 0 && n.is_multiple_of(faults.reset_every) {
            counts.resets.fetch_add(1, Ordering::Relaxed);
            reset(fd);
            return Ok(());
        }
        if faults.unavailable_every > 0 && n.is_multiple_of(faults.unavailable_every) {
            counts.unavailable.fetch_add(1, Ordering::Relaxed);
            let page = "<html><body>503 Service Temporarily Unavailable</body></html>";
            write!(
                tls,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\nRetry-After: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                faults.retry_after_secs,
                page.len()
            )?;
            tls.conn.send_close_notify();
            return tls.flush();
        }
    }
    let path = head.split_whitespace().nth(1).unwrap_or_default();
    if path == "/order-plz" && faults.rate_limit_orders {
        counts.rate_limited.fetch_add(1, Ordering::Relaxed);
        let problem =
            r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many new orders recently","status":429}"#;
        write!(
            tls,
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/problem+json\r\nRetry-After: 3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{problem}",
            problem.len()
        )?;
        tls.conn.send_close_notify();
        return tls.flush();
    }
    counts.forwarded.fetch_add(1, Ordering::Relaxed);
    if path == "/order-plz" {
        counts.ordered_profiles.lock().unwrap().push(jws_payload(&body)["profile"].as_str().map(str::to_owned));
    }
    let mut answer = forward(upstream, &head, &body)?;
    if path == "/dir" && !faults.profiles.is_empty() {
        answer = with_profiles(&answer, &faults.profiles);
    }
    tls.write_all(&answer)?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// The request's head (request line and headers, `Connection` replaced by `close`) and its body.
fn read_request(stream: &mut impl Read) -> std::io::Result<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    reader.read_line(&mut head)?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            head.push_str(&header);
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((head, body))
}

/// Sends the request to Pebble as it came (its Host still naming this front) and returns Pebble's
/// whole answer.
fn forward(upstream: &Upstream, head: &str, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let name = ServerName::from(upstream.addr.ip());
    let conn = rustls::ClientConnection::new(upstream.tls.clone(), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(upstream.addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(head.as_bytes())?;
    tls.write_all(body)?;
    let mut answer = Vec::new();
    // Pebble closes without close_notify; what was read is complete (Connection: close).
    let _ = tls.read_to_end(&mut answer);
    Ok(answer)
}

/// The JSON payload of a JWS request body (`{"protected", "payload", "signature"}`).
fn jws_payload(body: &[u8]) -> serde_json::Value {
    use base64::Engine;
    let jws: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let payload = jws["payload"].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

/// Pebble's directory answer with `meta.profiles` added, its length set again.
fn with_profiles(answer: &[u8], profiles: &[(String, String)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return answer.to_vec() };
    let mut directory: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let offered: serde_json::Map<String, serde_json::Value> =
        profiles.iter().map(|(name, description)| (name.clone(), description.clone().into())).collect();
    directory["meta"]["profiles"] = offered.into();
    let body = directory.to_string();
    let head: Vec<&str> = head.lines().filter(|l| !l.to_ascii_lowercase().starts_with("content-length:")).collect();
    format!("{}\r\nContent-Length: {}\r\n\r\n{body}", head.join("\r\n"), body.len()).into_bytes()
}

/// Closes the connection with a TCP reset (SO_LINGER 0), as a crashed proxy or a middlebox does.
fn reset(fd: std::os::fd::RawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt on a socket this thread owns, with a correctly sized `linger`.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
