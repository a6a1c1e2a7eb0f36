//! The HTTPS client the ACME client talks through: platform roots plus an account's extra roots,
//! TCP_NODELAY, and a note of the CA's `Retry-After` on every answer (instant-acme reads it only
//! inside its own polling helpers, which we do not use).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::AcmeError;

/// The latest `Retry-After` one account's CA sent, shared between the client and the handle.
#[derive(Clone, Default)]
pub struct RetryAfter(Arc<Mutex<Option<SystemTime>>>);

impl RetryAfter {
    pub fn get(&self) -> Option<SystemTime> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, at: Option<SystemTime>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }
}

/// `Retry-After` as RFC 9110 §10.2.3 allows it: delay-seconds or an HTTP-date. Nonsense is ignored.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        // A CA asking for more than a day is treated as a day; the job's backoff takes it from there.
        return Some(now + Duration::from_secs(seconds.min(86_400)));
    }
    httpdate::parse_http_date(value).ok()
}

struct Recording {
    inner: Box<dyn HttpClient>,
    retry_after: RetryAfter,
}

impl HttpClient for Recording {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let response = self.inner.request(req);
        let retry_after = self.retry_after.clone();
        Box::pin(async move {
            let response = response.await?;
            let at = response
                .parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            retry_after.set(at);
            Ok(response)
        })
    }
}

pub fn http_client(extra_roots_pem: Option<&str>, retry_after: RetryAfter) -> Result<Box<dyn HttpClient>, AcmeError> {
    let mut extra = Vec::new();
    if let Some(pem) = extra_roots_pem {
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            extra.push(cert.map_err(|e| AcmeError::Config(format!("ca_bundle_pem: {e}")))?);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
        .map_err(|e| AcmeError::Config(format!("trusted roots: {e}")))?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AcmeError::Config(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // Without TCP_NODELAY (hyper's default is off) every JWS POST waits out a delayed ACK: about
    // 40 ms per request, most of an issuance's time.
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.set_nodelay(true);
    http.enforce_http(false);
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    let client: hyper_util::client::legacy::Client<_, BodyWrapper<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    Ok(Box::new(Recording { inner: Box::new(client), retry_after }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds and HTTP-dates both parse; a huge delay is capped at a day; garbage is ignored.
    #[test]
    fn retry_after_in_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(now + Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 5 ", now), Some(now + Duration::from_secs(5)));
        assert_eq!(parse_retry_after("999999999", now), Some(now + Duration::from_secs(86_400)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }
}
