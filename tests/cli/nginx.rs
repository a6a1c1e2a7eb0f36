//! The shipped nginx site (`deploy/nginx/certautopilot.conf`) run by Debian's real nginx in front of
//! the real service, on loopback ports: HTTP is redirected to HTTPS, HTTPS answers with HSTS, a
//! login goes through, the address nginx forwards is the one the service throttles and audits (a
//! client's own `X-Forwarded-For` cannot replace it), the console's live view is proxied, and a
//! body over the service's limit is refused by nginx before it reaches the service.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use certautopilot_connectors::testsupport::{ChildGuard, ElsewhereCa, PortReservation, wait_until_bound};
use serde_json::{Value, json};

use crate::issuance::start;
use crate::process::ApiClient;

const SITE: &str = include_str!("../../deploy/nginx/certautopilot.conf");
const NGINX: &str = "/usr/sbin/nginx";

pub(crate) struct Nginx {
    _child: ChildGuard,
    http: u16,
    https: u16,
    ca: PathBuf,
}

/// The shipped site with this test's ports, upstream and certificate: each replaced line must be
/// there, so what runs is the file as shipped.
fn site(shipped: &str, upstream: &str, http: u16, https: u16, cert: &Path, key: &Path) -> String {
    let mut text = shipped.to_owned();
    for (from, to) in [
        ("server 127.0.0.1:8080;", format!("server {upstream};")),
        ("    listen 80;\n", format!("    listen 127.0.0.1:{http};\n")),
        ("    listen [::]:80;\n", String::new()),
        ("    listen 443 ssl http2;\n", format!("    listen 127.0.0.1:{https} ssl http2;\n")),
        ("    listen [::]:443 ssl http2;\n", String::new()),
        ("/etc/certautopilot/tls/fullchain.pem", cert.display().to_string()),
        ("/etc/certautopilot/tls/privkey.pem", key.display().to_string()),
    ] {
        assert!(text.contains(from), "the shipped site has no {from:?}");
        text = text.replace(from, &to);
    }
    text
}

impl Nginx {
    /// The shipped site with a certificate for 127.0.0.1 from a test CA.
    fn start(dir: &Path, upstream: &str) -> Nginx {
        std::fs::create_dir_all(dir).unwrap();
        let ca = ElsewhereCa::new("nginx test CA");
        let leaf = ca.leaf(&["127.0.0.1"], Duration::from_secs(60), Duration::from_secs(86_400));
        let (cert, key, ca_file) = (dir.join("fullchain.pem"), dir.join("privkey.pem"), dir.join("ca.pem"));
        std::fs::write(&cert, &leaf.chain_pem).unwrap();
        std::fs::write(&key, &leaf.key_pem).unwrap();
        std::fs::write(&ca_file, &leaf.chain_pem[leaf.leaf_pem.len()..]).unwrap();
        Nginx::start_site(dir, SITE, upstream, &cert, &key, &ca_file)
    }

    /// `shipped` (a site as deploy/ or the installer wrote it) with this test's ports and upstream,
    /// serving `cert` and `key`; curl trusts `ca`.
    pub(crate) fn start_site(dir: &Path, shipped: &str, upstream: &str, cert: &Path, key: &Path, ca: &Path) -> Nginx {
        assert!(Path::new(NGINX).is_file(), "{NGINX} is missing: scripts/test installs Debian's nginx");
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let ca_file = ca.to_path_buf();
        let (http, https) = (PortReservation::tcp(), PortReservation::tcp());
        std::fs::write(dir.join("site.conf"), site(shipped, upstream, http.port(), https.port(), cert, key)).unwrap();
        let d = dir.display();
        let main = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
             fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n  scgi_temp_path {d}/tmp/scgi;\n\
             include {d}/site.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let check = Command::new(NGINX)
            .arg("-t")
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .output()
            .unwrap();
        assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = ChildGuard::new(child);
        let (h, s) = (http.port(), https.port());
        wait_until_bound(&mut child, &[h, s], &[], Duration::from_secs(20)).unwrap_or_else(|e| {
            panic!(
                "nginx did not listen: {e:?}: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            )
        });
        drop((http, https));
        Nginx { _child: child, http: h, https: s, ca: ca_file }
    }

    /// curl against this nginx: (status, headers, body).
    pub(crate) fn curl(&self, args: &[&str]) -> (u16, String, String) {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "--cacert"])
            .arg(&self.ca)
            .args(["-D", "-", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl (scripts/test installs it)");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (rest, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        let (headers, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        (code.trim().parse().unwrap_or(0), headers.to_owned(), body.to_owned())
    }

    /// curl to `https://{name}:{port}{path}` with `name` resolved to 127.0.0.1: the name is sent
    /// in the handshake and checked against the certificate, as a browser does.
    pub(crate) fn curl_named(&self, name: &str, path: &str) -> (u16, String, String) {
        let resolve = format!("{name}:{}:127.0.0.1", self.https);
        self.curl(&["--resolve", &resolve, &format!("https://{name}:{}{path}", self.https)])
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.https)
    }
}

