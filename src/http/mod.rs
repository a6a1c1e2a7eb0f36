//! The actix-web gateway. Today: liveness, readiness and a problem+json 404 for everything else;
//! the REST API of ARCHITECTURE.md §8 mounts here in M1.2.

mod health;
mod problem;

use actix_web::web;

pub use health::Readiness;

/// Routes every mode serves (probes), whatever else it runs.
pub fn configure_probes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz)).route("/readyz", web::get().to(health::readyz));
}

pub fn not_found() -> actix_web::Route {
    web::to(problem::not_found)
}
