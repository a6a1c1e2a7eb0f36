//! Errors as RFC 9457 `application/problem+json` documents with a stable machine-readable `code`.

use actix_web::{HttpResponse, http::StatusCode};
use serde_json::json;

pub fn problem(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("application/problem+json").json(json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    }))
}

pub async fn not_found() -> HttpResponse {
    // Nothing of the request is echoed: a reflected path is a gift to anyone probing for injection.
    problem(StatusCode::NOT_FOUND, "not_found", "no such route")
}
