//! Reading and checking a target's settings as a person gives them: `TargetConfig::decode` reads a
//! request's `config` object for a `type` (unknown keys refused, each field of the right JSON type),
//! `validate` checks and normalizes each variant, `TargetKind::validate_secret` checks the secret.
//! Every refusal is a `ConfigError` naming the field by its path (`config.port`), with the words the
//! API has always answered. Invariant: a `TargetConfig` the API stores has passed `validate`; what
//! this host allows (where file targets may write) comes in through `HostRules`.

use serde_json::{Map, Value};

use super::checks::{self, ConfigError};
use super::target::TargetKind;
use super::target_config::{
    F5Config, FileConfig, IisConfig, KubernetesConfig, MAX_CERT_MODE, MAX_KEY_MODE, NetscalerConfig, ScanSettings,
    SshConfig, TargetConfig, VaultConfig, VaultMode, WebhookConfig, check_mode,
};

/// What the host running the service allows, which the settings' own checks cannot know.
pub trait HostRules {
    /// The normalized local path a file target may write, or why this host refuses it.
    fn local_path(&self, path: &str) -> Result<String, String>;
}

/// The fields of a request's `config` object, read with the API's words for a wrong type.
struct Fields<'a>(&'a Map<String, Value>);

fn field(key: &str) -> String {
    format!("config.{key}")
}

impl Fields<'_> {
    /// Refuses keys outside `allowed`, so a typo is an error rather than a silently ignored setting.
    fn only(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ConfigError::new(field(k), format!("unknown key; expected one of {}", allowed.join(", ")))),
            None => Ok(()),
        }
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        self.0
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::new(field(key), "is required and must be a string"))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ConfigError::new(field(key), "must be a string")),
        }
    }

    fn flag(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        self.0
            .get(key)
            .map(|v| v.as_bool().ok_or_else(|| ConfigError::new(field(key), "must be true or false")))
            .transpose()
    }

    fn scan(&self) -> Result<ScanSettings, ConfigError> {
        Ok(ScanSettings {
            auto_redeploy: self.flag("auto_redeploy")?,
            tls_endpoint: self.optional_string("tls_endpoint")?,
            tls_server_name: self.optional_string("tls_server_name")?,
        })
    }
}

