//! Certificates: creating one stores it as `requested` and queues its issue job in the same
//! transaction; renew and revoke queue their jobs; the timeline merges the certificate's audit
//! entries with its jobs' logs; the chain downloads as PEM. The certificate actor does the work.

use actix_web::{HttpResponse, web};
use certautopilot_core::ids::CertificateId;
use certautopilot_core::jobs::{DistributeCause, JobSpec, RenewReason};
use certautopilot_core::lifecycle::{LifecycleEvent, transition};
use certautopilot_core::model::{
    AcmeAccount, Certificate, CertificateStatus, DistributionTarget, NewJob, SUBSCRIBER_REVOCATION_REASONS,
    revocation_reason_code,
};
use certautopilot_core::store::{AuditFilter, RecordKind, RecordStore, ScopeArg, Store};
use serde_json::json;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{
    CertificateCreated, CertificatePage, CertificateView, CreateCertificate, JobQueued, RevokeCertificate,
    TimelineEntry, TimelineView, UpdateCertificate,
};
use crate::service::certificates as door;
use crate::service::validate;

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<CertificatePage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    Ok(web::Json(state.store()?.list::<Certificate>(&scope, &query.page()?).await?.map(CertificateView::from).into()))
}

pub async fn create(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateCertificate>,
) -> Result<HttpResponse, ApiError> {
    let scope = auth.project_scope(body.project_id).await?;
    let common_name = validate::certificate_name("common_name", &body.common_name)?;
    if common_name.len() > validate::MAX_COMMON_NAME {
        return Err(ApiError::invalid(
            "common_name",
            format!(
                "must be at most {} characters (RFC 5280's upper bound for a common name); choose a shorter common name and list the long name in sans",
                validate::MAX_COMMON_NAME
            ),
        ));
    }
    let mut names = vec![common_name.clone()];
    // Every name under the field it was given in, so a refusal below can point at it.
    let mut given = vec![("common_name".to_owned(), common_name.clone())];
    for (i, san) in body.sans.iter().enumerate() {
        let name = validate::certificate_name(&format!("sans[{i}]"), san)?;
        given.push((format!("sans[{i}]"), name.clone()));
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > validate::MAX_SANS {
        return Err(ApiError::invalid("sans", format!("at most {} names per certificate", validate::MAX_SANS)));
    }
    if let Some(days) = body.renew_before_days {
        door::renew_before_days(None, days)?;
    }
    door::names_served(&state, &scope, &given).await?;
    let account: AcmeAccount = state
        .store()?
        .get(&scope, &body.acme_account_id)
        .await
        .map_err(related_missing("acme_account_id", "acme account"))?;
    resolve_targets(&state, &scope, &body.target_ids).await?;
    let mut certificate =
        Certificate::new(scope.project_id(), common_name, names, body.key_type, account.id, state.now());
    certificate.renew_before_days = body.renew_before_days;
    certificate.target_ids = body.target_ids;
    let job = JobSpec::Issue { certificate_id: certificate.id }.into_job(&scope, state.max_job_attempts);
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "cert.requested",
        Some(("certificate", certificate.id.to_string())),
        Some(scope.project_id()),
        json!({ "common_name": certificate.common_name, "sans": certificate.sans, "key_type": certificate.key_type }),
    );
    let enqueued = state.store()?.insert_and_enqueue(&scope, &certificate, job, Some(audit)).await?;
    state.wake_workers();
    tracing::info!(project_id = %scope.project_id(), certificate_id = %certificate.id, job_id = %enqueued.job.id, "certificate requested");
    Ok(HttpResponse::Accepted().json(CertificateCreated { certificate: certificate.into(), job: enqueued.job.into() }))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<CertificateView>, ApiError> {
    let id: CertificateId = path_id(&id, "certificate")?;
    let scope = auth.scope_of_record(RecordKind::Certificate, &id.to_string(), "certificate").await?;
    Ok(web::Json(state.store()?.get::<Certificate>(&scope, &id).await?.into()))
}

async fn certificate_in_scope(
    auth: &Authorized,
    state: &AppState,
    id: &str,
) -> Result<(certautopilot_core::ProjectScope, Certificate), ApiError> {
    let id: CertificateId = path_id(id, "certificate")?;
    let scope = auth.scope_of_record(RecordKind::Certificate, &id.to_string(), "certificate").await?;
    let cert = state.store()?.get::<Certificate>(&scope, &id).await?;
    Ok((scope, cert))
}

/// Queues a job for the certificate's actor with an audit entry in the same transaction.
async fn queue(
    auth: &Authorized,
    state: &AppState,
    scope: &certautopilot_core::ProjectScope,
    cert: &Certificate,
    job: NewJob,
    action: &str,
    details: serde_json::Value,
) -> Result<HttpResponse, ApiError> {
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        action,
        Some(("certificate", cert.id.to_string())),
        Some(scope.project_id()),
        details,
    );
    let enqueued = state.store()?.insert_raw_and_enqueue(&scope.record_scope(), Vec::new(), job, Some(audit)).await?;
    state.wake_workers();
    Ok(HttpResponse::Accepted().json(JobQueued { job: enqueued.job.into(), created: enqueued.created }))
}

