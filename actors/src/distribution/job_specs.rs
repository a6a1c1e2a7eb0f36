//! The distribution jobs this crate queues: `distribute` (a certificate to its targets) and `scan`
//! (a target read back for drift). Invariant: a distribute job's subject is its certificate, a scan
//! job's is `target:<id>`, so each runs one at a time per certificate or per target.

use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{CertificateId, TargetId};
use certautopilot_core::model::{JobKind, NewJob};
use serde_json::json;

/// A `distribute` job: deploy the certificate to `targets` (all of its targets when empty), all at
/// once, each target's actor serializing its own deployments. The subject is the certificate, so it
/// never runs beside the certificate's issue or renew job. With `force`, targets that already have
/// this serial are deployed again (a manual request, a drift repair); otherwise they are skipped, so
/// a retry only redoes what failed.
pub fn distribute_job(
    scope: &ProjectScope,
    cert: CertificateId,
    targets: &[TargetId],
    force: bool,
    max_attempts: u32,
) -> NewJob {
    NewJob::for_project(scope, JobKind::Distribute, max_attempts)
        .subject(cert.to_string())
        .payload(json!({ "certificate_id": cert, "target_ids": targets, "force": force }))
}

/// A `scan` job for one target; like deployments, one at a time per target.
pub fn scan_job(scope: &ProjectScope, target: TargetId, max_attempts: u32) -> NewJob {
    NewJob::for_project(scope, JobKind::Scan, max_attempts)
        .subject(format!("target:{target}"))
        .payload(json!({ "target_id": target }))
}