impl TargetConfig {
    /// Reads a request's `config` for the target type named `kind`: the settings and, for kinds that
    /// have one, the secret; neither checked beyond its JSON type (`validate` does that).
    pub fn decode(kind: &str, config: &Map<String, Value>) -> Result<(TargetConfig, Option<String>), ConfigError> {
        let kind =
            TargetKind::ALL.into_iter().find(|k| serde_json::to_value(k).is_ok_and(|name| name == kind)).ok_or_else(
                || ConfigError::new("type", "must be file, ssh, webhook, kubernetes, vault, f5, netscaler or iis"),
            )?;
        let f = Fields(config);
        f.only(kind.config_keys())?;
        let ca_bundle_pem = || f.optional_string("ca_bundle_pem");
        let decoded = match kind {
            TargetKind::File => TargetConfig::File(FileConfig {
                cert_path: f.string("cert_path")?,
                key_path: f.string("key_path")?,
                mode: f.optional_string("mode")?.unwrap_or_else(|| "0600".into()),
                cert_mode: f.optional_string("cert_mode")?.unwrap_or_else(|| "0644".into()),
                reload_command: f.optional_string("reload_command")?,
                owner: f.optional_string("owner")?,
                scan: f.scan()?,
            }),
            TargetKind::Ssh => TargetConfig::Ssh(SshConfig {
                host: f.string("host")?,
                port: match config.get("port") {
                    None => 22,
                    Some(v) => v
                        .as_u64()
                        .filter(|p| (1..=65_535).contains(p))
                        .ok_or_else(|| ConfigError::new("config.port", "must be 1 to 65535"))?
                        as u16,
                },
                user: f.string("user")?,
                cert_path: f.string("cert_path")?,
                key_path: f.string("key_path")?,
                host_key_sha256: f.string("host_key_sha256")?,
                reload_command: f.optional_string("reload_command")?,
                owner: f.optional_string("owner")?,
                scan: f.scan()?,
            }),
            TargetKind::Webhook => TargetConfig::Webhook(WebhookConfig {
                url: f.string("url")?,
                include_private_key: f.flag("include_private_key")?.unwrap_or(false),
            }),
            TargetKind::Kubernetes => TargetConfig::Kubernetes(KubernetesConfig {
                api_url: f.string("api_url")?,
                namespace: f.string("namespace")?,
                secret_name: f.string("secret_name")?,
                ca_bundle_pem: ca_bundle_pem()?,
                auto_redeploy: f.flag("auto_redeploy")?,
            }),
            TargetKind::Vault => TargetConfig::Vault(VaultConfig {
                address: f.string("address")?,
                mode: match f.optional_string("mode")?.as_deref().unwrap_or("kv") {
                    "kv" => VaultMode::Kv,
                    "pki" => VaultMode::Pki,
                    _ => return Err(ConfigError::new("config.mode", "must be kv or pki")),
                },
                mount: f.optional_string("mount")?.unwrap_or_else(|| "secret".into()),
                path: f.string("path")?,
                ca_bundle_pem: ca_bundle_pem()?,
                auto_redeploy: f.flag("auto_redeploy")?,
            }),
            TargetKind::F5 => TargetConfig::F5(F5Config {
                url: f.string("url")?,
                username: f.string("username")?,
                partition: f.optional_string("partition")?.unwrap_or_else(|| "Common".into()),
                profile: f.string("profile")?,
                object_name: f.string("object_name")?,
                ca_bundle_pem: ca_bundle_pem()?,
            }),
            TargetKind::Netscaler => TargetConfig::Netscaler(NetscalerConfig {
                url: f.string("url")?,
                username: f.string("username")?,
                certkey: f.string("certkey")?,
                ca_bundle_pem: ca_bundle_pem()?,
            }),
            TargetKind::Iis => TargetConfig::Iis(IisConfig {
                agent_url: f.string("agent_url")?,
                site: f.string("site")?,
                binding: f.optional_string("binding")?.unwrap_or_else(|| "*:443".into()),
                ca_bundle_pem: ca_bundle_pem()?,
            }),
        };
        let secret = kind.secret_field().map(|key| f.string(key)).transpose()?;
        Ok((decoded, secret))
    }

    /// Checks the settings and normalizes them (paths, names, trimmed mounts) in place.
    pub fn validate(&mut self, host: &dyn HostRules) -> Result<(), ConfigError> {
        match self {
            TargetConfig::File(c) => c.validate(host),
            TargetConfig::Ssh(c) => c.validate(),
            TargetConfig::Webhook(c) => c.validate(),
            TargetConfig::Kubernetes(c) => c.validate(),
            TargetConfig::Vault(c) => c.validate(),
            TargetConfig::F5(c) => c.validate(),
            TargetConfig::Netscaler(c) => c.validate(),
            TargetConfig::Iis(c) => c.validate(),
        }
    }
}

impl TargetKind {
    /// Checks this kind's secret; returns it as it is sealed (a token trimmed).
    pub fn validate_secret(self, secret: &str) -> Result<String, ConfigError> {
        let at_least_16 = |key: &str| match secret.len() < 16 {
            true => Err(ConfigError::new(field(key), "must be at least 16 characters")),
            false => Ok(secret.to_owned()),
        };
        match self {
            TargetKind::File => Ok(secret.to_owned()),
            TargetKind::Ssh if !secret.contains("PRIVATE KEY-----") => {
                Err(ConfigError::new("config.private_key", "must be a PEM or OpenSSH private key"))
            }
            TargetKind::Ssh => Ok(secret.to_owned()),
            TargetKind::Webhook | TargetKind::Iis => at_least_16("hmac_secret"),
            TargetKind::Kubernetes | TargetKind::Vault => {
                Ok(checks::free_text("config.token", secret, 16_384)?.trim().to_owned())
            }
            TargetKind::F5 | TargetKind::Netscaler => checks::free_text("config.password", secret, 1_024),
        }
    }
}

fn reload_command(command: &Option<String>) -> Result<(), ConfigError> {
    if let Some(cmd) = command {
        checks::free_text("config.reload_command", cmd, 1_024)?;
    }
    Ok(())
}

