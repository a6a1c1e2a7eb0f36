//! Distribution targets. The configuration is checked per type; its secret parts (an SSH private key,
//! a webhook's HMAC secret) are sealed together as the target's credential and never returned.

use actix_web::{HttpResponse, web};
use certautopilot_connectors::targets::{FilePathPolicy, MAX_CERT_MODE, MAX_KEY_MODE, check_mode};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::TargetId;
use certautopilot_core::model::{DistributionTarget, TargetKind};
use certautopilot_core::store::{RecordKind, RecordStore};
use serde_json::{Map, Value, json};

use crate::api::auth::Authorized;
use crate::api::error::ApiError;
use crate::api::handlers::{ListQuery, path_id};
use crate::api::json::ApiJson;
use crate::api::rebind::SecretBinding;
use crate::api::views::{CreateTarget, TargetPage, TargetView};
use crate::api::{AppState, validate};

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
    let (kind, public, secret) = validate_config(&state, &body.kind, &config)?;
    let mut target = DistributionTarget::new(scope.project_id(), name, kind, state.now());
    target.config = public;
    if let Some(secret) = secret {
        let plaintext = SecretBytes::new(serde_json::to_vec(&secret).map_err(|e| ApiError::internal("target", &e))?);
        target.credential = Some(state.envelope.seal(&target.id.to_string(), "credential", &plaintext)?);
    }
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "target.created",
        Some(("target", target.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": target.name, "type": target.kind }),
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
    super::ensure_unreferenced::<certautopilot_core::model::Certificate>(&state, &scope, "target", |c| {
        c.target_ids.contains(&id)
    })
    .await?;
    super::delete_with_audit::<DistributionTarget>(&auth, &state, &scope, &id.to_string(), "target.deleted", "target")
        .await
}

/// Checks a target's configuration for its type; returns the kind, the public part and the secret
/// part (sealed as the credential).
fn validate_config(
    state: &AppState,
    kind: &str,
    config: &Map<String, Value>,
) -> Result<(TargetKind, Value, Option<Value>), ApiError> {
    let secret = |kind, (public, secret): (Value, Value)| (kind, public, Some(secret));
    Ok(match kind {
        "file" => (TargetKind::File, file_config(&state.file_targets, config)?, None),
        "ssh" => secret(TargetKind::Ssh, ssh_config(config)?),
        "webhook" => secret(TargetKind::Webhook, webhook_config(config)?),
        "kubernetes" => secret(TargetKind::Kubernetes, kubernetes_config(config)?),
        "vault" => secret(TargetKind::Vault, vault_config(config)?),
        "f5" => secret(TargetKind::F5, f5_config(config)?),
        "netscaler" => secret(TargetKind::Netscaler, netscaler_config(config)?),
        "iis" => secret(TargetKind::Iis, iis_config(config)?),
        _ => {
            return Err(ApiError::invalid(
                "type",
                "must be file, ssh, webhook, kubernetes, vault, f5, netscaler or iis",
            ));
        }
    })
}

fn kind_name(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::File => "file",
        TargetKind::Ssh => "ssh",
        TargetKind::Webhook => "webhook",
        TargetKind::Kubernetes => "kubernetes",
        TargetKind::Vault => "vault",
        TargetKind::F5 => "f5",
        TargetKind::Netscaler => "netscaler",
        TargetKind::Iis => "iis",
    }
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
        let (_, public, secret) = validate_config(&state, kind_name(target.kind), &config)?;
        secret_binding(target.kind).check("config.", &target.config, &public, &given)?;
        target.config = public;
        if let Some(secret) = secret {
            let plaintext =
                SecretBytes::new(serde_json::to_vec(&secret).map_err(|e| ApiError::internal("target", &e))?);
            target.credential = Some(state.envelope.seal(&target.id.to_string(), "credential", &plaintext)?);
        }
    }
    target.updated_at = state.now();
    let audit = state.org().await?.audit(
        auth.caller()?.principal(),
        "target.updated",
        Some(("target", target.id.to_string())),
        Some(scope.project_id()),
        json!({ "name": target.name, "type": target.kind }),
    );
    let target = state.store()?.update_audited(&scope, &target, audit).await?;
    Ok(web::Json(target.into()))
}

