//! The drift scan of one target, run inside its `TargetActor` (so it never overlaps a deployment
//! there): read what the target serves, compare its leaf's fingerprint with each certificate
//! deployed there, and with each revoked certificate left in place.
//! Invariants: every scanned deployment's `scanned_at` moves to this scan, drift or not; every
//! change of verdict (drifted, matching again, revoked still served, revoked gone) is written with
//! its audit entry (`cert.drift_detected`, `cert.drift_resolved`, `cert.revoked_still_served`,
//! `cert.revoked_removed`) in the certificate's trail, so its timeline shows it.

use certautopilot_core::ids::TargetId;
use certautopilot_core::jobs::{DistributeCause, JobSpec};
use certautopilot_core::model::{Certificate, CertificateStatus, Deployment, DeploymentStatus, DistributionTarget};
use certautopilot_core::store::{PageRequest, RecordStore};
use certautopilot_core::{ProjectScope, StoreError, Timestamp};
use serde_json::json;

use super::connector::{DeployFailure, connector};
use crate::issuance::IssuanceDeps;

/// Reads what the target actually serves and compares it with each certificate deployed there.
/// Drift is recorded on the deployment (`cert.drift_detected`, and `cert.drift_resolved` once it
/// matches again); with `auto_redeploy` on the target, a distribute job puts the right one back.
/// A revoked certificate still served is flagged (`cert.revoked_still_served`), never redeployed.
pub(super) async fn scan(
    deps: &IssuanceDeps,
    target_id: TargetId,
    scope: &ProjectScope,
) -> Result<String, DeployFailure> {
    let target: DistributionTarget = deps.store.get(scope, &target_id).await?;
    let mut deployed = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = deps.store.list::<Deployment>(scope, &page).await?;
        deployed.extend(batch.items.into_iter().filter(|d| {
            d.target_id == target.id
                && matches!(d.status, DeploymentStatus::Deployed | DeploymentStatus::RevokedInPlace)
        }));
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    if deployed.is_empty() {
        return Ok("nothing deployed here to check".into());
    }
    let found = match target.config.tls_endpoint() {
        Some((endpoint, server_name)) => certautopilot_connectors::targets::presented_fingerprint(
            endpoint,
            server_name,
            deps.settings.acme_timeout,
            &deps.settings.egress,
        )
        .await
        .map(Some),
        None => match connector(deps, &target) {
            Ok(c) => c.deployed_fingerprint().await,
            Err(e) => Err(e),
        },
    }
    .map_err(|e| DeployFailure { transient: e.is_transient(), message: e.to_string() })?;
    let auto_redeploy = target.config.auto_redeploy();
    let org = deps.org().await?;
    let (mut drifted, mut revoked_served) = (0, 0);
    for mut d in deployed {
        let cert: Certificate = match deps.store.get(scope, &d.certificate_id).await {
            Ok(cert) => cert,
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let now = Timestamp::now();
        d.scanned_at = Some(now);
        d.updated_at = now;
        let base = json!({ "target_id": target.id, "target": target.name, "found": found });
        // A revoked certificate (also one whose deployment a crash left `deployed`): is it still there?
        if cert.status == CertificateStatus::Revoked || d.status == DeploymentStatus::RevokedInPlace {
            let revoked = [d.fingerprint_sha256.as_ref(), cert.fingerprint_sha256.as_ref()];
            let served = found.as_ref().is_some_and(|f| revoked.contains(&Some(f)));
            revoked_served += usize::from(served);
            let changed = d.revoked_served != Some(served) || d.status != DeploymentStatus::RevokedInPlace;
            d.status = DeploymentStatus::RevokedInPlace;
            d.revoked_served = Some(served);
            d.drift = None;
            if !changed {
                deps.store.update(scope, &d).await?;
                continue;
            }
            let action = if served { "cert.revoked_still_served" } else { "cert.revoked_removed" };
            let mut details = base;
            details["serial"] = json!(d.serial);
            details["fingerprint_sha256"] = json!(d.fingerprint_sha256);
            let audit = org.write(
                &deps.actor_name(),
                action,
                ("certificate", cert.id.to_string()),
                scope.project_id(),
                details,
            );
            deps.store.update_audited(scope, &d, audit).await?;
            tracing::warn!(certificate_id = %cert.id, target_id = %target.id, action, "deployment scan");
            continue;
        }
        let expected = cert.fingerprint_sha256.clone().unwrap_or_default();
        let now_drift = match &found {
            Some(f) if *f == expected => None,
            Some(f) => Some(f.clone()),
            None => Some("missing".to_owned()),
        };
        if now_drift == d.drift {
            // Nothing changed but the time of the scan.
            deps.store.update(scope, &d).await?;
            continue;
        }
        let action = if now_drift.is_some() { "cert.drift_detected" } else { "cert.drift_resolved" };
        if now_drift.is_some() {
            drifted += 1;
        }
        let mut details = base;
        details["expected"] = json!(expected);
        details["was"] = json!(d.drift);
        details["auto_redeploy"] = json!(auto_redeploy && now_drift.is_some());
        if now_drift.is_none() {
            details["by"] = json!("scan");
        }
        d.drift = now_drift.clone();
        let audit =
            org.write(&deps.actor_name(), action, ("certificate", cert.id.to_string()), scope.project_id(), details);
        deps.store.update_audited(scope, &d, audit).await?;
        tracing::warn!(certificate_id = %cert.id, target_id = %target.id, action, "deployment scan");
        if auto_redeploy && now_drift.is_some() {
            let job = JobSpec::Distribute {
                certificate_id: cert.id,
                target_ids: vec![target.id],
                force: true,
                cause: DistributeCause::Redeploy { deployment_version: d.version },
            }
            .into_job(scope, 8);
            deps.store.enqueue_job(job).await?;
            deps.wake_workers();
        }
    }
    Ok(format!("scanned {}: {drifted} newly drifted, {revoked_served} revoked still served", target.name))
}
