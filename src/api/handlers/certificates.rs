//! Certificates: creating one stores it as `requested` and queues its issue job in the same
//! transaction; renew and revoke queue their jobs; the timeline merges the certificate's audit
//! entries with its jobs' logs; the chain downloads as PEM. The certificate actor does the work.

use actix_web::{HttpResponse, web};
use certautopilot_core::ids::CertificateId;
use certautopilot_core::lifecycle::{LifecycleEvent, transition};
use certautopilot_core::model::{AcmeAccount, Certificate, DistributionTarget, JobKind, NewJob};
use certautopilot_core::store::{AuditFilter, RecordKind, RecordStore, ScopeArg, Store};
use serde_json::json;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{
    CertificateCreated, CertificatePage, CertificateView, CreateCertificate, JobQueued, RevokeCertificate,
    TimelineEntry, TimelineView,
};
use crate::api::{AppState, validate};

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
    for (i, san) in body.sans.iter().enumerate() {
        let name = validate::certificate_name(&format!("sans[{i}]"), san)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.len() > validate::MAX_SANS {
        return Err(ApiError::invalid("sans", format!("at most {} names per certificate", validate::MAX_SANS)));
    }
    if let Some(days) = body.renew_before_days
        && !(1..=365).contains(&days)
    {
        return Err(ApiError::invalid("renew_before_days", "must be 1 to 365"));
    }
    let account: AcmeAccount = state
        .store()?
        .get(&scope, &body.acme_account_id)
        .await
        .map_err(related_missing("acme_account_id", "acme account"))?;
    for (i, target) in body.target_ids.iter().enumerate() {
        let _: DistributionTarget =
            state.store()?.get(&scope, target).await.map_err(related_missing(&format!("target_ids[{i}]"), "target"))?;
    }
    let mut certificate =
        Certificate::new(scope.project_id(), common_name, names, body.key_type, account.id, state.now());
    certificate.renew_before_days = body.renew_before_days;
    certificate.target_ids = body.target_ids;
    let job = NewJob::for_project(&scope, JobKind::Issue, state.max_job_attempts)
        .subject(certificate.id.to_string())
        .dedupe_key(format!("issue:{}", certificate.id))
        .payload(json!({ "certificate_id": certificate.id }));
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
    let job = NewJob::for_project(&scope, JobKind::Renew, state.max_job_attempts)
        .subject(cert.id.to_string())
        .dedupe_key(format!("renew:{}:manual:v{}", cert.id, cert.version))
        .payload(json!({ "certificate_id": cert.id, "reason": "requested" }));
    queue(&auth, &state, &scope, &cert, job, "cert.renew_requested", json!({ "serial": cert.serial })).await
}

/// RFC 5280 reason codes a subscriber may give.
const REVOCATION_REASONS: [(&str, u8); 5] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
];

pub async fn revoke(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<RevokeCertificate>,
) -> Result<HttpResponse, ApiError> {
    let (scope, cert) = certificate_in_scope(&auth, &state, &id).await?;
    let reason_name = body.reason.as_deref().unwrap_or("unspecified");
    let reason =
        REVOCATION_REASONS.iter().find(|(n, _)| *n == reason_name).map(|(_, code)| *code).ok_or_else(|| {
            let names: Vec<&str> = REVOCATION_REASONS.iter().map(|(n, _)| *n).collect();
            ApiError::invalid("reason", format!("must be one of {}", names.join(", ")))
        })?;
    transition(cert.status, LifecycleEvent::Revoked, cert.chain_pem.is_some())
        .map_err(|_| ApiError::conflict(format!("a {} certificate cannot be revoked", cert.status)))?;
    let job = NewJob::for_project(&scope, JobKind::Revoke, state.max_job_attempts)
        .subject(cert.id.to_string())
        .dedupe_key(format!("revoke:{}:{}", cert.id, cert.serial.clone().unwrap_or_default()))
        .payload(json!({ "certificate_id": cert.id, "reason": reason }));
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
    if cert.chain_pem.is_none() || cert.status == certautopilot_core::model::CertificateStatus::Revoked {
        return Err(ApiError::conflict(format!("a {} certificate has nothing to distribute", cert.status)));
    }
    if cert.target_ids.is_empty() {
        return Err(ApiError::conflict("the certificate has no targets; attach some first"));
    }
    let job = certautopilot_actors::issuance::distribute_job(&scope, cert.id, &[], true, state.max_job_attempts);
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
    let mut ids = Vec::new();
    for (i, target) in body.target_ids.iter().enumerate() {
        let _: DistributionTarget =
            state.store()?.get(&scope, target).await.map_err(related_missing(&format!("target_ids[{i}]"), "target"))?;
        if !ids.contains(target) {
            ids.push(*target);
        }
    }
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
