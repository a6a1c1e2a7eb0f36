//! Certificates "issued elsewhere", for import and discovery tests: a private CA of the test's own
//! and leaves it signs with the validity the test asks for (in the past, expiring soon, …), and
//! the same as a PKCS#12 file written by the real `openssl pkcs12`; and a loopback TLS server
//! serving one of them, for discovery scans.
//! Invariant: everything here is made on the spot, for loopback only; nothing is read from or sent
//! anywhere else.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A private CA that signs leaves.
pub struct ElsewhereCa {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf the CA signed: its chain (leaf, then the CA) and its PKCS#8 key, both PEM.
pub struct ElsewhereCertificate {
    pub chain_pem: String,
    pub leaf_pem: String,
    pub key_pem: String,
}

impl ElsewhereCa {
    pub fn new(name: &str) -> ElsewhereCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        ElsewhereCa { pem, issuer: Issuer::new(params, key) }
    }

    /// A leaf for `names` (the first also its common name), valid from `age` ago for `lifetime`.
    pub fn leaf(&self, names: &[&str], age: Duration, lifetime: Duration) -> ElsewhereCertificate {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let from = time::OffsetDateTime::now_utc() - age;
        (params.not_before, params.not_after) = (from, from + lifetime);
        let leaf_pem = params.signed_by(&key, &self.issuer).unwrap().pem();
        ElsewhereCertificate { chain_pem: format!("{leaf_pem}{}", self.pem), leaf_pem, key_pem: key.serialize_pem() }
    }
}

impl ElsewhereCertificate {
    /// The certificate (with its key when `with_key`) as `openssl pkcs12 -export` writes it,
    /// protected by `password`.
    pub fn pkcs12(&self, dir: &Path, password: &str, with_key: bool) -> Vec<u8> {
        std::fs::create_dir_all(dir).unwrap();
        let (chain, key, out) = (dir.join("chain.pem"), dir.join("key.pem"), dir.join("out.p12"));
        std::fs::write(&chain, &self.chain_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        let mut command = Command::new("openssl");
        command.args(["pkcs12", "-export", "-in"]).arg(&chain).arg("-out").arg(&out);
        command.args(["-passout", &format!("pass:{password}")]);
        if with_key {
            command.arg("-inkey").arg(&key);
        } else {
            command.arg("-nokeys");
        }
        let status = command.status().expect("openssl is installed");
        assert!(status.success(), "openssl pkcs12 -export failed");
        std::fs::read(out).unwrap()
    }
}

/// A TLS server on a loopback address serving one certificate chain: what a discovery scan finds.
/// It counts the connections it accepted, so a test can prove a refused address was never touched.
pub struct ServedTls {
    addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ServedTls {
    /// Serves `chain_pem` (with its `key_pem`) on `ip`, on `port` (0: any free port).
    pub fn start(ip: &str, port: u16, chain_pem: &str, key_pem: &str) -> ServedTls {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes()).map(|c| c.unwrap()).collect();
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind((ip, port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, stopped) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        let config = config.clone();
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                            if let Ok(mut conn) = rustls::ServerConnection::new(config) {
                                while conn.is_handshaking() {
                                    if conn.complete_io(&mut stream).is_err() {
                                        return;
                                    }
                                }
                                conn.send_close_notify();
                                let _ = conn.complete_io(&mut stream);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ServedTls { addr, accepted, stop }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for ServedTls {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
