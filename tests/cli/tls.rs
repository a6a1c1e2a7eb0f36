//! HTTPS served by the API itself: the configured certificate is presented, SIGHUP swaps in the
//! files' new contents without a restart, a broken file on reload keeps the old certificate, and
//! session cookies are marked Secure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::process::Server;

pub(crate) fn make_certificate(dir: &Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={name}"), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success());
    (cert, key)
}

fn der(cert: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(cert).unwrap()
}

/// One request over TLS trusting `roots`; returns the status line, the full response and the
/// certificate the server presented.
fn https(addr: SocketAddr, roots: &[CertificateDer<'static>], request: &str) -> (String, CertificateDer<'static>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(store).with_no_client_auth();
    let conn = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("127.0.0.1").unwrap()).unwrap();
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    // Servers may close without close_notify; what was read is what we want.
    let _ = tls.read_to_end(&mut response);
    let presented = tls.conn.peer_certificates().expect("server presented a certificate")[0].clone().into_owned();
    (String::from_utf8_lossy(&response).into_owned(), presented)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn https_serves_the_configured_certificate_and_reloads_it_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = make_certificate(dir.path(), "first");
    let (cert_b, key_b) = make_certificate(dir.path(), "second");
    let (live_cert, live_key) = (dir.path().join("live.crt"), dir.path().join("live.key"));
    std::fs::copy(&cert_a, &live_cert).unwrap();
    std::fs::copy(&key_a, &live_key).unwrap();
    let roots = [der(&cert_a), der(&cert_b)];
    let mut server = Server::start(
        dir.path(),
        &[],
        &[
            ("CERTAUTOPILOT_API__TLS__CERT_PATH", live_cert.to_str().unwrap()),
            ("CERTAUTOPILOT_API__TLS__KEY_PATH", live_key.to_str().unwrap()),
        ],
    );
    let addr = server.addr;
    let (response, presented) = https(addr, &roots, &get("/healthz"));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(presented, der(&cert_a));
    // Served over HTTPS, answers tell browsers to keep to HTTPS (issue M2.1 item 8).
    let head = response.to_ascii_lowercase();
    assert!(head.contains("strict-transport-security: max-age=31536000; includesubdomains"), "{response}");

    // Replace the files (as an ACME client or an operator would), then SIGHUP.
    std::fs::copy(&cert_b, dir.path().join("staged.crt")).unwrap();
    std::fs::copy(&key_b, dir.path().join("staged.key")).unwrap();
    std::fs::rename(dir.path().join("staged.key"), &live_key).unwrap();
    std::fs::rename(dir.path().join("staged.crt"), &live_cert).unwrap();
    server.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(10);
    while https(addr, &roots, &get("/healthz")).1 != der(&cert_b) {
        assert!(Instant::now() < deadline, "the new certificate was not served within 10 s of SIGHUP");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A broken file on reload: the previous certificate stays.
    std::fs::write(&live_cert, "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log(Duration::from_secs(10), "tls certificate reload failed; still serving the previous one");
    assert_eq!(https(addr, &roots, &get("/healthz")).1, der(&cert_b));

    // Over HTTPS the session cookie is Secure.
    let body = r#"{"org_name":"Tls","email":"owner@tls.test","password":"correct horse battery staple"}"#;
    assert!(https(addr, &roots, &post("/api/v1/setup", body)).0.starts_with("HTTP/1.1 201"));
    let login = https(
        addr,
        &roots,
        &post("/api/v1/auth/login", r#"{"email":"owner@tls.test","password":"correct horse battery staple"}"#),
    )
    .0;
    let cookie = login.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a session cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"), "{cookie}");
}

/// A certificate and a key that do not belong together are refused at start, naming the setting.
#[test]
fn mismatched_certificate_and_key_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, _) = make_certificate(dir.path(), "first");
    let (_, key_b) = make_certificate(dir.path(), "second");
    let output = crate::process::command(dir.path())
        .args(["serve"])
        .env("CERTAUTOPILOT_API__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_METRICS__LISTEN", "127.0.0.1:0")
        .env("CERTAUTOPILOT_API__TLS__CERT_PATH", &cert_a)
        .env("CERTAUTOPILOT_API__TLS__KEY_PATH", &key_b)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("api.tls: the key does not belong to the certificate"), "{stderr}");
}
