//! First run: the organization and its owner, once (also reachable as `certautopilot setup`).

use actix_web::{HttpResponse, web};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{OrgRole, Organization, User};
use certautopilot_core::store::StoreError;

use crate::api::auth::Authorized;
use crate::api::error::{ApiError, ErrorCode};
use crate::api::json::ApiJson;
use crate::api::views::{OrganizationView, SetupRequest, SetupResponse};
use crate::service::credentials::password;
use crate::service::state::{AUDIT_SECRET_FIELD, AppState, JWT_KEY_FIELD};
use crate::service::validate;
use certautopilot_core::Principal;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::model::AuditObject;
use certautopilot_core::store::AuditWrite;

pub async fn setup(
    _auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let (org, owner) = perform(&state, &body.org_name, &body.email, &body.password).await?;
    Ok(HttpResponse::Created().json(SetupResponse {
        organization: OrganizationView { id: org.id, name: org.name, created_at: org.created_at },
        owner: owner.into(),
    }))
}

/// Validates, creates the organization with a fresh sealed token-signing key, and its owner.
pub async fn perform(
    state: &AppState,
    org_name: &str,
    email: &str,
    password_text: &str,
) -> Result<(Organization, User), ApiError> {
    let org_name = validate::name("org_name", org_name)?;
    let email = validate::email("email", email)?;
    password::check_policy(password_text).map_err(|m| ApiError::invalid("password", m))?;
    let already = || ApiError::new(ErrorCode::AlreadySetUp, "the organization is already set up");
    if state.organization().await?.is_some() {
        return Err(already());
    }
    let now = state.now();
    let mut org = Organization::new(org_name, now);
    let mut key = vec![0u8; 32];
    rand::fill(&mut key[..]);
    org.jwt_signing_key = Some(state.envelope.seal(&org.id.to_string(), JWT_KEY_FIELD, &SecretBytes::new(key))?);
    let mut audit_key = vec![0u8; 32];
    rand::fill(&mut audit_key[..]);
    org.audit_secret =
        Some(state.envelope.seal(&org.id.to_string(), AUDIT_SECRET_FIELD, &SecretBytes::new(audit_key))?);
    let mut owner = User::new(org.id, &email, OrgRole::Owner, now);
    owner.password_hash = Some(hash_off_thread(state, password_text.to_owned()).await?);
    let audit = AuditWrite {
        draft: AuditDraft {
            org_id: org.id,
            actor: Principal::User(owner.id),
            action: "org.created".into(),
            object: Some(AuditObject { kind: "organization".into(), id: org.id.to_string() }),
            project_id: None,
            details: serde_json::json!({ "name": org.name, "owner": owner.id }),
        },
    };
    state.store()?.create_first_organization(&org, &owner, Some(audit)).await.map_err(|e| match e {
        StoreError::AlreadyExists { .. } => already(),
        other => other.into(),
    })?;
    tracing::info!(org_id = %org.id, owner_id = %owner.id, "organization set up");
    Ok((org, owner))
}

/// argon2 takes tens of milliseconds of CPU and 19 MiB: off the HTTP worker threads, and only as
/// many at once as `PasswordHashing` allows (503 past that).
pub async fn hash_off_thread(state: &AppState, password_text: String) -> Result<String, ApiError> {
    state.password_hashing.hash(password_text).await
}
