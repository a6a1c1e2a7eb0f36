//! One POST to a chat service or webhook receiver, over the connector every HTTPS client uses
//! (egress policy, extra roots), bounded as a whole by the send's timeout.
//! Invariant: no answer becomes a classified reason only (`connection refused`, `timeout`); the
//! URL never reaches an error, since for most services it is the credential.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use tokio::time::{Instant, timeout_at};

use crate::failure::NetFailure;
use crate::notify::{SendError, SendOptions};

/// The most of an answer read: every documented answer is far smaller, and the body is only ever
/// looked into for a status word or a number.
const ANSWER_LIMIT: usize = 64 * 1024;

/// The longest wait a service may ask for that is taken as asked; a longer one (or a date far
/// away) is capped, so one odd answer cannot park a channel for weeks.
pub(super) const RETRY_AFTER_CAP: Duration = Duration::from_secs(24 * 3600);

/// One request, ready to go.
pub(super) struct Post {
    /// The channel's kind and, where it is no secret, where it goes (`slack`, `webhook
    /// https://hooks.example.com/cap`): the first words of every error.
    pub what: String,
    /// Secret for Slack, Teams, Discord, Mattermost and Telegram: never formatted anywhere.
    pub url: http::Uri,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Vec<u8>,
    pub trusted_roots_pem: Option<String>,
    /// What was sent that an answer echoing it must not bring into the debug log: the body, the
    /// URL and its secret parts, tokens.
    pub sent: Vec<String>,
}

/// What came back. `body` is `None` when it could not be read whole in time.
pub(super) struct Answer {
    pub status: u16,
    /// The `Retry-After` header, in seconds or as a date.
    pub retry_after: Option<Duration>,
    pub body: Option<Bytes>,
}

/// Sends `post`, reading the answer within the same deadline.
pub(super) async fn exchange(post: &Post, options: &SendOptions) -> Result<Answer, SendError> {
    let mut request = http::Request::post(post.url.clone());
    for (name, value) in &post.headers {
        request = request.header(name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(post.body.clone())))
        .map_err(|_| SendError::Permanent(format!("{}: the request could not be built", post.what)))?;
    let connector = crate::https::connector(post.trusted_roots_pem.as_deref(), false, &options.egress)
        .map_err(|e| SendError::Permanent(format!("{}: {e}", post.what)))?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let deadline = Instant::now() + options.timeout;
    let response = match timeout_at(deadline, client.request(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => return Err(unreachable(&post.what, &e)),
        Err(_) => return Err(SendError::Transient { reason: format!("{}: timeout", post.what), retry_after: None }),
    };
    let status = response.status().as_u16();
    let retry_after =
        response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry_after_header);
    let body = match timeout_at(deadline, Limited::new(response.into_body(), ANSWER_LIMIT).collect()).await {
        Ok(Ok(collected)) => Some(collected.to_bytes()),
        _ => None,
    };
    Ok(Answer { status, retry_after, body })
}

/// No answer from `what`: the classified reason only (the detail goes to the debug log);
/// transient, except the egress policy's refusal and an untrusted certificate.
fn unreachable(what: &str, error: &(dyn std::error::Error + 'static)) -> SendError {
    let reason = NetFailure::classify(what, error);
    if reason.is_transient() {
        SendError::Transient { reason: format!("{what}: {reason}"), retry_after: None }
    } else {
        SendError::Permanent(format!("{what}: {reason}"))
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), capped.
pub(super) fn retry_after_header(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

/// A wait in seconds a service put in its JSON answer (Discord's float `retry_after`, Telegram's
/// integer `parameters.retry_after`), capped; nothing for a negative or absurd number.
pub(super) fn retry_after_seconds(value: &serde_json::Value) -> Option<Duration> {
    let seconds = value.as_f64()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(RETRY_AFTER_CAP.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both forms of `Retry-After` are read; a date in the past is no wait; nonsense is ignored
    /// and a huge wait is capped.
    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after_header("30"), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_header(" 0 "), Some(Duration::ZERO));
        assert_eq!(retry_after_header("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        let wait = retry_after_header(&later).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120), "{wait:?}");
        assert_eq!(retry_after_header("soon"), None);
        assert_eq!(retry_after_header("999999999"), Some(RETRY_AFTER_CAP));
        assert_eq!(retry_after_seconds(&serde_json::json!(0.5)), Some(Duration::from_millis(500)));
        assert_eq!(retry_after_seconds(&serde_json::json!(-1)), None);
        assert_eq!(retry_after_seconds(&serde_json::json!("5")), None);
        assert_eq!(retry_after_seconds(&serde_json::json!(1e300)), Some(RETRY_AFTER_CAP));
    }
}
