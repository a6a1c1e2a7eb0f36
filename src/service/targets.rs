//! Distribution targets. The configuration is decoded into a typed `TargetConfig` and checked per
//! type (core's `target_check`) under this host's file policy; its secret part (an SSH private
//! key, a webhook's HMAC secret) is sealed as the target's credential and never returned.
//! Invariant: only owners set a reload command (it runs on the service's host); a kept secret
//! never follows a moved destination (`rebind`); a target a certificate uses is not deleted.

use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{ProjectId, TargetId};
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::model::{Certificate, DistributionTarget, SealedSecret, TargetConfig, TargetKind};
use certautopilot_core::store::{PageRequest, RecordKind, RecordStore, ScopeArg};
use serde_json::{Map, Value, json};

use crate::api::views::{CreateTarget, JobQueued, TargetPage, TargetView, UpdateTarget};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::rebind::SecretBinding;
use crate::service::state::AppState;
use crate::service::{records, validate};

pub async fn list(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<TargetPage, ApiError> {
    Ok(records::list::<DistributionTarget, TargetView>(auth, project, page).await?.into())
}

pub async fn create(auth: &Authorized, input: CreateTarget) -> Result<TargetView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let name = validate::name("name", &input.name)?;
    let Value::Object(config) = input.config else { return Err(ApiError::invalid("config", "must be an object")) };
    only_owners_set_reload_commands(auth, &config)?;
    let (config, secret) = validate_config(state, &input.kind, &config)?;
    let kind = config.kind();
    let mut target = DistributionTarget::new(scope.project_id(), name, config, state.now());
    if let Some(secret) = secret {
        target.credential = Some(seal_credential(state, &target, &secret)?);
    }
    let details = json!({ "name": target.name, "type": target.kind() });
    let object = Some(("target", target.id.to_string()));
    let audit = auth.audit("target.created", object, Some(scope.project_id()), details).await?;
    state.store()?.insert_audited(&scope, &target, audit).await?;
    tracing::info!(project_id = %scope.project_id(), target_id = %target.id, kind = ?kind, "target created");
    Ok(TargetView::from(target))
}

pub async fn get(auth: &Authorized, id: TargetId) -> Result<TargetView, ApiError> {
    let (_, target): (_, DistributionTarget) = records::addressed(auth, &id, "target").await?;
    Ok(target.into())
}

/// Deletes a target no certificate is attached to.
pub async fn delete(auth: &Authorized, id: TargetId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::DistributionTarget, &id.to_string(), "target").await?;
    records::ensure_unreferenced::<Certificate>(auth, &scope, "target", |c| c.target_ids.contains(&id)).await?;
    records::delete_with_audit::<DistributionTarget>(auth, &scope, &id.to_string(), "target.deleted", "target").await
}

/// A reload command runs on the service's host as the service's user: only owners may set one.
fn only_owners_set_reload_commands(auth: &Authorized, config: &Map<String, Value>) -> Result<(), ApiError> {
    if config.get("reload_command").is_some_and(|v| !v.is_null()) && !auth.caller()?.is_owner() {
        return Err(ApiError::forbidden("only organization owners may set a reload_command"));
    }
    Ok(())
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
pub async fn update(auth: &Authorized, id: TargetId, input: UpdateTarget) -> Result<TargetView, ApiError> {
    let (scope, mut target): (_, DistributionTarget) = records::addressed(auth, &id, "target").await?;
    let state = auth.state();
    records::at_version("target", target.version, input.version)?;
    if let Some(name) = &input.name {
        target.name = validate::name("name", name)?;
    }
    if let Some(config) = input.config {
        let Value::Object(mut config) = config else { return Err(ApiError::invalid("config", "must be an object")) };
        only_owners_set_reload_commands(auth, &config)?;
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
        let (config, secret) = validate_config(state, target.kind().as_str(), &config)?;
        secret_binding(target.kind()).check("config.", &target.config.to_json(), &config.to_json(), &given)?;
        target.config = config;
        if let Some(secret) = secret {
            target.credential = Some(seal_credential(state, &target, &secret)?);
        }
    }
    target.updated_at = state.now();
    let details = json!({ "name": target.name, "type": target.kind() });
    let object = Some(("target", target.id.to_string()));
    let audit = auth.audit("target.updated", object, Some(scope.project_id()), details).await?;
    let target = state.store()?.update_audited(&scope, &target, audit).await?;
    Ok(target.into())
}

/// The fields that decide where each kind's secret is sent, and the secret's field.
fn secret_binding(kind: TargetKind) -> SecretBinding {
    SecretBinding { destination: kind.secret_destination(), secrets: kind.secret_fields() }
}

/// Scans the target for drift now (a `scan` job), waking this process's worker.
pub async fn scan(auth: &Authorized, id: TargetId) -> Result<JobQueued, ApiError> {
    let (scope, target): (_, DistributionTarget) = records::addressed(auth, &id, "target").await?;
    let state = auth.state();
    let job = JobSpec::Scan { target_id: target.id, window: None }.into_job(&scope, state.max_job_attempts);
    let object = Some(("target", target.id.to_string()));
    let audit =
        auth.audit("target.scan_requested", object, Some(scope.project_id()), json!({ "name": target.name })).await?;
    let enqueued = state.store()?.insert_raw_and_enqueue(&scope.record_scope(), Vec::new(), job, Some(audit)).await?;
    state.wake_workers();
    Ok(JobQueued { job: enqueued.job.into(), created: enqueued.created })
}
