//! API errors as RFC 9457 problem documents with a stable machine-readable `code`.
//! Invariant: an internal error's detail is logged, never sent; the client sees a generic message.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use certautopilot_core::crypto::CryptoError;
use certautopilot_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The stable codes clients can match on. Adding one is fine; renaming one breaks clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidJson,
    UnsupportedMediaType,
    PayloadTooLarge,
    /// The client did not send its request body in time.
    RequestTimeout,
    ValidationFailed,
    Unauthenticated,
    InvalidCredentials,
    CsrfTokenMissing,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    VersionConflict,
    AlreadySetUp,
    TooManyRequests,
    ServiceUnavailable,
    /// The store's storage is full or read-only: nothing was written, nothing committed is lost,
    /// and the same request succeeds once space returns (issue 16, item 6).
    StorageFull,
    Internal,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::InvalidJson => StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unauthenticated | ErrorCode::InvalidCredentials => StatusCode::UNAUTHORIZED,
            ErrorCode::CsrfTokenMissing | ErrorCode::Forbidden => StatusCode::FORBIDDEN,
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

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
    /// Seconds the client should wait (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        ApiError { code, detail: detail.into(), field: None, retry_after: None }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError {
            code: ErrorCode::ValidationFailed,
            detail: detail.into(),
            field: Some(field.into()),
            retry_after: None,
        }
    }

    /// Prefixes the detail with what it is about (`dns credential: still used by …`).
    pub fn with_detail_prefix(mut self, what: &str) -> Self {
        self.detail = format!("{what}: {}", self.detail);
        self
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Conflict, detail)
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn unauthenticated() -> Self {
        ApiError::new(ErrorCode::Unauthenticated, "authentication required")
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Forbidden, detail)
    }

    /// An error whose detail must not reach the client: logged here, generic outside.
    pub fn internal(context: &str, error: &dyn std::fmt::Display) -> Self {
        tracing::error!(context, error = %error, "internal error");
        ApiError::new(ErrorCode::Internal, "internal error; see the server log")
    }

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

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.detail)
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Another project's id reads exactly like an id that does not exist.
            StoreError::NotFound { kind, .. } | StoreError::ScopeMismatch { kind } => ApiError::not_found(kind),
            StoreError::Conflict { kind, expected, actual, .. } => ApiError::new(
                ErrorCode::VersionConflict,
                format!(
                    "{kind} was changed meanwhile (you had version {expected}, it is now {actual}); reload and retry"
                ),
            ),
            StoreError::AlreadyExists { kind, key } => {
                ApiError::new(ErrorCode::Conflict, format!("a {kind} with this {} already exists", describe_key(&key)))
            }
            StoreError::NotEmpty { kind, holds, .. } => ApiError::new(
                ErrorCode::Conflict,
                format!("the {kind} still holds at least one {holds}; remove those first"),
            ),
            StoreError::InvalidCursor => ApiError::invalid("cursor", "invalid pagination cursor"),
            StoreError::InvalidRequest(detail) => ApiError::new(ErrorCode::BadRequest, detail),
            StoreError::Busy => ApiError::new(ErrorCode::ServiceUnavailable, "the store is busy; retry shortly"),
            // Not an internal error: the operator knows what to do, and the client may retry later.
            // The store logs the outage once and counts each refusal (`WriteHealthTracker`).
            StoreError::NotWritable { reason, .. } => ApiError::new(
                ErrorCode::StorageFull,
                format!("the store cannot take writes ({reason}); nothing was changed, retry once space is freed"),
            ),
            other => ApiError::internal("store", &other),
        }
    }
}

/// Names the kind of key without echoing the value (which may be an e-mail or a name).
fn describe_key(key: &str) -> &'static str {
    if key.starts_with("id ") { "id" } else { "name" }
}

impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> Self {
        ApiError::internal("envelope", &e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::store::NotWritableReason;

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
