//! The HTTPS client the ACME client talks through (`crate::https`), noting the CA's `Retry-After`
//! on every answer (instant-acme reads it only inside its own polling helpers, which we do not use).

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
