//! DNS credentials (the TSIG secret sealed, write-only) and zones bound to a credential of the same
//! project. The settings are checked into core's typed `Rfc2136Config` (`Rfc2136Config::from_request`).

use actix_web::{HttpResponse, web};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{DnsCredentialId, ZoneId};
use certautopilot_core::model::{DnsCredential, Rfc2136Config, Zone};
use certautopilot_core::store::{RecordKind, RecordStore};
use serde_json::json;

use crate::api::AppState;
use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{CreateDnsCredential, CreateZone, DnsCredentialPage, DnsCredentialView, ZonePage, ZoneView};
use crate::service::validate;

pub async fn list_credentials(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<DnsCredentialPage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    Ok(web::Json(
        state.store()?.list::<DnsCredential>(&scope, &query.page()?).await?.map(DnsCredentialView::from).into(),
    ))
}

pub async fn create_credential(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateDnsCredential>,
) -> Result<HttpResponse, ApiError> {
    let scope = auth.project_scope(body.project_id).await?;
    if !crate::service::validate::serde_names(&certautopilot_core::model::DnsProvider::ACCEPTED)
        .contains(&body.provider)
    {
        return Err(ApiError::invalid("provider", "must be rfc2136 (other providers arrive with later releases)"));
    }
    let c = body.config;
    let (config, secret) = Rfc2136Config::from_request(c.server, c.key_name, &c.algorithm, &c.secret, c.nameservers)?;
    let mut credential =
        DnsCredential::new(scope.project_id(), validate::name("name", &body.name)?, config, state.now());
    credential.secret =
        Some(state.envelope.seal(&credential.id.to_string(), "secret", &SecretBytes::from_text(&secret))?);
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "credential.created",
        Some(("dns_credential", credential.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": credential.name, "provider": credential.provider() }),
    );
    state.store()?.insert_audited(&scope, &credential, audit).await?;
    tracing::info!(project_id = %scope.project_id(), credential_id = %credential.id, "dns credential created");
    Ok(HttpResponse::Created().json(DnsCredentialView::from(credential)))
}

pub async fn get_credential(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<DnsCredentialView>, ApiError> {
    let id: DnsCredentialId = path_id(&id, "dns credential")?;
    let scope = auth.scope_of_record(RecordKind::DnsCredential, &id.to_string(), "dns credential").await?;
    Ok(web::Json(state.store()?.get::<DnsCredential>(&scope, &id).await?.into()))
}

pub async fn delete_credential(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: DnsCredentialId = path_id(&id, "dns credential")?;
    let scope = auth.scope_of_record(RecordKind::DnsCredential, &id.to_string(), "dns credential").await?;
    super::ensure_unreferenced::<Zone>(&auth, &scope, "dns credential", |z| z.credential_id == id).await?;
    super::delete_with_audit::<DnsCredential>(&auth, &scope, &id.to_string(), "credential.deleted", "dns_credential")
        .await
        .map(|()| HttpResponse::NoContent().finish())
}

pub async fn list_zones(
    auth: Authorized,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<ZonePage>, ApiError> {
    let scope = auth.project_scope(query.project()?).await?;
    Ok(web::Json(state.store()?.list::<Zone>(&scope, &query.page()?).await?.map(ZoneView::from).into()))
}

pub async fn create_zone(
    auth: Authorized,
    state: web::Data<AppState>,
    ApiJson(body): ApiJson<CreateZone>,
) -> Result<HttpResponse, ApiError> {
    let scope = auth.project_scope(body.project_id).await?;
    let apex = validate::domain("apex", &body.apex, false)?;
    let credential: DnsCredential = state
        .store()?
        .get(&scope, &body.credential_id)
        .await
        .map_err(related_missing("credential_id", "dns credential"))?;
    let zone = Zone::new(scope.project_id(), apex, credential.id, state.now());
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "zone.created",
        Some(("zone", zone.id.to_string())),
        Some(scope.project_id()),
        json!({ "apex": zone.apex, "credential_id": zone.credential_id }),
    );
    state.store()?.insert_audited(&scope, &zone, audit).await?;
    tracing::info!(project_id = %scope.project_id(), zone_id = %zone.id, apex = %zone.apex, "zone created");
    Ok(HttpResponse::Created().json(ZoneView::from(zone)))
}

pub async fn get_zone(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<web::Json<ZoneView>, ApiError> {
    let id: ZoneId = path_id(&id, "zone")?;
    let scope = auth.scope_of_record(RecordKind::Zone, &id.to_string(), "zone").await?;
    Ok(web::Json(state.store()?.get::<Zone>(&scope, &id).await?.into()))
}

pub async fn delete_zone(
    auth: Authorized,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id: ZoneId = path_id(&id, "zone")?;
    let scope = auth.scope_of_record(RecordKind::Zone, &id.to_string(), "zone").await?;
    super::delete_with_audit::<Zone>(&auth, &scope, &id.to_string(), "zone.deleted", "zone")
        .await
        .map(|()| HttpResponse::NoContent().finish())
}
