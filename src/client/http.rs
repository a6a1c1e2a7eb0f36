//! The HTTP side of the API client: one connection pool to one server, JSON in and out, the
//! server's problem documents turned into `ClientError`s with their `code`, `detail` and `field`.
//! Invariants: TLS trusts the platform's roots plus `--ca-file` only; plain http reaches loopback
//! addresses only, checked by `ServerUrl` before any socket and again on every resolved address by
//! the connector's egress policy; the token goes into the `Authorization` header and nowhere else.

use std::time::Duration;

use bytes::Bytes;
use certautopilot_connectors::egress::{EgressHttpConnector, EgressPolicy};
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::client::error::ClientError;
use crate::client::output::sanitize;
use crate::client::server_url::ServerUrl;
use crate::client::token_store::ApiToken;

/// Every request gets an answer within this, or the command stops with exit code 7.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer read: a 1,000-item page of audit events fits many times over.
const MAX_BODY_BYTES: usize = 64 << 20;

type Https = hyper_rustls::HttpsConnector<EgressHttpConnector>;

pub struct ApiClient {
    server: ServerUrl,
    token: Option<ApiToken>,
    http: Client<Https, Full<Bytes>>,
}

impl ApiClient {
    /// A client for `server`, trusting the platform's roots and the PEM certificates in `ca_pem`.
    pub fn new(server: ServerUrl, ca_pem: Option<&str>, token: Option<ApiToken>) -> Result<ApiClient, ClientError> {
        let policy = if server.is_plain_http() {
            // Only this host, whatever a name like `localhost` resolves to.
            let nets = |list: &[&str]| list.iter().map(|n| n.parse().expect("literal networks parse")).collect();
            EgressPolicy::new(nets(&["127.0.0.0/8", "::1/128"]), nets(&["0.0.0.0/0", "::/0"]), true)
        } else {
            EgressPolicy::allowing_loopback()
        };
        let connector = certautopilot_connectors::https::connector(ca_pem, false, &policy)
            .map_err(|e| ClientError::Refused(format!("--ca-file: {e}")))?;
        let http = Client::builder(TokioExecutor::new()).build(connector);
        Ok(ApiClient { server, token, http })
    }

    /// The same server and pool, acting with another token.
    pub fn with_token(&self, token: Option<ApiToken>) -> ApiClient {
        ApiClient { server: self.server.clone(), token, http: self.http.clone() }
    }

    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        json(self.send(Method::GET, path, None).await?)
    }

    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        json(self.send(Method::POST, path, body).await?)
    }

    pub async fn put(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        json(self.send(Method::PUT, path, body).await?)
    }

    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(Method::DELETE, path, None).await.map(drop)
    }

    /// A text answer (the PEM chain).
    pub async fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let body = self.send(Method::GET, path, None).await?;
        String::from_utf8(body.to_vec()).map_err(|_| ClientError::BadResponse("the answer is not UTF-8 text".into()))
    }

    /// Sends one request; a 2xx answer's body, or the error the answer (or its absence) means.
    async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Bytes, ClientError> {
        let mut request = http::Request::builder()
            .method(method)
            .uri(self.server.join(path))
            .header(header::ACCEPT, "application/json, application/problem+json, application/pem-certificate-chain")
            .header(header::USER_AGENT, concat!("certautopilot-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(token) = &self.token {
            let mut value =
                http::HeaderValue::from_str(&token.bearer()).map_err(|_| ClientError::Refused(unusable_token()))?;
            value.set_sensitive(true);
            request = request.header(header::AUTHORIZATION, value);
        }
        let payload = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(body).expect("JSON values serialize"))
            }
            None => Bytes::new(),
        };
        let request = request
            .body(Full::new(payload))
            .map_err(|e| ClientError::Usage(format!("cannot build a request for {path}: {e}")))?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let response = self.http.request(request).await.map_err(|e| self.unreachable(&e))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| ClientError::BadResponse(format!("the answer broke off: {e}")))?
                .to_bytes();
            Ok::<_, ClientError>((status, bytes))
        })
        .await
        .map_err(|_| ClientError::Timeout { server: self.server.to_string(), after: REQUEST_TIMEOUT })?;
        let (status, bytes) = answer?;
        if status.is_success() { Ok(bytes) } else { Err(problem(status, &bytes)) }
    }

    /// Why no answer came: the chain of causes (refused, no route, a certificate the platform
    /// does not trust), with a hint where one helps.
    fn unreachable(&self, error: &hyper_util::client::legacy::Error) -> ClientError {
        let mut reasons: Vec<String> = Vec::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = cause {
            let text = e.to_string();
            if !reasons.iter().any(|r| r.contains(&text)) {
                reasons.push(text);
            }
            cause = e.source();
        }
        let mut reason = sanitize(&reasons.join(": "));
        if reason.contains("certificate") {
            reason.push_str("; if the server's certificate comes from a private CA, give it with --ca-file");
        }
        ClientError::Unreachable { server: self.server.to_string(), reason }
    }
}

