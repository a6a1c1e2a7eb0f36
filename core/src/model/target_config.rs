//! The typed settings of a distribution target: one struct per kind, the enum `TargetConfig` tagged
//! by `type`. The API decodes a request into it (`target_check.rs`), the store keeps it on the
//! target, the connectors are built from it. Invariants: a target's secret (an SSH key, an HMAC
//! secret, a token, a password) is never part of it — it is sealed apart as the credential, one field
//! per kind (`TargetKind::secret_field`); and the JSON of the settings (`to_json`) is exactly the
//! object stored and shown before the settings were typed, so existing rows load unchanged. Fields a
//! stored row might lack read with the defaults the connectors always applied.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::target::TargetKind;

/// The widest mode a private key may get: readable by its owner and group, never by others.
pub const MAX_KEY_MODE: u32 = 0o640;
/// The widest mode a certificate chain may get: world-readable, writable only by its owner.
pub const MAX_CERT_MODE: u32 = 0o644;

/// Refuses a mode with a bit outside `max` (or a special bit), naming `field`.
pub fn check_mode(field: &str, mode: u32, max: u32) -> Result<u32, String> {
    if mode & !max != 0 {
        return Err(format!("{field}: {mode:04o} is wider than {max:04o}"));
    }
    Ok(mode)
}

/// A target's settings, by kind. Serialized with its `type`; stored as `kind` beside the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum TargetConfig {
    File(FileConfig),
    Ssh(SshConfig),
    Webhook(WebhookConfig),
    Kubernetes(KubernetesConfig),
    Vault(VaultConfig),
    F5(F5Config),
    Netscaler(NetscalerConfig),
    Iis(IisConfig),
}

/// Drift-scan settings of targets whose certificate can be read back or seen on a TLS endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSettings {
    /// Put the right certificate back when a scan finds another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_redeploy: Option<bool>,
    /// `host:port` where the certificate is served; scanned there rather than read back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_endpoint: Option<String>,
    /// The name sent in the TLS handshake to `tls_endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileConfig {
    pub cert_path: String,
    pub key_path: String,
    /// The key file's mode, four octal digits (`0600`).
    #[serde(default = "default_key_mode")]
    pub mode: String,
    /// The chain file's mode (`0644`).
    #[serde(default = "default_cert_mode")]
    pub cert_mode: String,
    /// Always stored (`null` when none), as before.
    #[serde(default)]
    pub reload_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(flatten)]
    pub scan: ScanSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshConfig {
    pub host: String,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    pub user: String,
    pub cert_path: String,
    pub key_path: String,
    /// The pinned host key, `SHA256:…` as OpenSSH prints it.
    pub host_key_sha256: String,
    #[serde(default)]
    pub reload_command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(flatten)]
    pub scan: ScanSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default)]
    pub include_private_key: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesConfig {
    pub api_url: String,
    pub namespace: String,
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_redeploy: Option<bool>,
}

