//! Distribution targets. The configuration is decoded into a typed `TargetConfig` and checked per
//! type (core's `target_check`); its secret part (an SSH private key, a webhook's HMAC secret) is
//! sealed as the target's credential and never returned.

use actix_web::{HttpResponse, web};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::TargetId;
use certautopilot_core::model::{DistributionTarget, SealedSecret, TargetConfig, TargetKind};
use certautopilot_core::store::{RecordKind, RecordStore};
use serde_json::{Map, Value, json};

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{CreateTarget, TargetPage, TargetView};
use crate::service::rebind::SecretBinding;
use crate::service::validate;

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<TargetPage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    Ok(web::Json(state.store()?.list::<DistributionTarget>(&scope, &query.page()?).await?.map(TargetView::from).into()))
}

pub async fn create(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateTarget>,
) -> Result<HttpResponse, ApiError> {
    let scope = auth.project_scope(body.project_id).await?;
    let name = validate::name("name", &body.name)?;
    let Value::Object(config) = body.config else { return Err(ApiError::invalid("config", "must be an object")) };
    // A reload command runs on the service's host as the service's user: only owners may set one.
    if config.get("reload_command").is_some_and(|v| !v.is_null()) && !auth.caller()?.is_owner() {
        return Err(ApiError::forbidden("only organization owners may set a reload_command"));
    }
    let (config, secret) = validate_config(&state, &body.kind, &config)?;
    let kind = config.kind();
    let mut target = DistributionTarget::new(scope.project_id(), name, config, state.now());
    if let Some(secret) = secret {
        target.credential = Some(seal_credential(&state, &target, &secret)?);
    }
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "target.created",
        Some(("target", target.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": target.name, "type": target.kind() }),
    );
    state.store()?.insert_audited(&scope, &target, audit).await?;
    tracing::info!(project_id = %scope.project_id(), target_id = %target.id, kind = ?kind, "target created");
    Ok(HttpResponse::Created().json(TargetView::from(target)))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<TargetView>, ApiError> {
    let id: TargetId = path_id(&id, "target")?;
    let scope = auth.scope_of_record(RecordKind::DistributionTarget, &id.to_string(), "target").await?;
    Ok(web::Json(state.store()?.get::<DistributionTarget>(&scope, &id).await?.into()))
}

pub async fn delete(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TargetId = path_id(&id, "target")?;
    let scope = auth.scope_of_record(RecordKind::DistributionTarget, &id.to_string(), "target").await?;
    super::ensure_unreferenced::<certautopilot_core::model::Certificate>(&auth, &scope, "target", |c| {
        c.target_ids.contains(&id)
    })
    .await?;
    super::delete_with_audit::<DistributionTarget>(&auth, &scope, &id.to_string(), "target.deleted", "target")
        .await
        .map(|()| HttpResponse::NoContent().finish())
}

/// Decodes and checks a target's configuration for its type (`TargetConfig::decode`, `validate`,
/// under this host's file policy); returns the settings and the checked secret (sealed as the
/// credential).
fn validate_config(
    state: &AppState,
    kind: &str,
    config: &Map<String, Value>,
) -> Result<(TargetConfig, Option<String>), ApiError> {
    let (mut typed, secret) = TargetConfig::decode(kind, config)?;
    typed.validate(state.file_targets.as_ref())?;
    let secret = secret.map(|s| typed.kind().validate_secret(&s)).transpose()?;
    Ok((typed, secret))
}

/// Seals a target's secret as its credential, in the form it has always had.
fn seal_credential(state: &AppState, target: &DistributionTarget, secret: &str) -> Result<SealedSecret, ApiError> {
    let plaintext = target
        .kind()
        .credential_plaintext(secret)
        .ok_or_else(|| ApiError::internal("target", &"this kind of target has no secret"))?;
    Ok(state.envelope.seal(&target.id.to_string(), "credential", &SecretBytes::new(plaintext))?)
}

/// Changes a target's name or configuration (its type stays). The configuration is given whole,
/// except its secrets: a secret left out keeps its stored value. Version-checked.
pub async fn update(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
    ApiJson(body): ApiJson<crate::api::views::UpdateTarget>,
) -> Result<web::Json<TargetView>, ApiError> {
    let id: TargetId = path_id(&id, "target")?;
    let scope = auth.scope_of_record(RecordKind::DistributionTarget, &id.to_string(), "target").await?;
    let mut target: DistributionTarget = state.store()?.get(&scope, &id).await?;
    if body.version != target.version {
        return Err(ApiError::new(
            crate::api::error::ErrorCode::VersionConflict,
            format!("the target is at version {}, not {}", target.version, body.version),
        ));
    }
    if let Some(name) = &body.name {
        target.name = validate::name("name", name)?;
    }
    if let Some(config) = body.config {
        let Value::Object(mut config) = config else { return Err(ApiError::invalid("config", "must be an object")) };
        if config.get("reload_command").is_some_and(|v| !v.is_null()) && !auth.caller()?.is_owner() {
            return Err(ApiError::forbidden("only organization owners may set a reload_command"));
        }
        // Secrets not given keep their stored values, unless the destination moves without them.
        let given = config.clone();
        if let Some(sealed) = &target.credential {
            let stored = state.envelope.open(&target.id.to_string(), "credential", sealed)?;
            if let Ok(Value::Object(secrets)) = serde_json::from_slice::<Value>(stored.expose()) {
                for (key, value) in secrets {
                    config.entry(key).or_insert(value);
                }
            }
        }
        let (config, secret) = validate_config(&state, target.kind().as_str(), &config)?;
        secret_binding(target.kind()).check("config.", &target.config.to_json(), &config.to_json(), &given)?;
        target.config = config;
        if let Some(secret) = secret {
            target.credential = Some(seal_credential(&state, &target, &secret)?);
        }
    }
    target.updated_at = state.now();
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "target.updated",
        Some(("target", target.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": target.name, "type": target.kind() }),
    );
    let target = state.store()?.update_audited(&scope, &target, audit).await?;
    Ok(web::Json(target.into()))
}

/// The fields that decide where each kind's secret is sent, and the secret's field.
fn secret_binding(kind: TargetKind) -> SecretBinding {
    SecretBinding { destination: kind.secret_destination(), secrets: kind.secret_fields() }
}

/// Scans the target for drift now (a `scan` job).
pub async fn scan(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: TargetId = path_id(&id, "target")?;
    let scope = auth.scope_of_record(RecordKind::DistributionTarget, &id.to_string(), "target").await?;
    let target: DistributionTarget = state.store()?.get(&scope, &id).await?;
    let job = certautopilot_core::jobs::JobSpec::Scan { target_id: target.id, window: None }
        .into_job(&scope, state.max_job_attempts);
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "target.scan_requested",
        Some(("target", target.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": target.name }),
    );
    use certautopilot_core::store::ScopeArg;
    let enqueued = state.store()?.insert_raw_and_enqueue(&scope.record_scope(), Vec::new(), job, Some(audit)).await?;
    state.wake_workers();
    Ok(HttpResponse::Accepted()
        .json(crate::api::views::JobQueued { job: enqueued.job.into(), created: enqueued.created }))
}
