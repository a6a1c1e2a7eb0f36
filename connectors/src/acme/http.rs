//! The HTTPS client the ACME client talks through (`crate::https`), noting the CA's `Retry-After`
//! on every answer (instant-acme reads it only inside its own polling helpers, which we do not use),
//! and turning a 408, 429 or 5xx that carries no problem document (a proxy's error page in front of
//! the CA) into `NoAcmeAnswer`: instant-acme would only fail to parse it, which read as a permanent
//! "not an ACME document" although trying again later is what helps.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

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

/// An answer with a status worth retrying (408, 429, 5xx) and no ACME problem document; its body
/// went to the debug log only.
#[derive(Debug, thiserror::Error)]
#[error("http {status} from the CA")]
pub struct NoAcmeAnswer {
    pub status: u16,
    pub retry_after: Option<SystemTime>,
}

fn retry_worthy(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Whether `body` is a problem document (RFC 7807: a JSON object; instant-acme reads it as one).
fn is_problem_document(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body).is_ok()
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
            let mut response = response.await?;
            let at = response
                .parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            retry_after.set(at);
            let status = response.parts.status.as_u16();
            if retry_worthy(status) {
                let body = response.body.into_bytes().await.map_err(instant_acme::Error::Other)?;
                if !is_problem_document(&body) {
                    crate::failure::log_remote_detail("acme answer", &String::from_utf8_lossy(&body));
                    return Err(instant_acme::Error::Other(Box::new(NoAcmeAnswer { status, retry_after: at })));
                }
                response.body = Box::new(body);
            }
            Ok(response)
        })
    }
}

/// The client for one account: every address the CA's URLs resolve to is checked by `egress`
/// before a socket opens (the directory names further URLs, so a CA cannot point us elsewhere).
pub fn http_client(
    extra_roots_pem: Option<&str>,
    retry_after: RetryAfter,
    egress: &crate::egress::EgressPolicy,
) -> Result<Box<dyn HttpClient>, AcmeError> {
    let connector = crate::https::connector(extra_roots_pem, true, egress).map_err(AcmeError::Config)?;
    let client: hyper_util::client::legacy::Client<_, BodyWrapper<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    Ok(Box::new(Recording { inner: Box::new(client), retry_after }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proxy's error page is told apart from a CA's problem document, and only retry-worthy
    /// statuses are looked at.
    #[test]
    fn error_pages_are_not_problem_documents() {
        assert!(is_problem_document(br#"{"type": "urn:ietf:params:acme:error:serverInternal"}"#));
        assert!(!is_problem_document(b"<html>502 Bad Gateway</html>"));
        assert!(!is_problem_document(b"[]"));
        assert!(retry_worthy(503) && retry_worthy(429) && retry_worthy(408));
        assert!(!retry_worthy(400) && !retry_worthy(404) && !retry_worthy(200));
    }

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
