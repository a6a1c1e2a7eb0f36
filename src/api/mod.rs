//! The REST API of ARCHITECTURE.md §8: route table with declared policies, authentication,
//! thin handlers over the service layer (`crate::service`), problem+json errors, and the generated
//! OpenAPI document. Invariant: nothing here decides what an operation does; a handler extracts,
//! calls its service function and renders the answer.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod json;
pub mod openapi;
pub mod route_spec;
pub mod routes;
pub mod schema;
pub mod views;

#[cfg(test)]
pub(crate) mod tests;

use actix_web::web;

use crate::api::error::ApiError;
// The application state lives with the operations (`service::state`); the HTTP side names it here.
pub use crate::service::AppState;

pub fn configure(cfg: &mut web::ServiceConfig, body_limit: usize) {
    cfg.app_data(web::PayloadConfig::new(body_limit))
        // Query and path decoding errors quote what was sent; say only what was expected.
        .app_data(web::QueryConfig::default().error_handler(|e, _| {
            let detail = match e {
                actix_web::error::QueryPayloadError::Deserialize(e) => json::describe_decode_error(&e.to_string()),
                _ => "invalid value".to_owned(),
            };
            ApiError::new(error::ErrorCode::BadRequest, format!("invalid query string: {detail}")).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("resource").into()))
        .configure(routes::register);
}
