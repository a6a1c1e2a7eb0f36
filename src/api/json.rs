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
        let is_json = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(ErrorCode::UnsupportedMediaType, "the body must be application/json"));
            }
            let bytes = bytes.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(ErrorCode::PayloadTooLarge, "the body is larger than the configured limit")
                } else {
                    ApiError::new(ErrorCode::BadRequest, "the body could not be read")
                }
            })?;
            decode(&bytes).map(ApiJson)
        })
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let detail = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON at line {} column {}", inner.line(), inner.column())
            }
            _ => sanitize(&inner.to_string()),
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

/// serde's messages quote the offending value (`invalid type: string "hunter2", expected …`); keep
/// what was expected and drop what was sent.
fn sanitize(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        match message.split_once(", expected ") {
            Some((kind, expected)) => format!("{}, expected {expected}", kind.split(':').next().unwrap_or(kind)),
            None => message.split(':').next().unwrap_or(message).to_owned(),
        }
    } else {
        message.to_owned()
    }
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
        let err = decode::<Body>(br#"{"name":"x","count":1,"extra":true}"#).unwrap_err();
        assert!(err.detail.contains("unknown field `extra`"), "{}", err.detail);
        let err = decode::<Body>(br#"{"name":"x""#).unwrap_err();
        assert!(err.detail.starts_with("malformed JSON"), "{}", err.detail);
        let err = decode::<Body>(br#"{"name":"x","count":1} {}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidJson);
        assert!(decode::<Body>(br#"{"name":"x","count":1}"#).is_ok());
    }
}
