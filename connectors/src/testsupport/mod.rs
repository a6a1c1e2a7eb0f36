//! Test support: real programs started as child processes on free loopback ports: rsyslogd for SIEM
//! forwarding, Pebble (ACME CA), BIND 9 and Knot DNS (authoritative DNS with RFC 2136) and PowerDNS
//! (authoritative DNS with an HTTP API) for issuance, moto for the Route 53 API, aiosmtpd for e-mail
//! notifications; stand-ins for vendor, DNS provider and chat service APIs that cannot run here. Used by tests and by `certautopilot bench issue` and `bench providers`;
//! nothing here runs in a production path. Ports are never picked by binding and releasing: see
//! `ports`.

mod acme_env;
mod api_faults;
mod ari;
mod bind;
mod dig;
mod dns_acmedns;
mod dns_azure;
mod dns_cloudflare;
mod dns_digitalocean;
mod dns_gcloud;
mod dns_hetzner;
mod dns_ovh;
mod dns_route53;
mod dns_standin;
mod elsewhere;
mod exec_hook;
mod faulty_ca;
mod knot;
mod moto;
mod notify_standins;
mod pdns;
mod pebble;
mod ports;
mod rsyslog;
mod smtp;
mod sshd;
mod standin;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use acme_env::{AcmeEnv, AcmeEnvOptions, CNAME_NAME, DELEGATED_ZONE, EAB_KID, ZONE};
pub use api_faults::Faults;
pub use ari::AriProxy;
pub use bind::{Bind, TestZone, TsigKey};
pub use dig::dig_txt;
pub use dns_acmedns::{ACMEDNS_KEPT_VALUES, AcmeDnsAccount, AcmeDnsStandIn};
pub use dns_azure::{AZURE_API_VERSION, AzureApi, AzurePrincipal};
pub use dns_cloudflare::cloudflare_standin;
pub use dns_digitalocean::digitalocean_standin;
pub use dns_gcloud::{GCLOUD_SCOPE, GcloudApi, GcloudZone, TestServiceAccount};
pub use dns_hetzner::hetzner_standin;
pub use dns_ovh::{OVH_CLOCK_SKEW_S, OvhApi, OvhKeys};
pub use dns_route53::{ROUTE53_XML, route53_change, route53_error, route53_no_record_sets, route53_zone_page};
pub use dns_standin::{DnsStandIn, Fault, StandInRecord, StandInZone};
pub use elsewhere::{ElsewhereCa, ElsewhereCertificate, ServedTls};
pub use exec_hook::nsupdate_hook;
pub use faulty_ca::{FaultyCa, FrontOptions};
pub use knot::Knot;
pub use moto::{MOTO_ACCESS_KEY_ID, MOTO_SECRET_ACCESS_KEY, Moto};
pub use notify_standins::{ChatAnswer, ChatDelivery, ChatFault, ChatService, ChatStandIn};
pub use pdns::PdnsServer;
pub use pebble::{Pebble, PebbleOptions};
pub use ports::{NotListening, PortReservation, bound_udp_ports, listening_tcp_ports, wait_until_bound};
pub use rsyslog::Rsyslog;
pub use smtp::{ParsedMail, ReceivedAuth, ReceivedMail, SMTP_PYTHON_VAR, SmtpServer, SmtpServerOptions};
pub use sshd::{Sshd, current_user};
pub use standin::{StandIn, StandInAnswer, StandInRequest};

/// A real RFC 2136 server under test (BIND, Knot), so one test body runs against each.
pub trait Rfc2136Server {
    fn addr(&self) -> std::net::SocketAddr;
    /// The TSIG key it accepts for updates.
    fn key(&self) -> &TsigKey;
    /// TXT values at `name` as it answers them (through `dig`, independent of our client).
    fn txt(&self, name: &str) -> Vec<String>;
    /// Whether it answers a name that is a CNAME into another of its zones with the target's
    /// records too (the test BIND recurses; Knot is authoritative only).
    fn chases_cnames(&self) -> bool;
    fn stop(&mut self);
}

