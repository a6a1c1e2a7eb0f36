//! ACME accounts of a project. The EAB HMAC key is sealed and write-only. Creating or changing an
//! account fetches the CA's directory first (`directory::DirectoryCheck`), so a wrong URL or CA
//! bundle is refused then, not at the first order.
//! Invariant: every field is checked, and the directory fetched, before anything is written; a
//! kept EAB key never follows a trust change its giver did not make with it (`rebind`).

use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{AcmeAccountId, ProjectId};
use certautopilot_core::model::{
    AcmeAccount, AcmeAccountStatus, CATALOGUE, CatalogueEntry, Certificate, catalogue_entry,
};
use certautopilot_core::store::{PageRequest, RecordKind, RecordStore};
use serde_json::json;

use crate::api::views::{
    AcmeAccountPage, AcmeAccountView, AcmeCatalogueView, CatalogueEntryView, CreateAcmeAccount, UpdateAcmeAccount,
};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::rebind::SecretBinding;
use crate::service::state::AppState;
use crate::service::{records, validate};

const MAX_CA_BUNDLE: usize = 64 * 1024;

pub async fn list(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<AcmeAccountPage, ApiError> {
    Ok(records::list::<AcmeAccount, AcmeAccountView>(auth, project, page).await?.into())
}

pub async fn create(auth: &Authorized, input: CreateAcmeAccount) -> Result<AcmeAccountView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let name = validate::name("name", &input.name)?;
    let (directory_url, catalogue) = directory_of(&input)?;
    let mut account = AcmeAccount::new(scope.project_id(), name, directory_url, state.now());
    account.catalogue_id = catalogue.map(|entry| entry.id.to_owned());
    account.contact = contacts(&input.contact)?;
    account.tos_agreed = input.tos_agreed;
    let binding = eab(&input.eab_kid, &input.eab_hmac_key)?;
    if let Some(entry) = catalogue {
        entry.check_eab(binding.is_some())?;
    }
    if let Some((kid, key)) = binding {
        account.eab_kid = Some(kid);
        account.eab_hmac_key = Some(seal_eab_key(state, &account, &key)?);
    }
    account.ca_bundle_pem = input.ca_bundle_pem.map(ca_bundle).transpose()?;
    account.profiles =
        state.check_acme_directory(&account.directory_url, account.ca_bundle_pem.as_deref()).await?.profiles;
    let details = json!({ "name": account.name, "directory_url": account.directory_url,
        "ca": account.catalogue_id, "eab": account.eab_kid.is_some() });
    let audit = auth
        .audit("credential.created", Some(("acme_account", account.id.to_string())), Some(scope.project_id()), details)
        .await?;
    state.store()?.insert_audited(&scope, &account, audit).await?;
    tracing::info!(project_id = %scope.project_id(), account_id = %account.id, "acme account created");
    Ok(AcmeAccountView::from(account))
}

/// The ACME CAs known by name, for anyone signed in: public facts, no project's data.
pub fn catalogue(auth: &Authorized) -> Result<AcmeCatalogueView, ApiError> {
    auth.caller()?;
    Ok(AcmeCatalogueView { items: CATALOGUE.iter().map(CatalogueEntryView::from).collect() })
}

pub async fn get(auth: &Authorized, id: AcmeAccountId) -> Result<AcmeAccountView, ApiError> {
    let (_, account): (_, AcmeAccount) = records::addressed(auth, &id, "acme account").await?;
    Ok(account.into())
}

/// Deletes an account no certificate uses.
pub async fn delete(auth: &Authorized, id: AcmeAccountId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::AcmeAccount, &id.to_string(), "acme account").await?;
    records::ensure_unreferenced::<Certificate>(auth, &scope, "acme account", |c| {
        c.acme_account_id == Some(id)
            || c.fallback_account_ids.contains(&id)
            || c.issued_by == Some(id)
            || c.order.as_ref().and_then(|o| o.account_id) == Some(id)
    })
    .await?;
    records::delete_with_audit::<AcmeAccount>(auth, &scope, &id.to_string(), "credential.deleted", "acme_account").await
}

/// `mailto:` addresses, each a valid e-mail address, lower-cased.
fn contacts(given: &[String]) -> Result<Vec<String>, ApiError> {
    given
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("contact[{i}]");
            let address =
                c.strip_prefix("mailto:").ok_or_else(|| ApiError::invalid(&field, "must be a mailto: address"))?;
            Ok(format!("mailto:{}", validate::email(&field, address)?))
        })
        .collect()
}

/// An External Account Binding: both parts or neither. The key stays the text the CA issued.
/// The directory an account is created for: the URL typed, or the catalogue entry's (production
/// or staging); exactly one of the two.
fn directory_of(input: &CreateAcmeAccount) -> Result<(String, Option<&'static CatalogueEntry>), ApiError> {
    match (&input.directory_url, &input.ca) {
        (Some(_), Some(_)) => Err(ApiError::invalid("ca", "give directory_url or ca, not both")),
        (None, None) => Err(ApiError::invalid(
            "directory_url",
            "give the CA's directory URL, or ca: a CA of the catalogue (GET /api/v1/acme-catalogue)",
        )),
        (Some(_), None) if input.staging => {
            Err(ApiError::invalid("staging", "only with ca; give the staging directory as directory_url"))
        }
        (Some(url), None) => Ok((validate::url("directory_url", url)?, None)),
        (None, Some(id)) => {
            let entry = catalogue_entry(id)?;
            Ok((entry.directory(input.staging)?.to_owned(), Some(entry)))
        }
    }
}

