//! Errors as RFC 9457 `application/problem+json` documents with a stable machine-readable `code`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
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

pub async fn not_found(req: HttpRequest) -> HttpResponse {
    // The path is echoed only as far as it is printable ASCII, and capped, so a hostile one cannot
    // bloat or poison the response.
    let path: String = req.path().chars().filter(|c| c.is_ascii_graphic()).take(200).collect();
    problem(StatusCode::NOT_FOUND, "not_found", &format!("no route for {} {path}", req.method()))
}
