//! The service's errors over REST: each `ErrorCode`'s HTTP status, and the RFC 9457 problem
//! document every error response carries. The error itself is the service layer's
//! (`service::error`), re-exported here for the HTTP side.
//! Invariant: an internal error's detail is logged, never sent; the client sees a generic message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::service::error::{ApiError, ErrorCode};

impl ErrorCode {
    /// The HTTP status REST answers with for this code.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::CsrfTokenMissing | ErrorCode::Forbidden | ErrorCode::ReauthenticationRequired => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::VersionConflict | ErrorCode::AlreadySetUp => StatusCode::CONFLICT,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the `code` carries the meaning.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub code: ErrorCode,
    pub detail: String,
    /// The request field at fault, as a JSON path (`sans[3]`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    /// The problem document of this error, as every error response carries it.
    pub fn problem(&self) -> Problem {
        let status = self.code.status();
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: self.code,
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/problem+json");
        if let Some(secs) = self.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        if self.code == ErrorCode::RequestTimeout {
            // The rest of a late body may still be on its way: this connection is done.
            response.force_close();
        }
        response.json(self.problem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::store::{NotWritableReason, StoreError};

    /// A write the storage refused is 507 `storage_full`, says what happened without the store's
    /// own message, and is not an internal error (issue 16, item 6).
    #[test]
    fn a_full_store_is_507_storage_full() {
        let refused = StoreError::NotWritable {
            reason: NotWritableReason::Full,
            detail: "commit failed: database or disk is full".into(),
        };
        let error = ApiError::from(refused);
        assert_eq!(error.code, ErrorCode::StorageFull);
        let problem = serde_json::to_value(error.problem()).unwrap();
        assert_eq!(problem["status"], 507);
        assert_eq!(problem["code"], "storage_full");
        assert_eq!(problem["title"], "Insufficient Storage");
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("storage is full") && !detail.contains("database or disk"), "{detail}");
    }
}
