//! DNS credentials (the TSIG secret sealed, write-only) and zones bound to a credential of the same
//! project.

use actix_web::{HttpResponse, web};
use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{DnsCredentialId, ZoneId};
use certautopilot_core::model::{DnsCredential, DnsProvider, Zone};
use certautopilot_core::store::{RecordKind, RecordStore};
use serde_json::json;

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id, related_missing};
use crate::api::json::ApiJson;
use crate::api::views::{CreateDnsCredential, CreateZone, DnsCredentialPage, DnsCredentialView, ZonePage, ZoneView};
use crate::api::{AppState, validate};

const TSIG_ALGORITHMS: [&str; 3] = ["hmac-sha256", "hmac-sha384", "hmac-sha512"];
const MAX_NAMESERVERS: usize = 10;

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
    if !crate::api::schema::serde_names(&certautopilot_core::model::DnsProvider::ACCEPTED).contains(&body.provider) {
        return Err(ApiError::invalid("provider", "must be rfc2136 (other providers arrive with later releases)"));
    }
    let c = body.config;
    let (host, port) =
        c.server.rsplit_once(':').ok_or_else(|| ApiError::invalid("config.server", "must be host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(ApiError::invalid("config.server", "port must be 1 to 65535"));
    }
    if host.parse::<std::net::IpAddr>().is_err() {
        validate::domain("config.server", host, false)?;
    }
    let key_name = validate::domain("config.key_name", &c.key_name, false)
        .or_else(|_| validate::name("config.key_name", &c.key_name))?;
    let algorithm = c.algorithm.to_ascii_lowercase();
    if !TSIG_ALGORITHMS.contains(&algorithm.as_str()) {
        return Err(ApiError::invalid("config.algorithm", format!("must be one of {}", TSIG_ALGORITHMS.join(", "))));
    }
    let secret_bytes = base64::engine::general_purpose::STANDARD
        .decode(c.secret.trim())
        .map_err(|_| ApiError::invalid("config.secret", "must be base64"))?;
    if secret_bytes.len() < 16 {
        return Err(ApiError::invalid("config.secret", "must be at least 16 bytes"));
    }
    if c.nameservers.len() > MAX_NAMESERVERS {
        return Err(ApiError::invalid("config.nameservers", format!("at most {MAX_NAMESERVERS} servers")));
    }
    for (i, ns) in c.nameservers.iter().enumerate() {
        if ns.parse::<std::net::SocketAddr>().is_err() {
            return Err(ApiError::invalid(format!("config.nameservers[{i}]"), "must be ip:port"));
        }
    }
    let mut credential =
        DnsCredential::new(scope.project_id(), validate::name("name", &body.name)?, DnsProvider::Rfc2136, state.now());
    credential.config = json!({ "server": c.server, "key_name": key_name, "algorithm": algorithm });
    if !c.nameservers.is_empty() {
        credential.config["nameservers"] = json!(c.nameservers);
    }
    credential.secret =
        Some(state.envelope.seal(&credential.id.to_string(), "secret", &SecretBytes::from_text(c.secret.trim()))?);
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "credential.created",
        Some(("dns_credential", credential.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": credential.name, "provider": credential.provider }),
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
    super::ensure_unreferenced::<Zone>(&state, &scope, "dns credential", |z| z.credential_id == id).await?;
    super::delete_with_audit::<DnsCredential>(
        &auth,
        &state,
        &scope,
        &id.to_string(),
        "credential.deleted",
        "dns_credential",
    )
    .await
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
    super::delete_with_audit::<Zone>(&auth, &state, &scope, &id.to_string(), "zone.deleted", "zone").await
}
