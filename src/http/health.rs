//! `/healthz` answers while the process serves; `/readyz` only once the store is open and migrated,
//! and no longer once shutdown has begun (so a load balancer drains this node first).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use actix_web::{HttpResponse, web};
use serde_json::json;

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;

#[derive(Clone, Default)]
pub struct Readiness(Arc<AtomicU8>);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(READY, Ordering::SeqCst);
    }

    pub fn set_draining(&self) {
        self.0.store(DRAINING, Ordering::SeqCst);
    }

    fn state(&self) -> &'static str {
        match self.0.load(Ordering::SeqCst) {
            STARTING => "starting",
            READY => "ready",
            _ => "draining",
        }
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn readyz(readiness: web::Data<Readiness>) -> HttpResponse {
    let state = readiness.state();
    let body = json!({ "status": state });
    if state == "ready" { HttpResponse::Ok().json(body) } else { HttpResponse::ServiceUnavailable().json(body) }
}