/// The fields that decide where each kind's secret is sent, and the secret's fields.
fn secret_binding(kind: TargetKind) -> SecretBinding {
    let (destination, secrets): (&'static [&'static str], &'static [&'static str]) = match kind {
        TargetKind::File => (&[], &[]),
        TargetKind::Ssh => (&["host", "port", "host_key_sha256"], &["private_key"]),
        TargetKind::Webhook => (&["url"], &["hmac_secret"]),
        TargetKind::Kubernetes => (&["api_url", "ca_bundle_pem"], &["token"]),
        TargetKind::Vault => (&["address", "mount", "ca_bundle_pem"], &["token"]),
        TargetKind::F5 | TargetKind::Netscaler => (&["url", "ca_bundle_pem"], &["password"]),
        TargetKind::Iis => (&["agent_url", "ca_bundle_pem"], &["hmac_secret"]),
    };
    SecretBinding { destination, secrets }
}

/// Refuses keys outside `allowed`, so a typo is an error rather than a silently ignored setting.
fn only_keys(config: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match config.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(
            format!("config.{k}"),
            format!("unknown key; expected one of {}", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

fn string<'a>(config: &'a Map<String, Value>, key: &str) -> Result<&'a str, ApiError> {
    config
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(format!("config.{key}"), "is required and must be a string"))
}

fn optional_string<'a>(config: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, ApiError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("config.{key}"), "must be a string")),
    }
}

fn reload_command(config: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    optional_string(config, "reload_command")?
        .map(|cmd| validate::free_text("config.reload_command", cmd, 1_024))
        .transpose()
}

/// Drift-scan settings shared by targets that can be read back.
fn scan_settings(config: &Map<String, Value>, public: &mut Value) -> Result<(), ApiError> {
    if let Some(v) = config.get("auto_redeploy") {
        public["auto_redeploy"] =
            v.as_bool().ok_or_else(|| ApiError::invalid("config.auto_redeploy", "must be true or false"))?.into();
    }
    if let Some(endpoint) = optional_string(config, "tls_endpoint")? {
        let (host, port) =
            endpoint.rsplit_once(':').ok_or_else(|| ApiError::invalid("config.tls_endpoint", "must be host:port"))?;
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(ApiError::invalid("config.tls_endpoint", "port must be 1 to 65535"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.parse::<std::net::IpAddr>().is_err() {
            validate::domain("config.tls_endpoint", host, false)?;
        }
        public["tls_endpoint"] = endpoint.into();
    }
    if let Some(name) = optional_string(config, "tls_server_name")? {
        public["tls_server_name"] = validate::domain("config.tls_server_name", name, false)?.into();
    }
    Ok(())
}

/// `user` or `user:group`, as POSIX names (letters, digits, `_`, `-`, `.`; not starting with `-`).
fn owner(config: &Map<String, Value>, public: &mut Value) -> Result<(), ApiError> {
    let Some(owner) = optional_string(config, "owner")? else { return Ok(()) };
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 32
            && !n.starts_with('-')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    let ok = match owner.split_once(':') {
        Some((u, g)) => name_ok(u) && name_ok(g),
        None => name_ok(owner),
    };
    if !ok {
        return Err(ApiError::invalid("config.owner", "must be user or user:group"));
    }
    public["owner"] = owner.into();
    Ok(())
}

/// A local path a file target writes: inside the host's allow-list, outside the service's own files.
fn local_path(policy: &FilePathPolicy, field: &str, config: &Map<String, Value>) -> Result<String, ApiError> {
    let path = validate::absolute_path(&format!("config.{field}"), string(config, field)?)?;
    let normal = policy.check(&path).map_err(|e| ApiError::invalid(format!("config.{field}"), e.to_string()))?;
    Ok(normal.display().to_string())
}

/// An octal mode like `0600`, no wider than `max`.
fn file_mode(config: &Map<String, Value>, field: &str, default: &str, max: u32) -> Result<String, ApiError> {
    let mode = optional_string(config, field)?.unwrap_or(default);
    let key = format!("config.{field}");
    let bits = match mode.len() == 4 && mode.starts_with('0') {
        true => u32::from_str_radix(mode, 8).map_err(|_| ApiError::invalid(&key, "must be an octal mode like 0600"))?,
        false => return Err(ApiError::invalid(&key, "must be an octal mode like 0600")),
    };
    check_mode(&key, bits, max).map_err(|e| ApiError::invalid(&key, e))?;
    Ok(mode.to_owned())
}

fn file_config(policy: &FilePathPolicy, config: &Map<String, Value>) -> Result<Value, ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::File))?;
    let cert_path = local_path(policy, "cert_path", config)?;
    let key_path = local_path(policy, "key_path", config)?;
    if cert_path == key_path {
        return Err(ApiError::invalid("config.key_path", "must differ from cert_path"));
    }
    let mut public = json!({
        "cert_path": cert_path,
        "key_path": key_path,
        "mode": file_mode(config, "mode", "0600", MAX_KEY_MODE)?,
        "cert_mode": file_mode(config, "cert_mode", "0644", MAX_CERT_MODE)?,
        "reload_command": reload_command(config)?,
    });
    owner(config, &mut public)?;
    scan_settings(config, &mut public)?;
    Ok(public)
}

