//! DNS credentials (the provider's secret fields sealed, write-only) and zones bound to a credential
//! of the same project. A request's settings are checked into core's typed `DnsProviderConfig`
//! (`DnsProviderConfig::decode_request`).
//! Invariant: a zone names a credential of its own project, and a credential a zone still names
//! is not deleted.

use certautopilot_core::ids::{DnsCredentialId, ProjectId, ZoneId};
use certautopilot_core::model::{DnsCredential, DnsProvider, DnsProviderConfig, DnsSecret, Propagation, Zone};
use certautopilot_core::store::{PageRequest, RecordKind, RecordStore};
use serde_json::json;

use crate::api::views::{
    CreateDnsCredential, CreateZone, DnsCredentialPage, DnsCredentialView, PropagationBody, UpdateDnsCredential,
    UpdateZone, ZonePage, ZoneView,
};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::records::{self, related_missing};
use crate::service::validate;

pub async fn list_credentials(
    auth: &Authorized,
    project: ProjectId,
    page: PageRequest,
) -> Result<DnsCredentialPage, ApiError> {
    Ok(records::list::<DnsCredential, DnsCredentialView>(auth, project, page).await?.into())
}

pub async fn create_credential(auth: &Authorized, input: CreateDnsCredential) -> Result<DnsCredentialView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let (config, secret) = decode(auth, &input.provider, input.config)?;
    let mut credential =
        DnsCredential::new(scope.project_id(), validate::name("name", &input.name)?, config, state.now());
    credential.secret = seal(auth, &credential, secret.as_ref())?;
    let details = json!({ "name": credential.name, "provider": credential.provider() });
    let object = Some(("dns_credential", credential.id.to_string()));
    let audit = auth.audit("credential.created", object, Some(scope.project_id()), details).await?;
    state.store()?.insert_audited(&scope, &credential, audit).await?;
    tracing::info!(project_id = %scope.project_id(), credential_id = %credential.id, "dns credential created");
    Ok(DnsCredentialView::from(credential))
}

/// A request's provider and settings, checked: the provider is one this build accepts (and one the
/// caller may configure), the settings decode into its typed config.
fn decode(
    auth: &Authorized,
    provider: &str,
    config: serde_json::Value,
) -> Result<(DnsProviderConfig, Option<DnsSecret>), ApiError> {
    let names = validate::serde_names(&DnsProvider::ACCEPTED);
    let Some(at) = names.iter().position(|n| n == provider) else {
        return Err(ApiError::invalid("provider", format!("must be one of {}", names.join(", "))));
    };
    let provider = DnsProvider::ACCEPTED[at];
    only_owners_configure(auth, provider)?;
    let serde_json::Value::Object(config) = config else {
        return Err(ApiError::invalid("config", "must be an object"));
    };
    Ok(DnsProviderConfig::decode_request(provider, config)?)
}

/// Refuses a provider only owners may configure (the exec hook) to anyone else.
fn only_owners_configure(auth: &Authorized, provider: DnsProvider) -> Result<(), ApiError> {
    if provider.owner_only() && !auth.caller()?.is_owner() {
        // 403 (a question of who asks, not of the input), naming the field that asked for it.
        let name = certautopilot_connectors::dns::provider_name(provider);
        let refused = ApiError::forbidden(format!("only organization owners may configure the {name} provider"));
        return Err(ApiError { field: Some("provider".into()), ..refused });
    }
    Ok(())
}

/// The credential's secret sealed, bound to its id; a provider with secret fields needs them.
fn seal(
    auth: &Authorized,
    credential: &DnsCredential,
    secret: Option<&DnsSecret>,
) -> Result<Option<certautopilot_core::model::SealedSecret>, ApiError> {
    let provider = credential.provider();
    let Some(secret) = secret else {
        return match provider.secret_fields().first() {
            Some(field) => Err(ApiError::invalid(format!("config.{field}"), "is required")),
            None => Ok(None),
        };
    };
    let sealed = auth.state().envelope.seal(&credential.id.to_string(), "secret", &secret.plaintext(provider))?;
    Ok(Some(sealed))
}

/// Changes a credential's name or settings (the same provider's full settings object): secret
/// fields left out keep the sealed secret, given ones replace it; settings that move where the
/// secret is sent need it given again (`DnsProviderConfig::moves_secret`, the rebinding rule).
pub async fn update_credential(
    auth: &Authorized,
    id: DnsCredentialId,
    input: UpdateDnsCredential,
) -> Result<DnsCredentialView, ApiError> {
    let (scope, mut credential): (_, DnsCredential) = records::addressed(auth, &id, "dns credential").await?;
    let state = auth.state();
    records::at_version("dns credential", credential.version, input.version)?;
    let provider = credential.provider();
    only_owners_configure(auth, provider)?;
    let provider_name = validate::serde_names(&[provider]).concat();
    if let Some(given) = &input.provider
        && *given != provider_name
    {
        return Err(ApiError::invalid("provider", "a credential keeps its provider: create another credential"));
    }
    if let Some(name) = &input.name {
        credential.name = validate::name("name", name)?;
    }
    let mut secret_replaced = false;
    if let Some(config) = input.config {
        let (config, secret) = decode(auth, &provider_name, config)?;
        if secret.is_none() && credential.config.moves_secret(&config) {
            refuse_moved_secret(&credential.config, &config)?;
        }
        credential.config = config;
        if let Some(secret) = secret {
            credential.secret = seal(auth, &credential, Some(&secret))?;
            secret_replaced = true;
        }
    }
    credential.updated_at = state.now();
    let details = json!({ "name": credential.name, "provider": provider, "secret_replaced": secret_replaced });
    let object = Some(("dns_credential", credential.id.to_string()));
    let audit = auth.audit("credential.updated", object, Some(scope.project_id()), details).await?;
    let credential = state.store()?.update_audited(&scope, &credential, audit).await?;
    tracing::info!(project_id = %scope.project_id(), credential_id = %credential.id, "dns credential updated");
    Ok(credential.into())
}

