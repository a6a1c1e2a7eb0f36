//! One JSON request to a vendor API, classified the way every target needs: no answer, 5xx, 408
//! and 429 are transient; 401 and 403 are "the credential is refused"; other 4xx are refusals that
//! need a person. The answer's body comes back for the caller to read.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::DeployError;

pub(crate) struct JsonResponse {
    pub status: u16,
    pub body: Value,
}

/// What a request carries.
pub(crate) enum Payload<'a> {
    None,
    Json(&'a Value),
    /// Raw bytes with their content type (file uploads).
    Bytes(&'a [u8], &'static str),
}

/// Sends `body` (JSON, or nothing) with `headers`; returns 2xx and 404 answers, errors otherwise.
pub(crate) async fn send(
    what: &str,
    method: http::Method,
    url: &str,
    headers: &[(&str, String)],
    body: Payload<'_>,
    extra_roots_pem: Option<&str>,
    timeout: Duration,
) -> Result<JsonResponse, DeployError> {
    let connector = crate::https::connector(extra_roots_pem, false).map_err(DeployError::Permanent)?;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let mut request = http::Request::builder().method(method).uri(url).header(http::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let payload = match body {
        Payload::Json(v) => {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(v).map_err(|e| DeployError::Permanent(e.to_string()))?)
        }
        Payload::Bytes(bytes, content_type) => {
            request = request.header(http::header::CONTENT_TYPE, content_type);
            Bytes::copy_from_slice(bytes)
        }
        Payload::None => Bytes::new(),
    };
    let request = request.body(Full::new(payload)).map_err(|e| DeployError::Permanent(format!("{what}: {e}")))?;
    let response = match tokio::time::timeout(timeout, client.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(DeployError::Transient(format!("{what}: unreachable: {e}"))),
        Err(_) => return Err(DeployError::Transient(format!("{what}: no answer within {} s", timeout.as_secs()))),
    };
    let status = response.status().as_u16();
    let bytes = match tokio::time::timeout(timeout, response.into_body().collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        _ => Bytes::new(),
    };
    let body: Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    let detail = || {
        let text = match &body {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.chars().take(300).collect::<String>()
    };
    match status {
        200..=299 | 404 => Ok(JsonResponse { status, body }),
        401 | 403 => {
            Err(DeployError::Permanent(format!("{what}: the credential was refused ({status}): {}", detail())))
        }
        408 | 429 | 500..=599 => Err(DeployError::Transient(format!("{what}: answered {status}: {}", detail()))),
        _ => Err(DeployError::Permanent(format!("{what}: refused with {status}: {}", detail()))),
    }
}
