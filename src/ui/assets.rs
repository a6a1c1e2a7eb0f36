//! The console's static files, compiled into the binary: htmx (vendored, 0BSD, its licence beside
//! it in `src/ui/assets/`) and the style sheet. Nothing is fetched at run time.
//! Invariant: an asset's URL names its content's version, so it may be cached for a year.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub const HTMX_PATH: &str = "/assets/htmx-2.0.11.min.js";
pub const CSS_PATH: &str = "/assets/app-1.css";

const HTMX: &[u8] = include_bytes!("assets/htmx-2.0.11.min.js");
const CSS: &[u8] = include_bytes!("assets/app.css");
const HTMX_LICENSE: &[u8] = include_bytes!("assets/htmx-LICENSE.txt");

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route(HTMX_PATH, web::get().to(|| async { asset(HTMX, "text/javascript; charset=utf-8") }))
        .route(CSS_PATH, web::get().to(|| async { asset(CSS, "text/css; charset=utf-8") }))
        .route(
            "/assets/htmx-LICENSE.txt",
            web::get().to(|| async { asset(HTMX_LICENSE, "text/plain; charset=utf-8") }),
        );
}

fn asset(body: &'static [u8], content_type: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(body)
}