fn ssh_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Ssh))?;
    let host = string(config, "host")?;
    if host.parse::<std::net::IpAddr>().is_err() {
        validate::domain("config.host", host, false)?;
    }
    let port = match config.get("port") {
        None => 22,
        Some(v) => v
            .as_u64()
            .filter(|p| (1..=65_535).contains(p))
            .ok_or_else(|| ApiError::invalid("config.port", "must be 1 to 65535"))?,
    };
    let user = string(config, "user")?;
    if user.is_empty()
        || user.len() > 64
        || !user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(ApiError::invalid("config.user", "must be a plain user name"));
    }
    let fingerprint = string(config, "host_key_sha256")?;
    if !fingerprint.starts_with("SHA256:") || fingerprint.len() < 20 {
        return Err(ApiError::invalid("config.host_key_sha256", "must be an OpenSSH fingerprint like SHA256:…"));
    }
    let private_key = string(config, "private_key")?;
    if !private_key.contains("PRIVATE KEY-----") {
        return Err(ApiError::invalid("config.private_key", "must be a PEM or OpenSSH private key"));
    }
    let mut public = json!({
        "host": host,
        "port": port,
        "user": user,
        "cert_path": validate::absolute_path("config.cert_path", string(config, "cert_path")?)?,
        "key_path": validate::absolute_path("config.key_path", string(config, "key_path")?)?,
        "host_key_sha256": fingerprint,
        "reload_command": reload_command(config)?,
    });
    owner(config, &mut public)?;
    scan_settings(config, &mut public)?;
    Ok((public, json!({ "private_key": private_key })))
}

fn webhook_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Webhook))?;
    let url = validate::url("config.url", string(config, "url")?)?;
    let secret = string(config, "hmac_secret")?;
    if secret.len() < 16 {
        return Err(ApiError::invalid("config.hmac_secret", "must be at least 16 characters"));
    }
    let include_key = match config.get("include_private_key") {
        None => false,
        Some(v) => {
            v.as_bool().ok_or_else(|| ApiError::invalid("config.include_private_key", "must be true or false"))?
        }
    };
    Ok((json!({ "url": url, "include_private_key": include_key }), json!({ "hmac_secret": secret })))
}

fn token(config: &Map<String, Value>) -> Result<String, ApiError> {
    let token = string(config, "token")?;
    Ok(validate::free_text("config.token", token, 16_384)?.trim().to_owned())
}

fn ca_bundle(config: &Map<String, Value>, public: &mut Value) -> Result<(), ApiError> {
    if let Some(pem) = optional_string(config, "ca_bundle_pem")? {
        if pem.len() > 64 * 1024 || !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ApiError::invalid("config.ca_bundle_pem", "must be PEM certificates, at most 64 KiB"));
        }
        public["ca_bundle_pem"] = pem.into();
    }
    Ok(())
}

