//! Certificates issued elsewhere: importing one (a PEM chain with or without its key, or a PKCS#12
//! file) records it `unmanaged` to be watched (expiry, drift, alerts); putting it under management
//! gives it an issuer that renews it from then on.
//! Invariant: an import refused here stores nothing; the key is sealed before it is stored and, like
//! the PKCS#12 password, appears in no answer, error or audit entry; a certificate is in a project
//! once (by its SHA-256 fingerprint); only an `unmanaged` certificate is put under management, and
//! only when its names are ones issuance can serve.

use base64::Engine;
use certautopilot_connectors::import::{ImportError, ImportedCertificate, MAX_IMPORT_BYTES, from_pem, from_pkcs12};
use certautopilot_core::ProjectScope;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::lifecycle::put_under_management;
use certautopilot_core::model::{Certificate, CertificateOrigin, CertificateStatus};
use certautopilot_core::store::{PageRequest, RecordStore};
use serde_json::json;

use crate::api::views::{CertificateView, ImportCertificate, ManageCertificate};
use crate::service::authorized::Authorized;
use crate::service::certificates::{issuers, names_served, renewal_lead, resolve_targets, set_lead};
use crate::service::error::ApiError;
use crate::service::records;
use crate::service::state::AppState;
use crate::service::validate;

/// Imports a certificate issued elsewhere as `unmanaged`.
pub async fn import(auth: &Authorized, input: ImportCertificate) -> Result<CertificateView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let target_ids = input.target_ids.clone();
    // Decrypting a PKCS#12 file and checking a key take CPU time: off the request's thread.
    let (imported, source) = tokio::task::spawn_blocking(move || read(&input))
        .await
        .map_err(|e| ApiError::internal("reading the certificate to import", &e))??;
    resolve_targets(state, &scope, &target_ids).await?;
    if let Some(existing) = with_fingerprint(state, &scope, &imported.leaf.fingerprint_sha256).await? {
        return Err(ApiError::conflict(format!(
            "this certificate (SHA-256 {}) is already in the project as {}",
            imported.leaf.fingerprint_sha256, existing.id
        )));
    }
    let mut cert = Certificate::unmanaged(
        scope.project_id(),
        imported.issued_elsewhere(),
        CertificateOrigin::Imported,
        state.now(),
    );
    cert.target_ids = target_ids;
    cert.private_key = imported
        .key_pem
        .as_ref()
        .map(|key| state.envelope.seal(&cert.id.to_string(), "private_key", key))
        .transpose()?;
    let details = json!({
        "common_name": cert.common_name, "sans": cert.sans, "serial": cert.serial,
        "fingerprint_sha256": cert.fingerprint_sha256, "not_after": cert.not_after,
        "with_key": cert.private_key.is_some(), "format": if source == "chain_pem" { "pem" } else { "pkcs12" },
    });
    let object = Some(("certificate", cert.id.to_string()));
    let audit = auth.audit("cert.imported", object, Some(scope.project_id()), details).await?;
    state.store()?.insert_audited(&scope, &cert, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, "certificate imported");
    Ok(cert.into())
}