#[test]
fn the_shipped_nginx_site_fronts_the_service() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("service")).unwrap();
    let server = start(&dir.path().join("service"), &[]);
    let c = ApiClient::setup_and_login(server.addr);
    let nginx = Nginx::start(&dir.path().join("nginx"), &server.addr.to_string());

    // --- plain HTTP is sent to HTTPS; HTTPS answers with HSTS.
    let (code, headers, _) = nginx.curl(&[&format!("http://127.0.0.1:{}/readyz", nginx.http)]);
    assert_eq!(code, 301, "{headers}");
    assert!(headers.to_ascii_lowercase().contains("location: https://127.0.0.1"), "{headers}");
    let (code, headers, body) = nginx.curl(&[&nginx.url("/readyz")]);
    assert_eq!(code, 200, "{headers}{body}");
    assert!(headers.to_ascii_lowercase().contains("strict-transport-security: max-age=63072000"), "{headers}");

    // --- a login through nginx.
    let login = json!({ "email": "owner@acme.test", "password": "correct horse battery staple" }).to_string();
    let post = |body: &str, extra: &[&str]| {
        let mut args = vec!["-H", "content-type: application/json", "--data-binary", body];
        args.extend_from_slice(extra);
        let url = nginx.url("/api/v1/auth/login");
        args.push(&url);
        nginx.curl(&args)
    };
    let (code, _, body) = post(&login, &[]);
    assert_eq!(code, 200, "{body}");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["token"].is_string(), "{body}");

    // --- a failed login from 127.0.0.2, claiming another address: audited (and throttled) as
    //     127.0.0.2, the address nginx saw.
    let wrong = json!({ "email": "owner@acme.test", "password": "not the password at all" }).to_string();
    let (code, _, body) = post(&wrong, &["--interface", "127.0.0.2", "-H", "X-Forwarded-For: 203.0.113.9"]);
    assert_eq!(code, 401, "{body}");
    let events =
        c.wait_for("/api/v1/audit/events?action=login.failed", Duration::from_secs(10), "the failed login", |e| {
            e["items"].as_array().is_some_and(|items| !items.is_empty())
        });
    let clients: Vec<&str> =
        events["items"].as_array().unwrap().iter().filter_map(|e| e["details"]["client"].as_str()).collect();
    assert_eq!(clients, vec!["127.0.0.2"], "{events}");

    // --- the console's live view goes through (an unknown certificate: the service's own 404).
    let token = c.token.clone().unwrap();
    let auth = format!("authorization: Bearer {token}");
    let live = nginx.url("/api/v1/certificates/0199aaaa-0000-7000-8000-000000000000/live");
    let (code, headers, body) = nginx.curl(&["-H", &auth, &live]);
    assert_eq!(code, 404, "{headers}{body}");
    assert!(headers.to_ascii_lowercase().contains("content-type: application/problem+json"), "proxied: {headers}");

    // --- a body over the limit stops at nginx.
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b'x'; 2 * 1024 * 1024]).unwrap();
    let body_arg = format!("@{}", big.display());
    let (code, headers, _) = post(&body_arg, &[]);
    assert_eq!(code, 413, "{headers}");
    assert!(headers.to_ascii_lowercase().contains("server: nginx"), "refused by nginx itself: {headers}");
}
