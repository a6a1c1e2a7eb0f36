//! ACME accounts of a project. The EAB HMAC key is sealed and write-only.

use actix_web::{HttpResponse, web};
use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::AcmeAccountId;
use certautopilot_core::model::AcmeAccount;
use certautopilot_core::store::{RecordKind, RecordStore};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::views::{AcmeAccountPage, AcmeAccountView, CreateAcmeAccount};
use crate::api::{AppState, validate};

const MAX_CA_BUNDLE: usize = 64 * 1024;

pub async fn list(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<AcmeAccountPage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    let page = state.store()?.list::<AcmeAccount>(&scope, &query.page()?).await?;
    Ok(web::Json(page.map(AcmeAccountView::from).into()))
}

pub async fn create(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateAcmeAccount>,
) -> Result<HttpResponse, ApiError> {
    let scope = auth.project_scope(body.project_id).await?;
    let mut account = AcmeAccount::new(
        scope.project_id(),
        validate::name("name", &body.name)?,
        validate::url("directory_url", &body.directory_url)?,
        state.now(),
    );
    account.contact = body
        .contact
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("contact[{i}]");
            let address =
                c.strip_prefix("mailto:").ok_or_else(|| ApiError::invalid(&field, "must be a mailto: address"))?;
            Ok(format!("mailto:{}", validate::email(&field, address)?))
        })
        .collect::<Result<_, ApiError>>()?;
    account.tos_agreed = body.tos_agreed;
    match (body.eab_kid, body.eab_hmac_key) {
        (None, None) => {}
        (Some(kid), Some(key)) => {
            let kid = validate::free_text("eab_kid", &kid, 256)?;
            let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(key.trim_end_matches('='))
                .map_err(|_| ApiError::invalid("eab_hmac_key", "must be base64url"))?;
            if decoded.is_empty() {
                return Err(ApiError::invalid("eab_hmac_key", "must not be empty"));
            }
            account.eab_kid = Some(kid);
            account.eab_hmac_key =
                Some(state.envelope.seal(&account.id.to_string(), "eab_hmac_key", &SecretBytes::from_text(&key))?);
        }
        (Some(_), None) => return Err(ApiError::invalid("eab_hmac_key", "is required with eab_kid")),
        (None, Some(_)) => return Err(ApiError::invalid("eab_kid", "is required with eab_hmac_key")),
    }
    if let Some(pem) = body.ca_bundle_pem {
        if pem.len() > MAX_CA_BUNDLE || !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ApiError::invalid("ca_bundle_pem", "must be PEM certificates, at most 64 KiB"));
        }
        account.ca_bundle_pem = Some(pem);
    }
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "credential.created",
        Some(("acme_account", account.id.to_string())),
        Some(scope.project_id()),
        serde_json::json!({ "name": account.name, "directory_url": account.directory_url, "eab": account.eab_kid.is_some() }),
    );
    state.store()?.insert_audited(&scope, &account, audit).await?;
    tracing::info!(project_id = %scope.project_id(), account_id = %account.id, "acme account created");
    Ok(HttpResponse::Created().json(AcmeAccountView::from(account)))
}

pub async fn get(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<AcmeAccountView>, ApiError> {
    let id: AcmeAccountId = path_id(&id, "acme account")?;
    let scope = auth.scope_of_record(RecordKind::AcmeAccount, &id.to_string(), "acme account").await?;
    let account: AcmeAccount = state.store()?.get(&scope, &id).await?;
    Ok(web::Json(account.into()))
}

pub async fn delete(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: AcmeAccountId = path_id(&id, "acme account")?;
    let scope = auth.scope_of_record(RecordKind::AcmeAccount, &id.to_string(), "acme account").await?;
    super::ensure_unreferenced::<certautopilot_core::model::Certificate>(&state, &scope, "acme account", |c| {
        c.acme_account_id == id
    })
    .await?;
    super::delete_with_audit::<AcmeAccount>(
        &auth,
        &state,
        &scope,
        &id.to_string(),
        "credential.deleted",
        "acme_account",
    )
    .await
}