fn eab(kid: &Option<String>, key: &Option<String>) -> Result<Option<(String, String)>, ApiError> {
    match (kid, key) {
        (None, None) => Ok(None),
        (Some(kid), Some(key)) => {
            let kid = validate::free_text("eab_kid", kid, 256)?;
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key.trim_end_matches('='))
                .map_err(|_| ApiError::invalid("eab_hmac_key", "must be base64url"))?;
            if decoded.is_empty() {
                return Err(ApiError::invalid("eab_hmac_key", "must not be empty"));
            }
            Ok(Some((kid, key.clone())))
        }
        (Some(_), None) => Err(ApiError::invalid("eab_hmac_key", "is required with eab_kid")),
        (None, Some(_)) => Err(ApiError::invalid("eab_kid", "is required with eab_hmac_key")),
    }
}

fn ca_bundle(pem: String) -> Result<String, ApiError> {
    if pem.len() > MAX_CA_BUNDLE || !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(ApiError::invalid("ca_bundle_pem", "must be PEM certificates, at most 64 KiB"));
    }
    Ok(pem)
}

fn seal_eab_key(
    state: &AppState,
    account: &AcmeAccount,
    key: &str,
) -> Result<certautopilot_core::model::SealedSecret, ApiError> {
    Ok(state.envelope.seal(&account.id.to_string(), "eab_hmac_key", &SecretBytes::from_text(key))?)
}

/// What decides where the account's EAB key goes (the CA the bundle trusts; the directory URL
/// cannot change at all), and the key itself (`service::rebind`).
const EAB_BINDING: SecretBinding = SecretBinding { destination: &["ca_bundle_pem"], secrets: &["eab_hmac_key"] };

/// Changes an account's contact, CA bundle or External Account Binding (issue 15, item 5),
/// version-checked. Every field is checked, and the CA's directory fetched with the resulting
/// trust, before anything is written; one `credential.updated` entry lists what changed.
pub async fn update(
    auth: &Authorized,
    id: AcmeAccountId,
    input: UpdateAcmeAccount,
) -> Result<AcmeAccountView, ApiError> {
    let (scope, mut account): (_, AcmeAccount) = records::addressed(auth, &id, "acme account").await?;
    let state = auth.state();
    records::at_version("acme account", account.version, input.version)?;
    if let Some(url) = &input.directory_url
        && validate::url("directory_url", url)? != account.directory_url
    {
        return Err(ApiError::invalid(
            "directory_url",
            "cannot change: an account is registered with one CA; create another account for another CA",
        ));
    }
    let mut changes = serde_json::Map::new();
    if let Some(given) = &input.contact {
        let contact = contacts(given)?;
        if contact != account.contact {
            changes.insert("contact".into(), json!({ "before": account.contact, "after": contact }));
            account.contact = contact;
        }
    }
    let stored_bundle = json!({ "ca_bundle_pem": account.ca_bundle_pem });
    if let Some(given) = input.ca_bundle_pem.clone() {
        let bundle = given.map(ca_bundle).transpose()?;
        if bundle != account.ca_bundle_pem {
            changes.insert(
                "ca_bundle".into(),
                json!({ "before": account.ca_bundle_pem.is_some(), "after": bundle.is_some(), "changed": true }),
            );
            account.ca_bundle_pem = bundle;
        }
    }
    let new_eab = eab(&input.eab_kid, &input.eab_hmac_key)?;
    if account.eab_hmac_key.is_some() {
        // A kept EAB key never follows a trust change its giver did not make with it.
        let mut given = serde_json::Map::new();
        if let Some((_, key)) = &new_eab {
            given.insert("eab_hmac_key".into(), json!(key));
        }
        EAB_BINDING.check("", &stored_bundle, &json!({ "ca_bundle_pem": account.ca_bundle_pem }), &given)?;
    }
    if let Some((kid, key)) = new_eab {
        rebind_eab(state, &mut account, &kid, &key, &mut changes)?;
    }
    if changes.is_empty() {
        return Ok(account.into());
    }
    account.profiles =
        state.check_acme_directory(&account.directory_url, account.ca_bundle_pem.as_deref()).await?.profiles;
    if account.status == AcmeAccountStatus::Failed {
        // The settings the CA refused have changed: the next order registers again.
        account.status = AcmeAccountStatus::Pending;
        account.last_error = None;
    }
    account.updated_at = state.now();
    let object = Some(("acme_account", account.id.to_string()));
    let audit =
        auth.audit("credential.updated", object, Some(scope.project_id()), serde_json::Value::Object(changes)).await?;
    let account = state.store()?.update_audited(&scope, &account, audit).await?;
    tracing::info!(project_id = %scope.project_id(), account_id = %account.id, "acme account updated");
    Ok(account.into())
}

/// Seals a new binding, or, on a registered account, accepts only the binding it was registered
/// with (given again to carry a trust change): the CA used it once, at registration.
fn rebind_eab(
    state: &AppState,
    account: &mut AcmeAccount,
    kid: &str,
    key: &str,
    changes: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), ApiError> {
    let same_key = match &account.eab_hmac_key {
        Some(sealed) => {
            state.envelope.open(&account.id.to_string(), "eab_hmac_key", sealed)?.expose() == key.as_bytes()
        }
        None => false,
    };
    let same = same_key && account.eab_kid.as_deref() == Some(kid);
    if same {
        return Ok(());
    }
    if account.status == AcmeAccountStatus::Registered {
        return Err(ApiError::conflict(
            "the account is registered with the CA, which used its binding once, at registration: the binding cannot change; create another account",
        ));
    }
    changes.insert("eab".into(), json!({ "before": account.eab_kid, "after": kid }));
    account.eab_kid = Some(kid.to_owned());
    account.eab_hmac_key = Some(seal_eab_key(state, account, key)?);
    Ok(())
}