/// `user` or `user:group`, as POSIX names (letters, digits, `_`, `-`, `.`; not starting with `-`).
fn owner(owner: &Option<String>) -> Result<(), ConfigError> {
    let Some(owner) = owner else { return Ok(()) };
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
        return Err(ConfigError::new("config.owner", "must be user or user:group"));
    }
    Ok(())
}

/// A host name or an IP address (kept as given).
fn host(key: &str, host: &str) -> Result<(), ConfigError> {
    if host.parse::<std::net::IpAddr>().is_err() {
        checks::domain(key, host, false)?;
    }
    Ok(())
}

impl ScanSettings {
    fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(endpoint) = &self.tls_endpoint {
            let (h, port) = endpoint
                .rsplit_once(':')
                .ok_or_else(|| ConfigError::new("config.tls_endpoint", "must be host:port"))?;
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(ConfigError::new("config.tls_endpoint", "port must be 1 to 65535"));
            }
            host("config.tls_endpoint", h.trim_start_matches('[').trim_end_matches(']'))?;
        }
        if let Some(name) = &self.tls_server_name {
            self.tls_server_name = Some(checks::domain("config.tls_server_name", name, false)?);
        }
        Ok(())
    }
}

/// An octal mode like `0600`, no wider than `max`.
fn file_mode(key: &str, mode: &str, max: u32) -> Result<(), ConfigError> {
    let key = field(key);
    let bits = match mode.len() == 4 && mode.starts_with('0') {
        true => u32::from_str_radix(mode, 8).map_err(|_| ConfigError::new(&key, "must be an octal mode like 0600"))?,
        false => return Err(ConfigError::new(&key, "must be an octal mode like 0600")),
    };
    check_mode(&key, bits, max).map_err(|e| ConfigError::new(&key, e))?;
    Ok(())
}

fn ca_bundle(pem: &Option<String>) -> Result<(), ConfigError> {
    match pem {
        Some(pem) if pem.len() > 64 * 1024 || !pem.contains("-----BEGIN CERTIFICATE-----") => {
            Err(ConfigError::new("config.ca_bundle_pem", "must be PEM certificates, at most 64 KiB"))
        }
        _ => Ok(()),
    }
}

/// A DNS-1123 label (namespaces) or subdomain (Secret names), as Kubernetes requires.
fn kube_name(key: &str, name: &str, dots: bool) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= if dots { 253 } else { 63 }
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(ConfigError::new(key, "must be a lower-case DNS name")) }
}

/// An object name on an appliance: letters, digits, `_`, `-`, `.`, at most 64.
fn object_name(key: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(ConfigError::new(key, "must be letters, digits, _, - or ., at most 64"));
    }
    Ok(())
}

impl FileConfig {
    /// Paths inside what this host allows (normalized), outside each other; modes no wider than
    /// their maximum.
    pub fn validate(&mut self, rules: &dyn HostRules) -> Result<(), ConfigError> {
        let local = |key: &str, path: &str| -> Result<String, ConfigError> {
            let path = checks::absolute_path(&field(key), path)?;
            rules.local_path(&path).map_err(|e| ConfigError::new(field(key), e))
        };
        self.cert_path = local("cert_path", &self.cert_path)?;
        self.key_path = local("key_path", &self.key_path)?;
        if self.cert_path == self.key_path {
            return Err(ConfigError::new("config.key_path", "must differ from cert_path"));
        }
        file_mode("mode", &self.mode, MAX_KEY_MODE)?;
        file_mode("cert_mode", &self.cert_mode, MAX_CERT_MODE)?;
        reload_command(&self.reload_command)?;
        owner(&self.owner)?;
        self.scan.validate()
    }
}

impl SshConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        host("config.host", &self.host)?;
        if self.port == 0 {
            return Err(ConfigError::new("config.port", "must be 1 to 65535"));
        }
        let user = &self.user;
        if user.is_empty()
            || user.len() > 64
            || !user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(ConfigError::new("config.user", "must be a plain user name"));
        }
        if !self.host_key_sha256.starts_with("SHA256:") || self.host_key_sha256.len() < 20 {
            return Err(ConfigError::new("config.host_key_sha256", "must be an OpenSSH fingerprint like SHA256:…"));
        }
        checks::absolute_path("config.cert_path", &self.cert_path)?;
        checks::absolute_path("config.key_path", &self.key_path)?;
        reload_command(&self.reload_command)?;
        owner(&self.owner)?;
        self.scan.validate()
    }
}

