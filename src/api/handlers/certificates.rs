//! Certificates: creating one stores it as `requested` and queues its issue job in the same
//! transaction (issuance itself is M1.5).

use actix_web::{HttpResponse, web};
use certautopilot_core::ids::CertificateId;
use certautopilot_core::model::{AcmeAccount, Certificate, DistributionTarget, JobKind, NewJob};
use certautopilot_core::store::{RecordKind, RecordStore};
use serde_json::json;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{CertificateCreated, CertificatePage, CertificateView, CreateCertificate};
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
    let common_name = validate::domain("common_name", &body.common_name, true)?;
    let mut names = vec![common_name.clone()];
    for (i, san) in body.sans.iter().enumerate() {
        let name = validate::domain(&format!("sans[{i}]"), san, true)?;
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