pub async fn renew(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    transition(cert.status, LifecycleEvent::StartRenew, cert.chain_pem.is_some())
        .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be renewed", cert.status)))?;
    let job = JobSpec::Renew { certificate_id: cert.id, reason: RenewReason::Requested, record_version: cert.version }
        .into_job(&scope, state.max_job_attempts);
    queue(&auth, &state, &scope, &cert, job, "cert.renew_requested", json!({ "serial": cert.serial })).await
}

pub async fn revoke(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<RevokeCertificate>,
) -> Result<HttpResponse, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    let reason_name = body.reason.as_deref().unwrap_or("unspecified");
    let reason = SUBSCRIBER_REVOCATION_REASONS
        .contains(&reason_name)
        .then(|| revocation_reason_code(reason_name))
        .flatten()
        .ok_or_else(|| {
            ApiError::invalid("reason", format!("must be one of {}", SUBSCRIBER_REVOCATION_REASONS.join(", ")))
        })?;
    // While a renewal runs, "the certificate" is about to change: the revocation would hit the new
    // one and leave the one on the targets valid. The caller revokes once it has finished.
    if cert.status == CertificateStatus::Renewing {
        return Err(ApiError::conflict(
            "a renewal is in progress; revoke once it has finished, so the certificate revoked is the one deployed",
        ));
    }
    transition(cert.status, LifecycleEvent::Revoked, cert.chain_pem.is_some())
        .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be revoked", cert.status)))?;
    let job = JobSpec::Revoke { certificate_id: cert.id, reason: Some(reason), serial: cert.serial.clone() }
        .into_job(&scope, state.max_job_attempts);
    queue(
        &auth,
        &state,
        &scope,
        &cert,
        job,
        "cert.revoke_requested",
        json!({ "serial": cert.serial, "reason": reason_name }),
    )
    .await
}

