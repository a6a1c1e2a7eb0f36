//! The actix-web application: probes, the REST API (in `api` and `all` modes), request metrics, and
//! problem+json for every path or method nobody serves. `app` is what `serve` and the tests run.

mod connections;
mod health;
mod problem;

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, web};

pub use connections::ConnectionLimits;
pub use health::Readiness;

use crate::metrics::HttpMetrics;
use crate::service::AppState;

/// The application as every HTTP worker builds it.
pub fn app(
    state: web::Data<AppState>,
    readiness: web::Data<Readiness>,
    metrics: Arc<HttpMetrics>,
    rest_api: bool,
    body_limit: usize,
    https: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let graphql = state.graphql.clone();
    App::new()
        .app_data(readiness)
        .app_data(state)
        .wrap_fn(move |req: ServiceRequest, srv| {
            let started = Instant::now();
            // Only standard methods become label values; anything made up shares one.
            let method = match *req.method() {
                Method::GET
                | Method::POST
                | Method::PUT
                | Method::PATCH
                | Method::DELETE
                | Method::HEAD
                | Method::OPTIONS => req.method().as_str().to_owned(),
                _ => "other".to_owned(),
            };
            let metrics = metrics.clone();
            let response = srv.call(req);
            async move {
                let response = response.await?;
                // Unknown paths share one label so scanners cannot blow up label cardinality.
                let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
                metrics.observe(&method, &route, response.status().as_u16(), started.elapsed());
                Ok(response)
            }
        })
        .wrap(security_headers(https))
        .configure(configure_probes)
        .configure(|cfg| {
            if rest_api {
                crate::api::configure(cfg, body_limit);
                crate::graphql::configure(cfg, &graphql);
                crate::ui::configure(cfg);
            }
        })
        .default_service(not_found())
}

/// Headers on every answer: no MIME sniffing, no referrer, never framed (clickjacking), nothing
/// cached (API answers carry tokens, CSRF values and secret-bearing views), and HSTS when this
/// process itself serves HTTPS.
fn security_headers(https: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .add((header::CACHE_CONTROL, "no-store"));
    if https {
        headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"))
    } else {
        headers
    }
}

/// Routes every mode serves (probes), whatever else it runs.
pub fn configure_probes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz)).route("/readyz", web::get().to(health::readyz));
}

pub fn not_found() -> actix_web::Route {
    web::to(problem::not_found)
}
