//! The one way connectors open HTTPS: the platform's roots plus any extra PEM roots a record names
//! (private CAs, test CAs), ring as the provider, TCP_NODELAY (hyper's default is off, which costs a
//! delayed ACK, about 40 ms, on every small request), and every address checked by the egress
//! policy before a socket opens (`crate::egress`).

use std::sync::Arc;
use std::time::Duration;

use hyper_rustls::HttpsConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::egress::{EgressHttpConnector, EgressPolicy};

/// A connector trusting the platform's roots and `extra_roots_pem`, reaching only what `egress`
/// allows. With `https_only`, plain http URLs are refused.
pub fn connector(
    extra_roots_pem: Option<&str>,
    https_only: bool,
    egress: &EgressPolicy,
) -> Result<HttpsConnector<EgressHttpConnector>, String> {
    let tls = tls_client_config(extra_roots_pem)?;
    let mut http = egress.http_connector();
    http.settings().set_nodelay(true);
    http.settings().enforce_http(false);
    http.settings().set_connect_timeout(Some(Duration::from_secs(10)));
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let builder = if https_only { builder.https_only() } else { builder.https_or_http() };
    Ok(builder.enable_http1().enable_http2().wrap_connector(http))
}

/// The TLS client settings every connector that verifies its peer shares (HTTPS here, SMTP's
/// STARTTLS and implicit TLS in `notify::smtp`): the platform verifier over the platform's roots
/// plus `extra_roots_pem`, ring as the provider, rustls's safe protocol versions.
pub(crate) fn tls_client_config(extra_roots_pem: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let mut extra = Vec::new();
    if let Some(pem) = extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            extra.push(cert.map_err(|e| format!("trusted roots: {e}"))?);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        .map_err(|e| format!("trusted roots: {e}"))?;
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}