/// The certificate's story: its audit entries (every state change) and its jobs' log lines
/// (every step), oldest first.
pub async fn timeline(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<TimelineView>, ApiError> {
    const MAX_ENTRIES: usize = 1_000;
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    let store: &std::sync::Arc<dyn Store> = state.store()?;
    let caller = auth.caller()?;
    let filter = AuditFilter {
        project_id: Some(scope.project_id()),
        object_id: Some(cert.id.to_string()),
        ..Default::default()
    };
    state.flush_audit(caller.org_scope().org_id()).await;
    let mut items: Vec<TimelineEntry> = store
        .search_audit_events(&caller.org_scope(), &filter, 0, MAX_ENTRIES)
        .await?
        .into_iter()
        .map(TimelineEntry::from)
        .collect();
    for (job_id, kind, line) in store.subject_job_logs(&scope, &cert.id.to_string(), MAX_ENTRIES).await? {
        items.push(TimelineEntry::from_log(job_id, kind, line));
    }
    items.sort_by_key(|e| e.at);
    items.truncate(MAX_ENTRIES);
    Ok(web::Json(TimelineView { items }))
}

/// The issued chain, leaf first, as `application/pem-certificate-chain` (RFC 8555 §9.1).
pub async fn chain(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (_, cert) = certificate_in_scope(&auth, &state, &id).await?;
    let chain = cert.chain_pem.ok_or_else(|| ApiError::not_found("issued certificate"))?;
    Ok(HttpResponse::Ok().content_type("application/pem-certificate-chain").body(chain))
}

/// Deploys the current certificate to every attached target again (one `distribute` job each).
pub async fn distribute(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    if cert.chain_pem.is_none() || cert.status == CertificateStatus::Revoked {
        return Err(ApiError::conflict(format!("a {} certificate has nothing to distribute", cert.status)));
    }
    if cert.target_ids.is_empty() {
        return Err(ApiError::conflict("the certificate has no targets; attach some first"));
    }
    let job = JobSpec::Distribute {
        certificate_id: cert.id,
        target_ids: Vec::new(),
        force: true,
        cause: DistributeCause::Requested,
    }
    .into_job(&scope, state.max_job_attempts);
    let details = json!({ "targets": cert.target_ids, "serial": cert.serial });
    queue(&auth, &state, &scope, &cert, job, "cert.distribute_requested", details).await
}

/// Where the certificate stands on each of its targets.
pub async fn deployments(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<crate::api::views::DeploymentList>, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    let page = certautopilot_core::store::PageRequest::first(1_000);
    let items = state
        .store()?
        .list_by_lookup::<certautopilot_core::model::Deployment>(&scope, &cert.id.to_string(), &page)
        .await?
        .items
        .into_iter()
        .map(crate::api::views::DeploymentView::from)
        .collect();
    Ok(web::Json(crate::api::views::DeploymentList { items }))
}

/// Replaces the certificate's targets (attach and detach in one call), with optimistic concurrency.
pub async fn set_targets(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<crate::api::views::SetTargets>,
) -> Result<web::Json<CertificateView>, ApiError> {
    let (scope, mut cert) = certificate_in_scope(&auth, &state, &id).await?;
    if body.version != cert.version {
        return Err(ApiError::new(
            crate::api::error::ErrorCode::VersionConflict,
            format!("the certificate is at version {}, not {}", cert.version, body.version),
        ));
    }
    let ids = resolve_targets(&state, &scope, &body.target_ids).await?;
    let before = std::mem::replace(&mut cert.target_ids, ids);
    cert.updated_at = state.now();
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "cert.targets_changed",
        Some(("certificate", cert.id.to_string())),
        Some(scope.project_id()),
        json!({ "before": before, "after": cert.target_ids }),
    );
    let cert = state.store()?.update_audited(&scope, &cert, audit).await?;
    Ok(web::Json(cert.into()))
}

/// The targets named, each checked to be in the project (422 on `target_ids[i]` otherwise),
/// without repeats, in the order given.
pub(super) async fn resolve_targets(
    state: &AppState,
    scope: &certautopilot_core::ProjectScope,
    target_ids: &[certautopilot_core::ids::TargetId],
) -> Result<Vec<certautopilot_core::ids::TargetId>, ApiError> {
    let mut ids = Vec::new();
    for (i, target) in target_ids.iter().enumerate() {
        let _: DistributionTarget =
            state.store()?.get(scope, target).await.map_err(related_missing(&format!("target_ids[{i}]"), "target"))?;
        if !ids.contains(target) {
            ids.push(*target);
        }
    }
    Ok(ids)
}