/// The certificate to import, read from the request, and the field it came in.
fn read(input: &ImportCertificate) -> Result<(ImportedCertificate, &'static str), ApiError> {
    let refused = |field: &'static str| move |e: ImportError| ApiError::invalid(field, e.to_string());
    match (&input.chain_pem, &input.pkcs12_base64) {
        (Some(chain), None) => {
            if input.password.is_some() {
                return Err(ApiError::invalid("password", "goes with pkcs12_base64 only"));
            }
            let key_field = if input.private_key_pem.is_some() { "private_key_pem" } else { "chain_pem" };
            match from_pem(chain, input.private_key_pem.as_deref()) {
                Ok(imported) => Ok((imported, "chain_pem")),
                Err(e @ (ImportError::KeyNotPkcs8 | ImportError::KeyMismatch)) => Err(refused(key_field)(e)),
                Err(e) => Err(refused("chain_pem")(e)),
            }
        }
        (None, Some(b64)) => {
            if input.private_key_pem.is_some() {
                return Err(ApiError::invalid("private_key_pem", "a PKCS#12 file carries its own key; leave this out"));
            }
            let password = input
                .password
                .as_deref()
                .ok_or_else(|| ApiError::invalid("password", "give the PKCS#12 file's password"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
                .filter(|b| b.len() <= MAX_IMPORT_BYTES)
                .ok_or_else(|| {
                    ApiError::invalid("pkcs12_base64", "must be a PKCS#12 file of at most 64 KiB, base64")
                })?;
            let password = SecretBytes::from_text(password);
            let imported =
                from_pkcs12(&bytes, password.expose_str().unwrap_or_default()).map_err(refused("pkcs12_base64"))?;
            Ok((imported, "pkcs12_base64"))
        }
        (Some(_), Some(_)) => Err(ApiError::invalid("pkcs12_base64", "give chain_pem or pkcs12_base64, not both")),
        (None, None) => Err(ApiError::invalid("chain_pem", "give chain_pem (PEM) or pkcs12_base64 (PKCS#12)")),
    }
}

/// The project's certificate whose current leaf, or a version it replaced, has `fingerprint`.
async fn with_fingerprint(
    state: &AppState,
    scope: &ProjectScope,
    fingerprint: &str,
) -> Result<Option<Certificate>, ApiError> {
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = state.store()?.list::<Certificate>(scope, &page).await?;
        let holds = |c: &Certificate| {
            c.fingerprint_sha256.as_deref() == Some(fingerprint)
                || c.history.iter().any(|h| h.fingerprint_sha256 == fingerprint)
        };
        if let Some(found) = batch.items.into_iter().find(holds) {
            return Ok(Some(found));
        }
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => return Ok(None),
        }
    }
}

/// Puts an unmanaged certificate under management: its issuer renews it when its window opens (at
/// once if it is already due or expired).
pub async fn manage(
    auth: &Authorized,
    id: CertificateId,
    input: ManageCertificate,
) -> Result<CertificateView, ApiError> {
    let (scope, mut cert): (ProjectScope, Certificate) = records::addressed(auth, &id, "certificate").await?;
    let state = auth.state();
    records::at_version("certificate", cert.version, input.version)?;
    if cert.status != CertificateStatus::Unmanaged {
        return Err(ApiError::conflict(format!(
            "a {} certificate is already managed; change it with PATCH",
            cert.status
        )));
    }
    let mut given = Vec::new();
    for (i, name) in cert.sans.iter().enumerate() {
        let field = format!("sans[{i}]");
        let checked = validate::certificate_name(&field, name).map_err(|e| {
            ApiError::invalid(
                &field,
                format!("the certificate names {name}, which issuance cannot renew: {}", e.detail),
            )
        })?;
        given.push((field, checked));
    }
    names_served(state, &scope, &given).await?;
    let (account, fallbacks) = issuers(state, &scope, input.acme_account_id, &input.fallback_account_ids).await?;
    cert.fallback_account_ids = fallbacks;
    let lead = renewal_lead(Some(&cert), input.renew_before_days, input.renew_before_hours)?;
    set_lead(&mut cert, lead);
    cert.keep_fallback_issuer = input.keep_fallback_issuer;
    let moved = put_under_management(&mut cert, account.id)
        .map_err(|e| ApiError::conflict(format!("{e}; it is managed already")))?;
    cert.updated_at = state.now();
    let details = json!({ "acme_account_id": account.id, "fallback_account_ids": cert.fallback_account_ids,
        "renew_at": cert.renew_at });
    let object = Some(("certificate", cert.id.to_string()));
    let audit = auth.audit(moved.audit.unwrap_or("cert.managed"), object, Some(scope.project_id()), details).await?;
    let cert = state.store()?.update_audited(&scope, &cert, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, "certificate put under management");
    Ok(cert.into())
}
