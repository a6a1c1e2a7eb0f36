//! Deployments of a revoked certificate: revocation does not remove what was installed, so each
//! deployment where the revoked serial is `deployed` becomes `revoked_in_place` (issue 15, item 6;
//! one still holding an older serial stays `deployed`, as that one is not revoked), and the drift scan
//! then reports whether the revoked certificate is still served there. Invariant: a deployment
//! changes to `revoked_in_place` only with a `cert.revoked_in_place` audit entry naming its target,
//! written in one transaction with it.

use certautopilot_core::ProjectScope;
use certautopilot_core::Timestamp;
use certautopilot_core::model::{Certificate, Deployment, DeploymentStatus};
use certautopilot_core::store::{PageRequest, Record, RecordStore, ScopeArg};
use serde_json::json;

use super::{IssuanceDeps, IssueError, OrgAudit};

/// Every deployment of `cert`, however many pages.
pub(super) async fn deployments_of(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    cert: &Certificate,
) -> Result<Vec<Deployment>, IssueError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = deps.store.list_by_lookup::<Deployment>(scope, &cert.id.to_string(), &page).await?;
        all.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => return Ok(all),
        }
    }
}

/// Marks the deployments of the revoked `cert` that were `deployed` as `revoked_in_place`, all in
/// one audited write; returns how many. Idempotent: a second call finds none left to mark.
pub(super) async fn mark_revoked_in_place(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    org: &OrgAudit,
    actor: &str,
    cert: &Certificate,
) -> Result<usize, IssueError> {
    let now = Timestamp::now();
    let marked: Vec<Deployment> = deployments_of(deps, scope, cert)
        .await?
        .into_iter()
        // Only where the revoked serial itself is deployed: an older one left on a target is not.
        .filter(|d| d.status == DeploymentStatus::Deployed && d.serial.is_some() && d.serial == cert.serial)
        .map(|mut d| {
            d.status = DeploymentStatus::RevokedInPlace;
            d.revoked_served = None;
            d.updated_at = now;
            d
        })
        .collect();
    if marked.is_empty() {
        return Ok(0);
    }
    let record_scope = scope.record_scope();
    let targets: Vec<String> = marked.iter().map(|d| d.target_id.to_string()).collect();
    let raws = marked.iter().map(|d| d.to_raw(&record_scope)).collect::<Result<Vec<_>, _>>()?;
    let details =
        json!({ "serial": cert.serial, "fingerprint_sha256": cert.fingerprint_sha256, "target_ids": targets });
    let audit =
        org.write(actor, "cert.revoked_in_place", ("certificate", cert.id.to_string()), scope.project_id(), details);
    deps.store.update_raw_many(&record_scope, raws, Some(audit)).await?;
    tracing::warn!(certificate_id = %cert.id, targets = marked.len(), "revoked certificate still deployed");
    Ok(marked.len())
}
