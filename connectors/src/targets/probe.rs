//! Reading what an endpoint actually serves: the leaf certificate a TLS server presents, by its
//! SHA-256 fingerprint. Trust is not the question here (the scan compares fingerprints), so any
//! certificate is accepted, but the handshake's signatures are still checked.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::DeployError;

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
/// for `server_name` (default: the host).
pub async fn presented_fingerprint(
    endpoint: &str,
    server_name: Option<&str>,
    timeout: Duration,
) -> Result<String, DeployError> {
    let host =
        endpoint.rsplit_once(':').map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']')).unwrap_or(endpoint);
    let name = ServerName::try_from(server_name.unwrap_or(host).to_owned())
        .map_err(|e| DeployError::Permanent(format!("tls endpoint {endpoint}: server name: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| DeployError::Permanent(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let probe = async {
        let tcp = tokio::net::TcpStream::connect(endpoint).await?;
        connector.connect(name, tcp).await
    };
    let tls = match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Err(DeployError::Transient(format!("tls endpoint {endpoint}: {e}"))),
        Err(_) => return Err(DeployError::Transient(format!("tls endpoint {endpoint}: no answer in time"))),
    };
    let leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| DeployError::Permanent(format!("tls endpoint {endpoint} presented no certificate")))?;
    Ok(Sha256::digest(leaf.as_ref()).iter().map(|b| format!("{b:02x}")).collect())
}