/// The refusal of settings that send a kept secret somewhere else: names the secret field to give
/// again and the setting that moved.
fn refuse_moved_secret(stored: &DnsProviderConfig, updated: &DnsProviderConfig) -> Result<(), ApiError> {
    let provider = stored.provider();
    let Some(secret) = provider.secret_fields().first() else { return Ok(()) };
    let (old, new) = (stored.to_json(), updated.to_json());
    let moved =
        provider.secret_destination().iter().find(|f| old.get(**f) != new.get(**f)).copied().unwrap_or("config");
    Err(ApiError::invalid(
        format!("config.{secret}"),
        format!(
            "changing config.{moved} changes where the stored secret is sent: give config.{secret} again in the same request"
        ),
    ))
}

pub async fn get_credential(auth: &Authorized, id: DnsCredentialId) -> Result<DnsCredentialView, ApiError> {
    let (_, credential): (_, DnsCredential) = records::addressed(auth, &id, "dns credential").await?;
    Ok(credential.into())
}

/// Deletes a credential no zone uses.
pub async fn delete_credential(auth: &Authorized, id: DnsCredentialId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::DnsCredential, &id.to_string(), "dns credential").await?;
    records::ensure_unreferenced::<Zone>(auth, &scope, "dns credential", |z| z.credential_id == id).await?;
    records::delete_with_audit::<DnsCredential>(auth, &scope, &id.to_string(), "credential.deleted", "dns_credential")
        .await
}

pub async fn list_zones(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<ZonePage, ApiError> {
    Ok(records::list::<Zone, ZoneView>(auth, project, page).await?.into())
}

/// A zone served through a DNS credential of the same project.
pub async fn create_zone(auth: &Authorized, input: CreateZone) -> Result<ZoneView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let apex = validate::domain("apex", &input.apex, false)?;
    let credential: DnsCredential = state
        .store()?
        .get(&scope, &input.credential_id)
        .await
        .map_err(related_missing("credential_id", "dns credential"))?;
    let propagation = propagation(input.propagation)?;
    let mut zone = Zone::new(scope.project_id(), apex, credential.id, state.now());
    zone.propagation = propagation;
    let details = json!({ "apex": zone.apex, "credential_id": zone.credential_id, "propagation": zone.propagation });
    let audit =
        auth.audit("zone.created", Some(("zone", zone.id.to_string())), Some(scope.project_id()), details).await?;
    state.store()?.insert_audited(&scope, &zone, audit).await?;
    tracing::info!(project_id = %scope.project_id(), zone_id = %zone.id, apex = %zone.apex, "zone created");
    Ok(ZoneView::from(zone))
}

/// A request's propagation settings, checked (`propagation.<field>` names a refusal).
fn propagation(body: Option<PropagationBody>) -> Result<Propagation, ApiError> {
    match body {
        None => Ok(Propagation::default()),
        Some(body) => Ok(Propagation::check("propagation", body)?),
    }
}

/// Changes a zone's credential (another of the same project) or its propagation settings, at the
/// version read. Everything is checked before anything is written.
pub async fn update_zone(auth: &Authorized, id: ZoneId, input: UpdateZone) -> Result<ZoneView, ApiError> {
    let (scope, mut zone): (_, Zone) = records::addressed(auth, &id, "zone").await?;
    let state = auth.state();
    records::at_version("zone", zone.version, input.version)?;
    if let Some(credential_id) = input.credential_id {
        let credential: DnsCredential = state
            .store()?
            .get(&scope, &credential_id)
            .await
            .map_err(related_missing("credential_id", "dns credential"))?;
        zone.credential_id = credential.id;
    }
    if input.propagation.is_some() {
        zone.propagation = propagation(input.propagation)?;
    }
    zone.updated_at = state.now();
    let details = json!({ "apex": zone.apex, "credential_id": zone.credential_id, "propagation": zone.propagation });
    let audit =
        auth.audit("zone.updated", Some(("zone", zone.id.to_string())), Some(scope.project_id()), details).await?;
    let zone = state.store()?.update_audited(&scope, &zone, audit).await?;
    tracing::info!(project_id = %scope.project_id(), zone_id = %zone.id, "zone updated");
    Ok(zone.into())
}

pub async fn get_zone(auth: &Authorized, id: ZoneId) -> Result<ZoneView, ApiError> {
    let (_, zone): (_, Zone) = records::addressed(auth, &id, "zone").await?;
    Ok(zone.into())
}

pub async fn delete_zone(auth: &Authorized, id: ZoneId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::Zone, &id.to_string(), "zone").await?;
    records::delete_with_audit::<Zone>(auth, &scope, &id.to_string(), "zone.deleted", "zone").await
}