fn unusable_token() -> String {
    "the token holds characters no HTTP header may carry; log in again or fix CERTAUTOPILOT_TOKEN".into()
}

fn json(bytes: Bytes) -> Result<Value, ClientError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse(format!("not JSON ({e})")))
}

/// The error an answer with `status` means, from its problem document when it has one.
fn problem(status: StatusCode, body: &[u8]) -> ClientError {
    let document: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| document.get(key).and_then(Value::as_str).map(sanitize);
    ClientError::Api {
        status: status.as_u16(),
        code: text("code").unwrap_or_else(|| format!("http_{}", status.as_u16())),
        detail: text("detail").unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
        field: text("field"),
    }
}

/// The text at `pointer` (`/job/id`) of an answer, which the API documents as always there.
pub fn answer_text(answer: &Value, pointer: &str) -> Result<String, ClientError> {
    answer
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ClientError::BadResponse(format!("the answer has no {pointer}")))
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters but `.` stay), so
/// an id typed on the command line (`..`, `a/b`, `x?y`) cannot step into another route.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `path?k=v&…` with the present values encoded.
pub fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let query: Vec<String> =
        pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v)))).collect();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A problem document becomes its code, detail and field; an answer without one (a proxy's
    /// HTML page) still gives the status class, and control characters from the server never reach
    /// the terminal.
    #[test]
    fn problems_are_read_from_the_answer() {
        let body = br#"{"type":"about:blank","title":"Unprocessable Entity","status":422,"code":"validation_failed","detail":"must be 1 to 100 characters","field":"name"}"#;
        match problem(StatusCode::UNPROCESSABLE_ENTITY, body) {
            ClientError::Api { status, code, detail, field } => {
                assert_eq!((status, code.as_str(), field.as_deref()), (422, "validation_failed", Some("name")));
                assert_eq!(detail, "must be 1 to 100 characters");
            }
            other => panic!("{other:?}"),
        }
        let html = problem(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert_eq!(html.to_string(), "Bad Gateway [http_502, HTTP 502]");
        let nasty = problem(StatusCode::CONFLICT, b"{\"code\":\"conflict\",\"detail\":\"a\x1b[2Jb\"}");
        assert!(!nasty.to_string().contains('\x1b'), "{nasty}");
    }

    /// Ids and query values are encoded, so `../` or `?` in an argument stays inside its segment.
    #[test]
    fn arguments_stay_in_their_segment() {
        assert_eq!(encode("../admin/actors?x=1"), "%2E%2E%2Fadmin%2Factors%3Fx%3D1");
        assert_eq!(
            with_query("/api/v1/audit/events", &[("from", Some("2026-01-01T00:00:00+01:00".into())), ("x", None)]),
            "/api/v1/audit/events?from=2026-01-01T00%3A00%3A00%2B01%3A00"
        );
    }
}