/// A DNS-1123 label (namespaces) or subdomain (Secret names), as Kubernetes requires.
fn kube_name(field: &str, name: &str, dots: bool) -> Result<String, ApiError> {
    let ok = !name.is_empty()
        && name.len() <= if dots { 253 } else { 63 }
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(name.to_owned()) } else { Err(ApiError::invalid(field, "must be a lower-case DNS name")) }
}

fn kubernetes_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Kubernetes))?;
    let mut public = json!({
        "api_url": validate::url("config.api_url", string(config, "api_url")?)?,
        "namespace": kube_name("config.namespace", string(config, "namespace")?, false)?,
        "secret_name": kube_name("config.secret_name", string(config, "secret_name")?, true)?,
    });
    ca_bundle(config, &mut public)?;
    scan_settings(config, &mut public)?;
    Ok((public, json!({ "token": token(config)? })))
}

fn vault_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Vault))?;
    let mode = optional_string(config, "mode")?.unwrap_or("kv");
    if !["kv", "pki"].contains(&mode) {
        return Err(ApiError::invalid("config.mode", "must be kv or pki"));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s.split('/').all(|p| {
                !p.is_empty() && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            })
    };
    let mount = optional_string(config, "mount")?.unwrap_or("secret").trim_matches('/').to_owned();
    let path = string(config, "path")?.trim_matches('/').to_owned();
    if !segment_ok(&mount) {
        return Err(ApiError::invalid("config.mount", "must be a Vault mount path"));
    }
    if !segment_ok(&path) {
        return Err(ApiError::invalid("config.path", "must be a secret path like tls/www"));
    }
    let mut public = json!({
        "address": validate::url("config.address", string(config, "address")?)?,
        "mode": mode,
        "mount": mount,
        "path": path,
    });
    ca_bundle(config, &mut public)?;
    scan_settings(config, &mut public)?;
    Ok((public, json!({ "token": token(config)? })))
}

/// An object name on an appliance: letters, digits, `_`, `-`, `.`, at most 64.
fn object_name(field: &str, name: &str) -> Result<String, ApiError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(ApiError::invalid(field, "must be letters, digits, _, - or ., at most 64"));
    }
    Ok(name.to_owned())
}

fn password(config: &Map<String, Value>) -> Result<String, ApiError> {
    let password = string(config, "password")?;
    validate::free_text("config.password", password, 1_024)
}

fn f5_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::F5))?;
    let mut public = json!({
        "url": validate::url("config.url", string(config, "url")?)?,
        "username": object_name("config.username", string(config, "username")?)?,
        "partition": object_name("config.partition", optional_string(config, "partition")?.unwrap_or("Common"))?,
        "profile": object_name("config.profile", string(config, "profile")?)?,
        "object_name": object_name("config.object_name", string(config, "object_name")?)?,
    });
    ca_bundle(config, &mut public)?;
    Ok((public, json!({ "password": password(config)? })))
}

fn netscaler_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Netscaler))?;
    let mut public = json!({
        "url": validate::url("config.url", string(config, "url")?)?,
        "username": object_name("config.username", string(config, "username")?)?,
        "certkey": object_name("config.certkey", string(config, "certkey")?)?,
    });
    ca_bundle(config, &mut public)?;
    Ok((public, json!({ "password": password(config)? })))
}

fn iis_config(config: &Map<String, Value>) -> Result<(Value, Value), ApiError> {
    only_keys(config, TargetKind::config_keys(TargetKind::Iis))?;
    let secret = string(config, "hmac_secret")?;
    if secret.len() < 16 {
        return Err(ApiError::invalid("config.hmac_secret", "must be at least 16 characters"));
    }
    let site = validate::free_text("config.site", string(config, "site")?, 256)?;
    let binding = optional_string(config, "binding")?.unwrap_or("*:443");
    if binding.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(ApiError::invalid("config.binding", "must be *:port or host:port"));
    }
    let mut public = json!({
        "agent_url": validate::url("config.agent_url", string(config, "agent_url")?)?,
        "site": site, "binding": binding,
    });
    ca_bundle(config, &mut public)?;
    Ok((public, json!({ "hmac_secret": secret })))
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