/// The version check every edit starts with.
fn at_version(cert: &Certificate, version: u64) -> Result<(), ApiError> {
    if version == cert.version {
        return Ok(());
    }
    Err(ApiError::new(
        crate::api::error::ErrorCode::VersionConflict,
        format!("the certificate is at version {}, not {version}", cert.version),
    ))
}

/// Changes a certificate's renewal policy, targets or pause (issue 15, item 5), version-checked,
/// all fields checked before anything is written. One `cert.updated` entry lists each change as
/// `{before, after}`; a request that changes nothing writes nothing.
pub async fn update(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<UpdateCertificate>,
) -> Result<web::Json<CertificateView>, ApiError> {
    let (scope, mut cert) = certificate_in_scope(&auth, &state, &id).await?;
    at_version(&cert, body.version)?;
    let mut changes = serde_json::Map::new();
    if let Some(days) = body.renew_before_days {
        let days = days.map(|d| door::renew_before_days(Some(&cert), d)).transpose()?;
        if days != cert.renew_before_days {
            changes.insert("renew_before_days".into(), json!({ "before": cert.renew_before_days, "after": days }));
            cert.renew_before_days = days;
        }
    }
    if let Some(target_ids) = &body.target_ids {
        let ids = resolve_targets(&state, &scope, target_ids).await?;
        if ids != cert.target_ids {
            changes.insert("target_ids".into(), json!({ "before": cert.target_ids, "after": ids }));
            cert.target_ids = ids;
        }
    }
    if let Some(paused) = body.paused
        && paused != cert.paused
    {
        changes.insert("paused".into(), json!({ "before": cert.paused, "after": paused }));
        cert.paused = paused;
    }
    if changes.is_empty() {
        return Ok(web::Json(cert.into()));
    }
    // The window follows the policy (a CA's ARI window still wins); a paused certificate keeps
    // `renew_at` for the view, and the store leaves it out of the renewal index.
    if cert.status == CertificateStatus::Issued {
        cert.renew_at = cert.renewal_window_start();
    }
    cert.updated_at = state.now();
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "cert.updated",
        Some(("certificate", cert.id.to_string())),
        Some(scope.project_id()),
        serde_json::Value::Object(changes),
    );
    let cert = state.store()?.update_audited(&scope, &cert, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, paused = cert.paused, "certificate updated");
    Ok(web::Json(cert.into()))
}

/// Deletes a certificate with its deployment records and sealed keys (issue 15, item 5). A
/// certificate still valid and not revoked is refused: revoke it first (`POST …/revoke`), then
/// delete. The files already on targets stay where they are; the story stays in the audit chain,
/// closed by `cert.deleted`.
pub async fn delete(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    if matches!(cert.status, CertificateStatus::Issuing | CertificateStatus::Renewing) {
        return Err(ApiError::conflict(format!(
            "a job is {} this certificate; delete it once that job has ended",
            if cert.status == CertificateStatus::Issuing { "issuing" } else { "renewing" }
        )));
    }
    let valid = cert.not_after.is_some_and(|t| t > state.now());
    if cert.chain_pem.is_some() && cert.status != CertificateStatus::Revoked && valid {
        return Err(ApiError::conflict(format!(
            "the certificate (serial {}) is valid and not revoked: revoke it first (POST /api/v1/certificates/{}/revoke), then delete it",
            cert.serial.as_deref().unwrap_or("unknown"),
            cert.id
        )));
    }
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "cert.deleted",
        Some(("certificate", cert.id.to_string())),
        Some(scope.project_id()),
        json!({
            "common_name": cert.common_name,
            "sans": cert.sans,
            "status": cert.status,
            "serial": cert.serial,
            "not_after": cert.not_after,
            "revoked_at": cert.revoked_at,
            "targets": cert.target_ids,
            "replaced_serials": cert.history.iter().map(|h| h.serial.as_str()).collect::<Vec<_>>(),
        }),
    );
    state.store()?.delete_certificate(&scope, cert.id, cert.version, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, "certificate deleted");
    Ok(HttpResponse::NoContent().finish())
}