impl WebhookConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        checks::url("config.url", &self.url)?;
        Ok(())
    }
}

impl KubernetesConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        checks::url("config.api_url", &self.api_url)?;
        kube_name("config.namespace", &self.namespace, false)?;
        kube_name("config.secret_name", &self.secret_name, true)?;
        ca_bundle(&self.ca_bundle_pem)
    }
}

impl VaultConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.split('/').all(|p| {
                    !p.is_empty() && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                })
        };
        self.mount = self.mount.trim_matches('/').to_owned();
        self.path = self.path.trim_matches('/').to_owned();
        if !segment_ok(&self.mount) {
            return Err(ConfigError::new("config.mount", "must be a Vault mount path"));
        }
        if !segment_ok(&self.path) {
            return Err(ConfigError::new("config.path", "must be a secret path like tls/www"));
        }
        checks::url("config.address", &self.address)?;
        ca_bundle(&self.ca_bundle_pem)
    }
}

impl F5Config {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        checks::url("config.url", &self.url)?;
        object_name("config.username", &self.username)?;
        object_name("config.partition", &self.partition)?;
        object_name("config.profile", &self.profile)?;
        object_name("config.object_name", &self.object_name)?;
        ca_bundle(&self.ca_bundle_pem)
    }
}

impl NetscalerConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        checks::url("config.url", &self.url)?;
        object_name("config.username", &self.username)?;
        object_name("config.certkey", &self.certkey)?;
        ca_bundle(&self.ca_bundle_pem)
    }
}

impl IisConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        checks::free_text("config.site", &self.site, 256)?;
        if self.binding.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().map_or(true, |p| p == 0)) {
            return Err(ConfigError::new("config.binding", "must be *:port or host:port"));
        }
        checks::url("config.agent_url", &self.agent_url)?;
        ca_bundle(&self.ca_bundle_pem)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Anywhere;
    impl HostRules for Anywhere {
        fn local_path(&self, path: &str) -> Result<String, String> {
            Ok(path.to_owned())
        }
    }

    fn check(kind: &str, config: Value) -> Result<(TargetConfig, Option<String>), ConfigError> {
        let (mut typed, secret) = TargetConfig::decode(kind, config.as_object().unwrap())?;
        typed.validate(&Anywhere)?;
        let secret = secret.map(|s| typed.kind().validate_secret(&s)).transpose()?;
        Ok((typed, secret))
    }

    /// Each refusal names the field by its path; what passes is normalized.
    #[test]
    fn refusals_name_the_field() {
        let err = |kind, config| check(kind, config).unwrap_err().field;
        assert_eq!(err("nope", json!({})), "type");
        assert_eq!(err("file", json!({ "cert_path": "/a", "key_path": "/b", "x": 1 })), "config.x");
        assert_eq!(err("file", json!({ "cert_path": "/a" })), "config.key_path");
        assert_eq!(err("file", json!({ "cert_path": "/a", "key_path": "/a" })), "config.key_path");
        assert_eq!(err("file", json!({ "cert_path": "/a", "key_path": "/b", "mode": "0666" })), "config.mode");
        let ssh = json!({ "host": "h.example.test", "port": 70000, "user": "u", "cert_path": "/c", "key_path": "/k",
                          "host_key_sha256": "SHA256:0123456789abcdef", "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----" });
        assert_eq!(err("ssh", ssh.clone()), "config.port");
        let mut good = ssh.clone();
        good["port"] = json!(22);
        good["tls_server_name"] = json!("WWW.Example.TEST");
        let (typed, secret) = check("ssh", good).unwrap();
        assert_eq!(typed.tls_endpoint(), None);
        assert_eq!(typed.to_json()["tls_server_name"], "www.example.test");
        assert!(secret.unwrap().contains("PRIVATE KEY"));
        let vault = json!({ "address": "https://v.example.test", "path": "/tls/www/", "token": " t " });
        let (typed, secret) = check("vault", vault).unwrap();
        assert_eq!((typed.to_json()["path"].as_str(), secret.as_deref()), (Some("tls/www"), Some("t")));
        assert_eq!(err("webhook", json!({ "url": "https://h.test", "hmac_secret": "short" })), "config.hmac_secret");
    }
}
