//! HTTPS served by the API itself (rustls, ring provider). The certificate and key are read from
//! `api.tls.cert_path` / `api.tls.key_path` at start and again on SIGHUP; a reload that fails (a
//! half-written file, a key that does not match) keeps serving the previous pair and says why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

#[derive(Debug)]
pub struct ReloadingCertificate {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCertificate {
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Self>> {
        let current = RwLock::new(Arc::new(load_pair(cert_path, key_path)?));
        Ok(Arc::new(ReloadingCertificate { cert_path: cert_path.into(), key_path: key_path.into(), current }))
    }

    /// Reads the files again and swaps the pair in for new handshakes; the old pair stays on error.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(load_pair(&self.cert_path, &self.key_path)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder().with_no_client_auth().with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn load_pair(cert_path: &Path, key_path: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("api.tls.cert_path: cannot read {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("api.tls.cert_path: {} is not PEM certificates", cert_path.display()))?;
    if chain.is_empty() {
        bail!("api.tls.cert_path: {} holds no certificate", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("api.tls.key_path: cannot read a PEM private key from {}", key_path.display()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .with_context(|| format!("api.tls.key_path: unsupported key in {}", key_path.display()))?;
    let pair = CertifiedKey::new(chain, signing_key);
    pair.keys_match().context("api.tls: the key does not belong to the certificate")?;
    Ok(pair)
}