/// Whether a Vault target writes a KV v2 secret or imports into a PKI mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VaultMode {
    #[default]
    Kv,
    Pki,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultConfig {
    pub address: String,
    #[serde(default)]
    pub mode: VaultMode,
    #[serde(default = "default_vault_mount")]
    pub mount: String,
    #[serde(default)]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_redeploy: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct F5Config {
    pub url: String,
    pub username: String,
    #[serde(default = "default_f5_partition")]
    pub partition: String,
    pub profile: String,
    pub object_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetscalerConfig {
    pub url: String,
    pub username: String,
    pub certkey: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IisConfig {
    pub agent_url: String,
    pub site: String,
    #[serde(default = "default_iis_binding")]
    pub binding: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle_pem: Option<String>,
}

fn default_key_mode() -> String {
    "0600".into()
}
fn default_cert_mode() -> String {
    "0644".into()
}
fn default_ssh_port() -> u16 {
    22
}
fn default_vault_mount() -> String {
    "secret".into()
}
fn default_f5_partition() -> String {
    "Common".into()
}
fn default_iis_binding() -> String {
    "*:443".into()
}

impl FileConfig {
    /// The key file's mode bits (`0600` when unreadable; the API stores only valid modes).
    pub fn key_mode_bits(&self) -> u32 {
        u32::from_str_radix(&self.mode, 8).unwrap_or(0o600)
    }
    /// The chain file's mode bits (`0644` when unreadable).
    pub fn cert_mode_bits(&self) -> u32 {
        u32::from_str_radix(&self.cert_mode, 8).unwrap_or(0o644)
    }
}

/// Blank settings of a kind (every text empty, every default applied): for records built field by
/// field, such as the store's tests. The API never stores these; it decodes and validates.
impl From<TargetKind> for TargetConfig {
    fn from(kind: TargetKind) -> Self {
        let text = String::new;
        match kind {
            TargetKind::File => TargetConfig::File(FileConfig {
                mode: default_key_mode(),
                cert_mode: default_cert_mode(),
                ..FileConfig::default()
            }),
            TargetKind::Ssh => TargetConfig::Ssh(SshConfig {
                host: text(),
                port: default_ssh_port(),
                user: text(),
                cert_path: text(),
                key_path: text(),
                host_key_sha256: text(),
                reload_command: None,
                owner: None,
                scan: ScanSettings::default(),
            }),
            TargetKind::Webhook => TargetConfig::Webhook(WebhookConfig::default()),
            TargetKind::Kubernetes => TargetConfig::Kubernetes(KubernetesConfig::default()),
            TargetKind::Vault => TargetConfig::Vault(VaultConfig {
                address: text(),
                mode: VaultMode::Kv,
                mount: default_vault_mount(),
                path: text(),
                ca_bundle_pem: None,
                auto_redeploy: None,
            }),
            TargetKind::F5 => TargetConfig::F5(F5Config {
                url: text(),
                username: text(),
                partition: default_f5_partition(),
                profile: text(),
                object_name: text(),
                ca_bundle_pem: None,
            }),
            TargetKind::Netscaler => TargetConfig::Netscaler(NetscalerConfig::default()),
            TargetKind::Iis => TargetConfig::Iis(IisConfig {
                agent_url: text(),
                site: text(),
                binding: default_iis_binding(),
                ca_bundle_pem: None,
            }),
        }
    }
}

impl TargetConfig {
    pub fn kind(&self) -> TargetKind {
        match self {
            TargetConfig::File(_) => TargetKind::File,
            TargetConfig::Ssh(_) => TargetKind::Ssh,
            TargetConfig::Webhook(_) => TargetKind::Webhook,
            TargetConfig::Kubernetes(_) => TargetKind::Kubernetes,
            TargetConfig::Vault(_) => TargetKind::Vault,
            TargetConfig::F5(_) => TargetKind::F5,
            TargetConfig::Netscaler(_) => TargetKind::Netscaler,
            TargetConfig::Iis(_) => TargetKind::Iis,
        }
    }

    /// The settings as the JSON object stored and shown (`config`), without the `type` tag.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()));
        if let Value::Object(map) = &mut value {
            map.remove("type");
        }
        // Keys sorted, as stored since M2.1, whether or not a dependency turns on serde_json's
        // `preserve_order` (the MongoDB driver's bson does): a stored document keeps its bytes.
        value.sort_all_objects();
        value
    }

    /// Reads the stored settings object of a target of `kind`.
    pub fn from_json(kind: TargetKind, config: Value) -> Result<Self, serde_json::Error> {
        let mut object = match config {
            Value::Object(map) => map,
            other => return Err(serde::de::Error::custom(format!("a target's config is an object, not {other}"))),
        };
        object.insert("type".into(), serde_json::to_value(kind)?);
        serde_json::from_value(Value::Object(object))
    }

    /// Drift-scan settings (`None` for kinds that have none).
    pub fn scan(&self) -> Option<&ScanSettings> {
        match self {
            TargetConfig::File(c) => Some(&c.scan),
            TargetConfig::Ssh(c) => Some(&c.scan),
            _ => None,
        }
    }

    /// Whether a scan that finds another certificate puts the right one back.
    pub fn auto_redeploy(&self) -> bool {
        match self {
            TargetConfig::Kubernetes(c) => c.auto_redeploy,
            TargetConfig::Vault(c) => c.auto_redeploy,
            other => other.scan().and_then(|s| s.auto_redeploy),
        }
        .unwrap_or(false)
    }

    /// Where the certificate is served, to scan by a TLS handshake: `(host:port, server name)`.
    pub fn tls_endpoint(&self) -> Option<(&str, Option<&str>)> {
        let scan = self.scan()?;
        Some((scan.tls_endpoint.as_deref()?, scan.tls_server_name.as_deref()))
    }

    /// The reload command run after a deployment, if any.
    pub fn reload_command(&self) -> Option<&str> {
        match self {
            TargetConfig::File(c) => c.reload_command.as_deref(),
            TargetConfig::Ssh(c) => c.reload_command.as_deref(),
            _ => None,
        }
    }

    /// Whether a scan can see what is deployed: by reading it back (files, SFTP, a Secret, a KV
    /// entry) or at its TLS endpoint.
    pub fn is_scannable(&self) -> bool {
        match self {
            TargetConfig::File(_) | TargetConfig::Ssh(_) | TargetConfig::Kubernetes(_) => true,
            TargetConfig::Vault(c) => c.mode == VaultMode::Kv,
            other => other.tls_endpoint().is_some(),
        }
    }
}

impl TargetKind {
    /// The keys this kind's configuration accepts: the settings' fields and the secret's. The API
    /// refuses any other, and the OpenAPI document lists exactly these (a test checks them against
    /// the types' own fields).
    pub fn config_keys(self) -> &'static [&'static str] {
        match self {
            TargetKind::File => &[
                "cert_path",
                "key_path",
                "mode",
                "cert_mode",
                "owner",
                "reload_command",
                "auto_redeploy",
                "tls_endpoint",
                "tls_server_name",
            ],
            TargetKind::Ssh => &[
                "host",
                "port",
                "user",
                "cert_path",
                "key_path",
                "host_key_sha256",
                "private_key",
                "reload_command",
                "owner",
                "auto_redeploy",
                "tls_endpoint",
                "tls_server_name",
            ],
            TargetKind::Webhook => &["url", "hmac_secret", "include_private_key"],
            TargetKind::Kubernetes => {
                &["api_url", "namespace", "secret_name", "token", "ca_bundle_pem", "auto_redeploy"]
            }
            TargetKind::Vault => &["address", "mode", "mount", "path", "token", "ca_bundle_pem", "auto_redeploy"],
            TargetKind::F5 => &["url", "username", "password", "partition", "profile", "object_name", "ca_bundle_pem"],
            TargetKind::Netscaler => &["url", "username", "password", "certkey", "ca_bundle_pem"],
            TargetKind::Iis => &["agent_url", "hmac_secret", "site", "binding", "ca_bundle_pem"],
        }
    }

    /// The one secret field of this kind's configuration, sealed as the target's credential.
    pub fn secret_field(self) -> Option<&'static str> {
        self.secret_fields().first().copied()
    }

    /// `secret_field` as a list (empty or one name), for rules written over lists of fields.
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            TargetKind::File => &[],
            TargetKind::Ssh => &["private_key"],
            TargetKind::Webhook | TargetKind::Iis => &["hmac_secret"],
            TargetKind::Kubernetes | TargetKind::Vault => &["token"],
            TargetKind::F5 | TargetKind::Netscaler => &["password"],
        }
    }

    /// The fields of the settings that decide where the secret is sent: changing one needs the
    /// secret given again (the API's rebinding rule).
    pub fn secret_destination(self) -> &'static [&'static str] {
        match self {
            TargetKind::File => &[],
            TargetKind::Ssh => &["host", "port", "host_key_sha256"],
            TargetKind::Webhook => &["url"],
            TargetKind::Kubernetes => &["api_url", "ca_bundle_pem"],
            TargetKind::Vault => &["address", "mount", "ca_bundle_pem"],
            TargetKind::F5 | TargetKind::Netscaler => &["url", "ca_bundle_pem"],
            TargetKind::Iis => &["agent_url", "ca_bundle_pem"],
        }
    }

    /// The plaintext sealed as a target's credential: `{"<secret_field>": "<secret>"}`, as always.
    pub fn credential_plaintext(self, secret: &str) -> Option<Vec<u8>> {
        let field = self.secret_field()?;
        serde_json::to_vec(&serde_json::json!({ field: secret })).ok()
    }

    /// The secret read back from an opened credential (`None`: no such field, or unreadable).
    pub fn secret_from_credential(self, plaintext: &[u8]) -> Option<String> {
        let field = self.secret_field()?;
        let value: Value = serde_json::from_slice(plaintext).ok()?;
        value.get(field)?.as_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A full example of each kind, every optional field set.
    fn full(kind: TargetKind) -> TargetConfig {
        let scan = ScanSettings {
            auto_redeploy: Some(true),
            tls_endpoint: Some("web.example.test:443".into()),
            tls_server_name: Some("web.example.test".into()),
        };
        let ca = Some("-----BEGIN CERTIFICATE-----".to_owned());
        match TargetConfig::from(kind) {
            TargetConfig::File(c) => TargetConfig::File(FileConfig {
                owner: Some("www".into()),
                scan,
                reload_command: Some("x".into()),
                ..c
            }),
            TargetConfig::Ssh(c) => {
                TargetConfig::Ssh(SshConfig { owner: Some("www".into()), scan, reload_command: Some("x".into()), ..c })
            }
            TargetConfig::Kubernetes(c) => {
                TargetConfig::Kubernetes(KubernetesConfig { ca_bundle_pem: ca, auto_redeploy: Some(true), ..c })
            }
            TargetConfig::Vault(c) => {
                TargetConfig::Vault(VaultConfig { ca_bundle_pem: ca, auto_redeploy: Some(true), ..c })
            }
            TargetConfig::F5(c) => TargetConfig::F5(F5Config { ca_bundle_pem: ca, ..c }),
            TargetConfig::Netscaler(c) => TargetConfig::Netscaler(NetscalerConfig { ca_bundle_pem: ca, ..c }),
            TargetConfig::Iis(c) => TargetConfig::Iis(IisConfig { ca_bundle_pem: ca, ..c }),
            other => other,
        }
    }

    /// The accepted keys are exactly the types' fields and the kind's secret: one list, checked.
    #[test]
    fn config_keys_are_the_fields_of_the_types() {
        for kind in TargetKind::ALL {
            let config = full(kind);
            assert_eq!(config.kind(), kind);
            let mut fields: Vec<String> = config.to_json().as_object().unwrap().keys().cloned().collect();
            fields.extend(kind.secret_field().map(str::to_owned));
            fields.sort();
            let mut keys: Vec<String> = kind.config_keys().iter().map(|k| k.to_string()).collect();
            keys.sort();
            assert_eq!(fields, keys, "{kind:?}");
        }
    }

    /// Settings stored before they were typed read back, and write back as the same object.
    #[test]
    fn stored_settings_keep_their_shape() {
        let stored = [
            (
                TargetKind::File,
                json!({ "cert_path": "/srv/a.pem", "key_path": "/srv/a.key", "mode": "0600", "cert_mode": "0644", "reload_command": null }),
            ),
            (
                TargetKind::Ssh,
                json!({ "host": "h.test", "port": 2222, "user": "u", "cert_path": "/c", "key_path": "/k",
                        "host_key_sha256": "SHA256:abc", "reload_command": "r", "owner": "www", "auto_redeploy": true }),
            ),
            (TargetKind::Webhook, json!({ "url": "https://h.test/x", "include_private_key": false })),
            (TargetKind::Vault, json!({ "address": "https://v.test", "mode": "pki", "mount": "pki", "path": "tls" })),
            (TargetKind::Iis, json!({ "agent_url": "https://a.test", "site": "s", "binding": "*:443" })),
        ];
        for (kind, json) in stored {
            let config = TargetConfig::from_json(kind, json.clone()).unwrap();
            assert_eq!(config.kind(), kind);
            assert_eq!(config.to_json(), json);
        }
        // The connectors' defaults fill what an old row lacks.
        let vault = TargetConfig::from_json(TargetKind::Vault, json!({ "address": "https://v.test" })).unwrap();
        assert_eq!(vault.to_json()["mount"], "secret");
        assert!(vault.is_scannable());
    }

    #[test]
    fn the_credential_holds_one_field() {
        let plain = TargetKind::Ssh.credential_plaintext("KEY").unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap(), json!({ "private_key": "KEY" }));
        assert_eq!(TargetKind::Ssh.secret_from_credential(&plain).as_deref(), Some("KEY"));
        assert_eq!(TargetKind::File.credential_plaintext("x"), None);
    }
}
