//! `ApiJson<T>`: the JSON body extractor of every route. It requires `application/json`, enforces the
//! body limit, and turns every decoding failure into a 400 problem naming the field at fault, without
//! echoing submitted values (which may be secrets).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::api::error::{ApiError, ErrorCode};

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (is_json, body) = read_body(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(unsupported());
            }
            decode(&body.await?).map(ApiJson)
        })
    }
}

/// `ApiJson` for a route whose body may be left out: no body at all is `T::default()`; a body that
/// is there is checked exactly as `ApiJson` checks it.
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalApiJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (is_json, body) = read_body(req, payload);
        Box::pin(async move {
            let bytes = body.await?;
            match (bytes.is_empty(), is_json) {
                (true, _) => Ok(OptionalApiJson(T::default())),
                (false, false) => Err(unsupported()),
                (false, true) => decode(&bytes).map(OptionalApiJson),
            }
        })
    }
}

fn unsupported() -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be application/json")
}

/// Whether the request says its body is JSON, and the body, read within the body limit and timeout.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> (bool, impl Future<Output = Result<web::Bytes, ApiError>> + 'static) {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    let bytes = web::Bytes::from_request(req, payload);
    let timeout = req
        .app_data::<web::Data<crate::api::AppState>>()
        .map_or(std::time::Duration::from_secs(10), |state| state.body_timeout);
    let body = async move {
        // A body trickled in byte by byte would otherwise hold its connection open for ever.
        let bytes = tokio::time::timeout(timeout, bytes)
            .await
            .map_err(|_| ApiError::new(ErrorCode::RequestTimeout, "the body did not arrive in time"))?;
        let bytes = bytes.map_err(|e| {
            if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than the configured limit")
            } else {
                ApiError::new(ErrorCode::BadRequest, "the body could not be read")
            }
        })?;
        Ok(bytes)
    };
    (is_json, body)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner_is_unknown_field = e.inner().to_string().starts_with("unknown field");
        // An unknown key is the path's last segment and was sent by the client: point at its parent.
        let path = if inner_is_unknown_field { parent_path(e.path()) } else { e.path().to_string() };
        let inner = e.into_inner();
        let detail = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON at line {} column {}", inner.line(), inner.column())
            }
            _ => describe_decode_error(&inner.to_string()),
        };
        let mut error = ApiError::new(ErrorCode::InvalidJson, detail);
        if path != "." {
            error.field = Some(path);
        }
        error
    })?;
    deserializer.end().map_err(|_| ApiError::new(ErrorCode::InvalidJson, "trailing characters after the JSON body"))?;
    Ok(value)
}

/// What a serde decoding message may say to the client: the kind of failure and what was expected,
/// never what was sent. serde quotes the offending value (`invalid type: string "hunter2"`,
/// ``unknown variant `hunter2` ``) and custom errors may embed it anywhere, so this keeps only
/// messages of a known shape, rebuilt from their schema part (the text after the *last*
/// `, expected `, which serde appends after the value), and says "invalid value" for anything else.
/// Also used for query strings (`api::configure`).
pub fn describe_decode_error(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    // Field names that matched the schema are ours to name; unknown ones were sent by the client.
    for known in ["missing field `", "duplicate field `"] {
        if message.starts_with(known) && is_schema_word(&message[known.len()..]) {
            return message.to_owned();
        }
    }
    let kind = ["invalid type", "invalid value", "invalid length", "unknown variant", "unknown field"]
        .into_iter()
        .find(|kind| message.starts_with(kind));
    let Some(kind) = kind else { return "invalid value".to_owned() };
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if !expected.contains('"') => format!("{kind}, expected {expected}"),
        _ => kind.to_owned(),
    }
}

/// `path` without its last segment, written as `serde_path_to_error` writes paths (`.` for the root).
fn parent_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let segments: Vec<&Segment> = path.iter().collect();
    let mut out = String::new();
    for segment in segments.iter().take(segments.len().saturating_sub(1)) {
        if !out.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            out.push('.');
        }
        out.push_str(&segment.to_string());
    }
    if out.is_empty() { ".".to_owned() } else { out }
}

/// `name`` followed by nothing else: a field name from the schema in a serde message.
fn is_schema_word(rest: &str) -> bool {
    rest.strip_suffix('`').is_some_and(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: u32,
    }

    /// Each kind of bad body gives a problem naming the field, and no submitted value leaks.
    #[test]
    fn decoding_errors_name_the_field_and_hide_values() {
        let err = decode::<Body>(br#"{"name":"x","count":"hunter2"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("count"));
        assert!(!err.detail.contains("hunter2"), "{}", err.detail);
        let err = decode::<Body>(br#"{"name":"x","count":1,"hunter2":true}"#).unwrap_err();
        assert_eq!(err.detail, "unknown field, expected `name` or `count`");
        let err = decode::<Body>(br#"{"name":"x""#).unwrap_err();
        assert!(err.detail.starts_with("malformed JSON"), "{}", err.detail);
        let err = decode::<Body>(br#"{"name":"x","count":1} {}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(decode::<Body>(br#"{"name":"x","count":1}"#).is_ok());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    #[allow(dead_code)]
    enum Kind {
        Small,
        Large,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct WithEnum {
        kind: Kind,
        at: Option<certautopilot_core::Timestamp>,
        id: Option<certautopilot_core::ids::UserId>,
    }

    /// Regression (issue 14, item 10): an enum value, a timestamp, an id or a value crafted to look
    /// like serde's own `, expected` suffix never comes back in the detail or the field.
    #[test]
    fn decoding_errors_never_echo_the_value_sent() {
        let marker = "hunter2-secret";
        let bodies = [
            format!(r#"{{"kind":"{marker}"}}"#),
            format!(r#"{{"kind":"x`, expected {marker}"}}"#),
            format!(r#"{{"kind":"small","at":"{marker}"}}"#),
            format!(r#"{{"kind":"small","id":"{marker}"}}"#),
            format!(r#"{{"kind":7,"id":"{marker}"}}"#),
            format!(r#"{{"kind":"small","{marker}":1}}"#),
            format!(r#"{{"kind":["{marker}"]}}"#),
        ];
        for body in bodies {
            let err = decode::<WithEnum>(body.as_bytes()).unwrap_err();
            let shown = format!("{} {:?}", err.detail, err.field);
            assert!(!shown.contains("hunter2"), "{body}: {shown}");
        }
        let err = decode::<WithEnum>(format!(r#"{{"kind":"{marker}"}}"#).as_bytes()).unwrap_err();
        assert_eq!(err.detail, "unknown variant, expected `small` or `large`");
        assert_eq!(err.field.as_deref(), Some("kind"));
    }
}
