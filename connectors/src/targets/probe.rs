//! Reading what an endpoint actually serves: the leaf certificate a TLS server presents, by its
//! SHA-256 fingerprint. Trust is not the question here (the scan compares fingerprints), so any
//! certificate is accepted, but the handshake's signatures are still checked. Invariant: the
//! address is checked by the egress policy before the socket opens.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::DeployError;
use crate::egress::EgressPolicy;

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The SHA-256 fingerprint (lower-case hex) of the leaf `endpoint` (`host:port`) presents, asking
/// for `server_name` (default: the host). See `presented_chain`.
pub async fn presented_fingerprint(
    endpoint: &str,
    server_name: Option<&str>,
    timeout: Duration,
    egress: &EgressPolicy,
) -> Result<String, DeployError> {
    let chain = presented_chain(endpoint, server_name, timeout, egress).await?;
    Ok(Sha256::digest(chain[0].as_ref()).iter().map(|b| format!("{b:02x}")).collect())
}

/// The certificates `endpoint` (`host:port`) presents, leaf first, asking for `server_name`
/// (default: the host; none is sent for an address). The host is resolved and every address
/// checked against `egress` before a socket opens; failures carry only a classified reason (a scan
/// must not tell a viewer what else listens on an internal port).
pub async fn presented_chain(
    endpoint: &str,
    server_name: Option<&str>,
    timeout: Duration,
    egress: &EgressPolicy,
) -> Result<Vec<CertificateDer<'static>>, DeployError> {
    let what = format!("tls endpoint {}", endpoint.escape_debug());
    let (host, port) = endpoint
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.trim_start_matches('[').trim_end_matches(']'), p.parse::<u16>().ok()?)))
        .ok_or_else(|| DeployError::Permanent(format!("{what}: not host:port")))?;
    let name = ServerName::try_from(server_name.unwrap_or(host).to_owned())
        .map_err(|_| DeployError::Permanent(format!("{what}: the server name is not valid")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DeployError::Permanent(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let probe = async {
        let tcp = egress.connect_tcp(host, port).await.map_err(std::io::Error::other)?;
        connector.connect(name, tcp).await
    };
    let tls = match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(DeployError::unreachable(&what, &e)),
        Err(_) => return Err(DeployError::Transient(format!("{what}: timeout"))),
    };
    match tls.get_ref().1.peer_certificates() {
        Some(chain) if !chain.is_empty() => Ok(chain.iter().map(|c| c.clone().into_owned()).collect()),
        _ => Err(DeployError::Permanent(format!("{what} presented no certificate"))),
    }
}