/// A child process that is killed and reaped when stopped or dropped, so no test leaves one behind.
#[derive(Default)]
pub struct ChildGuard(Option<std::process::Child>);

impl ChildGuard {
    pub fn new(child: std::process::Child) -> Self {
        ChildGuard(Some(child))
    }

    pub fn is_running(&self) -> bool {
        self.0.is_some()
    }

    /// The exit status, if the process has already ended on its own.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.0.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.0.as_ref().map(std::process::Child::id)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `child` (a server told to listen on port 0) listens on exactly one loopback TCP port,
/// and returns it: the port the kernel gave it, read from its own sockets.
pub fn wait_for_own_port(child: &mut ChildGuard, timeout: Duration) -> Result<u16, NotListening> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.exited() {
            return Err(NotListening::Exited(status.to_string()));
        }
        let pid = child.pid().ok_or_else(|| NotListening::Exited("stopped".into()))?;
        if let [port] = listening_tcp_ports(pid)[..] {
            return Ok(port);
        }
        if Instant::now() >= deadline {
            return Err(NotListening::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A throw-away CA (`ca.pem`, `ca.key`) and a server certificate signed by it (`server.pem`,
/// `server.key`) with the given subject alternative names, made with openssl in `dir`.
pub fn make_tls_certificates(dir: &Path, cn: &str, san: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let status =
            Command::new("openssl").args(args).current_dir(dir).stderr(Stdio::null()).stdout(Stdio::null()).status();
        assert!(status.expect("openssl is installed").success(), "openssl {args:?}");
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend(["-days", "2", "-subj", "/CN=certautopilot-test-ca", "-keyout", "ca.key", "-out", "ca.pem"]);
    ca.extend(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
    run(&ca);
    let subject = format!("/CN={cn}");
    let mut req = vec!["req"];
    req.extend(ec);
    req.extend(["-subj", &subject, "-keyout", "server.key", "-out", "server.csr"]);
    run(&req);
    std::fs::write(
        dir.join("ext.cnf"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "server.pem",
        "-extfile",
        "ext.cnf",
    ]);
}

/// Verifies a PEM chain (leaf first) for `name` against one trusted root, as a TLS client would.
pub fn verify_chain(chain_pem: &str, root_pem: &str, name: &str) -> Result<(), String> {
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    for root in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(root.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        std::sync::Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let chain: Vec<CertificateDer> =
        CertificateDer::pem_slice_iter(chain_pem.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let (leaf, intermediates) = chain.split_first().ok_or("empty chain")?;
    let server = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, intermediates, &server, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One HTTPS GET trusting `ca_pem` only; returns the status line and the body (`Connection: close`).
pub fn https_get(url: &str, ca_pem: &str) -> std::io::Result<(String, String)> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    let rest = url.strip_prefix("https://").ok_or_else(|| std::io::Error::other("not an https URL"))?;
    let (host_port, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(std::io::Error::other)?).map_err(std::io::Error::other)?;
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let host = host_port.rsplit_once(':').map(|(h, _)| h).unwrap_or(host_port).to_owned();
    let name = ServerName::try_from(host).map_err(std::io::Error::other)?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(std::io::Error::other)?;
    let sock = TcpStream::connect(host_port)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    // Servers close without close_notify; what was read is complete (Connection: close).
    let _ = tls.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((head.lines().next().unwrap_or_default().to_owned(), body.to_owned()))
}

/// A deployable with a given chain and a recognizable fake key, for target tests.
pub fn sample_deployable(chain_pem: &str) -> crate::targets::Deployable {
    crate::targets::Deployable {
        certificate_id: "c1".into(),
        common_name: "www.example.test".into(),
        sans: vec!["www.example.test".into()],
        serial: "01".into(),
        not_after: certautopilot_core::Timestamp::now(),
        fingerprint_sha256: "00".into(),
        chain_pem: chain_pem.into(),
        key_pem: Some(certautopilot_core::crypto::SecretBytes::from_text(
            "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n",
        )),
    }
}
