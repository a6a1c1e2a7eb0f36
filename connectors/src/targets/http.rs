//! One JSON request to a vendor API, classified the way every target needs: no answer, 5xx, 408
//! and 429 are transient; 401 and 403 are "the credential is refused"; other 4xx are refusals that
//! need a person. The answer's body comes back for the caller to read on success and 404; on any
//! other status it is only logged at debug level (`crate::failure`), never put in the error, and
//! without anything the request sent (a remote echoing it would put the credential in the log).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use super::DeployError;
use crate::egress::EgressPolicy;

pub(crate) struct JsonResponse {
    pub status: u16,
    pub body: Value,
    /// The answer as text for the debug log, without what the request sent (`withhold_sent`).
    pub detail: String,
}

/// What a request carries.
pub(crate) enum Payload<'a> {
    None,
    Json(&'a Value),
    /// Raw bytes with their content type (file uploads).
    Bytes(&'a [u8], &'static str),
}

/// How a target reaches its API: extra roots to trust, the time an answer may take, and the
/// egress policy every address is checked against.
#[derive(Clone, Copy)]
pub(crate) struct Reach<'a> {
    pub ca_pem: Option<&'a str>,
    pub timeout: Duration,
    pub egress: &'a EgressPolicy,
}

/// Sends `body` (JSON, or nothing) with `headers`; returns 2xx and 404 answers, errors otherwise.
pub(crate) async fn send(
    what: &str,
    method: http::Method,
    url: &str,
    headers: &[(&str, String)],
    body: Payload<'_>,
    reach: Reach<'_>,
) -> Result<JsonResponse, DeployError> {
    let connector = crate::https::connector(reach.ca_pem, false, reach.egress).map_err(DeployError::Permanent)?;
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let mut request = http::Request::builder().method(method).uri(url).header(http::header::ACCEPT, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    // What the answer may not repeat into the log: the headers (credentials) and the payload.
    let mut sent: Vec<String> = headers.iter().map(|(_, value)| value.clone()).collect();
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
    sent.push(String::from_utf8_lossy(&payload).into_owned());
    let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
    let request = request.body(Full::new(payload)).map_err(|e| DeployError::Permanent(format!("{what}: {e}")))?;
    let response = match tokio::time::timeout(reach.timeout, client.request(request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(DeployError::unreachable(what, &e)),
        Err(_) => return Err(DeployError::Transient(format!("{what}: timeout"))),
    };
    let status = response.status().as_u16();
    let bytes = match tokio::time::timeout(reach.timeout, response.into_body().collect()).await {
        Ok(Ok(b)) => b.to_bytes(),
        _ => Bytes::new(),
    };
    match status {
        200..=299 | 404 => {
            let body: Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
            // Only the debug log reads it; scrubbing every successful answer would be wasted work.
            let detail = match crate::failure::remote_detail_wanted() {
                true => super::withhold_sent(&String::from_utf8_lossy(&bytes), &sent),
                false => String::new(),
            };
            Ok(JsonResponse { status, body, detail })
        }
        _ => Err(DeployError::from_status(what, status, &bytes, &sent)),
    }
}
