//! One request to a DNS provider's HTTP API, classified the way every provider needs: no answer,
//! 5xx and 408 are transient; 429 is retried after the `Retry-After` the API asked for (bounded),
//! then reported as rate limiting; 401 and 403 are "the credential is refused"; other 4xx are
//! refusals. 404 comes back to the caller (zone lookups read it).
//! Invariant: the answer's body never enters an error whole; only the provider's own short error
//! message (picked by the provider's `message` function, cut to `MESSAGE_LIMIT` characters,
//! escaped, and with everything the request sent withheld) does. The rest goes to the debug log.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::DnsError;
use crate::egress::EgressPolicy;
use crate::failure::{NetFailure, bounded_escaped, log_remote_detail};

/// The longest provider message an error carries.
pub const MESSAGE_LIMIT: usize = 160;
/// How many times a rate-limited request is sent again before the job is left to retry later.
const RATE_LIMIT_RETRIES: u32 = 3;
/// The longest `Retry-After` waited for inside one request; longer asks fail as rate limited.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How a provider client reaches its API.
#[derive(Debug, Clone)]
pub struct Reach {
    pub timeout: Duration,
    pub egress: EgressPolicy,
}

/// What a request carries.
pub enum Body<'a> {
    None,
    Json(&'a Value),
    /// Raw bytes with their content type (Route 53's XML, form posts).
    Raw(&'a [u8], &'static str),
}

/// An answer the caller reads: 2xx or 404.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub bytes: Bytes,
    pub headers: http::HeaderMap,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// One provider's API: its name for errors, and how its error bodies carry a message.
#[derive(Clone, Copy)]
pub struct Api<'a> {
    pub provider: &'static str,
    pub reach: &'a Reach,
    /// The provider's own error message in an answer body, if it has one.
    pub message: fn(&[u8]) -> Option<String>,
}

/// The message of `{"message": …}`, `{"error": "…"}` or `{"error": {"message": …}}` bodies.
pub fn json_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    text(&v["message"])
        .or_else(|| text(&v["error"]))
        .or_else(|| text(&v["error"]["message"]))
        .or_else(|| text(&v["errors"][0]["message"]))
        .or_else(|| text(&v["error_description"]))
}

impl Api<'_> {
    /// Sends the request (again after a 429, as the API asks, up to `RATE_LIMIT_RETRIES` times)
    /// and returns a 2xx or 404 answer. `headers` are built per attempt (signatures carry a time).
    pub async fn send(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        headers: &(dyn Fn() -> Vec<(String, String)> + Sync),
        body: Body<'_>,
    ) -> Result<Answer, DnsError> {
        self.send_throttled(operation, method, url, headers, body, |_, _| false).await
    }

    /// `send` for an API that also says "slow down" with another status than 429 (Route 53's 400
    /// `Throttling`): `throttled(status, body)` picks those answers out, which are then treated
    /// as a 429.
    pub async fn send_throttled(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        headers: &(dyn Fn() -> Vec<(String, String)> + Sync),
        body: Body<'_>,
        throttled: fn(u16, &[u8]) -> bool,
    ) -> Result<Answer, DnsError> {
        let mut attempt = 0;
        loop {
            match self.once(operation, method.clone(), url, &headers(), &body, throttled).await {
                Err(DnsError::RateLimited { retry_after_s, .. })
                    if attempt < RATE_LIMIT_RETRIES && Duration::from_secs(retry_after_s) <= LONGEST_RETRY_AFTER =>
                {
                    attempt += 1;
                    tracing::info!(provider = self.provider, operation, retry_after_s, "rate limited; waiting");
                    tokio::time::sleep(Duration::from_secs(retry_after_s).max(Duration::from_millis(100))).await;
                }
                other => return other,
            }
        }
    }

    async fn once(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: &Body<'_>,
        throttled: fn(u16, &[u8]) -> bool,
    ) -> Result<Answer, DnsError> {
        let provider = self.provider;
        let what = format!("{provider} {operation}");
        let connector = crate::https::connector(None, false, &self.reach.egress)
            .map_err(|e| DnsError::Config(format!("{provider}: {e}")))?;
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
        let mut request =
            http::Request::builder().method(method).uri(url).header(http::header::ACCEPT, "application/json");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let payload = match body {
            Body::Json(v) => {
                request = request.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(v).map_err(|e| DnsError::Config(e.to_string()))?)
            }
            Body::Raw(bytes, content_type) => {
                request = request.header(http::header::CONTENT_TYPE, *content_type);
                Bytes::copy_from_slice(bytes)
            }
            Body::None => Bytes::new(),
        };
        // What an answer may not repeat into an error or the log: credentials and the payload.
        let mut sent: Vec<String> = headers.iter().map(|(_, v)| v.clone()).collect();
        sent.push(String::from_utf8_lossy(&payload).into_owned());
        let request = request.body(Full::new(payload)).map_err(|_| DnsError::Config(format!("{what}: bad URL")))?;
        let response = match tokio::time::timeout(self.reach.timeout, client.request(request)).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                let reason = NetFailure::classify(&what, &e);
                let transient = reason.is_transient();
                return Err(DnsError::ApiUnreachable { provider, reason: reason.to_string(), transient });
            }
            Err(_) => return Err(DnsError::ApiUnreachable { provider, reason: "timeout".into(), transient: true }),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = match tokio::time::timeout(self.reach.timeout, response.into_body().collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            _ => Bytes::new(),
        };
        if (200..300).contains(&status) || status == 404 {
            return Ok(Answer { status, bytes, headers });
        }
        let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
        log_remote_detail(&what, &crate::targets::withhold_sent(&String::from_utf8_lossy(&bytes), &sent));
        if status == 429 || throttled(status, &bytes) {
            return Err(DnsError::RateLimited { provider, retry_after_s: retry_after(&headers) });
        }
        let message = (self.message)(&bytes).map(|m| clean_message(&m, &sent)).filter(|m| !m.is_empty());
        Err(DnsError::Api { provider, operation, status, message })
    }
}

/// A provider's message as an error may carry it: what was sent withheld, bounded, escaped.
fn clean_message(message: &str, sent: &[&str]) -> String {
    bounded_escaped(crate::targets::withhold_sent(message, sent).trim(), MESSAGE_LIMIT)
}

/// `Retry-After` in seconds, from either form (delta-seconds or an HTTP date); none counts as one.
fn retry_after(headers: &http::HeaderMap) -> u64 {
    let Some(value) = headers.get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()) else { return 1 };
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return seconds;
    }
    httpdate::parse_http_date(value.trim())
        .ok()
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
        .map_or(1, |d| d.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the request sent never comes back in a message, and a long message is cut.
    #[test]
    fn messages_are_cleaned() {
        let token = "Bearer s3cr3t-token-value-1234";
        let m = clean_message("invalid token s3cr3t-token-value-1234\nline", &[token]);
        assert!(!m.contains("s3cr3t") && m.contains("[sent]") && m.contains("\\n"), "{m}");
        assert!(clean_message(&"x".repeat(500), &[]).chars().count() <= MESSAGE_LIMIT + 1);
        assert_eq!(
            json_message(br#"{"errors":[{"code":9109,"message":"Invalid access token"}]}"#).unwrap(),
            "Invalid access token"
        );
        assert_eq!(json_message(br#"{"error":{"code":"Forbidden","message":"no"}}"#).unwrap(), "no");
        assert_eq!(json_message(b"<html>"), None);
    }
}
