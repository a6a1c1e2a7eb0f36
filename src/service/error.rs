//! The one error of every operation: a stable machine-readable `code` (`ErrorCode`), the request
//! field at fault when there is one, and a `detail` safe to show the caller. REST renders it as a
//! problem document (`api::error`), GraphQL as `extensions.code` and `extensions.field`.
//! Invariant: an internal error's detail is logged, never carried; the caller sees a generic message.

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
    /// The operation needs the caller to prove it is them again: their password, or a session
    /// signed in recently (an ownership transfer).
    ReauthenticationRequired,
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
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

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
