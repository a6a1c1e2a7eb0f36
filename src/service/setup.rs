//! First run: the organization and its owner, once (`POST /setup` and `certautopilot setup`).
//! Invariant: an installation has one organization; a second setup is refused and changes nothing.

use certautopilot_core::Principal;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AuditObject, OrgRole, Organization, User};
use certautopilot_core::store::{AuditWrite, StoreError};

use crate::api::views::{OrganizationView, SetupRequest, SetupResponse};
use crate::service::authorized::Authorized;
use crate::service::credentials::password;
use crate::service::error::{ApiError, ErrorCode};
use crate::service::state::{AUDIT_SECRET_FIELD, AppState, JWT_KEY_FIELD};
use crate::service::validate;

/// Sets the installation up: anyone may, once.
pub async fn setup(auth: &Authorized, input: SetupRequest) -> Result<SetupResponse, ApiError> {
    let (org, owner) = perform(auth.state(), &input.org_name, &input.email, &input.password).await?;
    Ok(SetupResponse {
        organization: OrganizationView { id: org.id, name: org.name, created_at: org.created_at },
        owner: owner.into(),
    })
}

/// Validates, creates the organization with fresh sealed token-signing and audit keys, and its
/// owner. The command line calls this directly: it has a state but no caller.
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
    org.jwt_signing_key = Some(state.envelope.seal(&org.id.to_string(), JWT_KEY_FIELD, &random_key())?);
    org.audit_secret = Some(state.envelope.seal(&org.id.to_string(), AUDIT_SECRET_FIELD, &random_key())?);
    let mut owner = User::new(org.id, &email, OrgRole::Owner, now);
    owner.password_hash = Some(state.password_hashing.hash(password_text.to_owned()).await?);
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

/// 32 random bytes: a fresh HMAC key.
fn random_key() -> SecretBytes {
    let mut key = vec![0u8; 32];
    rand::fill(&mut key[..]);
    SecretBytes::new(key)
}
