//! The typed settings of a DNS credential: `DnsProviderConfig`, tagged by `provider`, one variant per
//! provider, and `DnsSecret`, the provider's secret fields. The API decodes a request into both
//! (`decode_request`), the store keeps the settings on the credential and the secret sealed apart,
//! the issuance actors build the provider client from them.
//! Invariants: no secret is ever part of the settings; the JSON of the settings (`to_json`) is
//! exactly the object stored (an RFC 2136 credential's as before they were typed); a secret's sealed
//! plaintext is the TSIG base64 text for RFC 2136 (as always) and a JSON object of the provider's
//! secret fields for every other provider.

mod fields;
mod providers;
mod rfc2136;

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

pub use fields::{FieldKind, SettingField};
pub use providers::*;
pub use rfc2136::{MAX_NAMESERVERS, Rfc2136Config, TsigAlgorithm};

use super::checks::{self, ConfigError};
use super::dns::DnsProvider;
use crate::crypto::SecretBytes;

/// A DNS credential's settings, by provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum DnsProviderConfig {
    Rfc2136(Rfc2136Config),
    Pdns(PdnsConfig),
    Route53(Route53Config),
    Cloudflare(TokenApiConfig),
    Digitalocean(TokenApiConfig),
    Hetzner(TokenApiConfig),
    Gcloud(GcloudConfig),
    Azure(AzureConfig),
    Ovh(OvhConfig),
    Acmedns(AcmeDnsConfig),
    Exec(ExecConfig),
}

impl From<Rfc2136Config> for DnsProviderConfig {
    fn from(config: Rfc2136Config) -> Self {
        DnsProviderConfig::Rfc2136(config)
    }
}

impl DnsProviderConfig {
    pub fn provider(&self) -> DnsProvider {
        match self {
            DnsProviderConfig::Rfc2136(_) => DnsProvider::Rfc2136,
            DnsProviderConfig::Pdns(_) => DnsProvider::Pdns,
            DnsProviderConfig::Route53(_) => DnsProvider::Route53,
            DnsProviderConfig::Cloudflare(_) => DnsProvider::Cloudflare,
            DnsProviderConfig::Digitalocean(_) => DnsProvider::Digitalocean,
            DnsProviderConfig::Hetzner(_) => DnsProvider::Hetzner,
            DnsProviderConfig::Gcloud(_) => DnsProvider::Gcloud,
            DnsProviderConfig::Azure(_) => DnsProvider::Azure,
            DnsProviderConfig::Ovh(_) => DnsProvider::Ovh,
            DnsProviderConfig::Acmedns(_) => DnsProvider::Acmedns,
            DnsProviderConfig::Exec(_) => DnsProvider::Exec,
        }
    }

    /// The settings as the JSON object stored and shown (`config`), without the `provider` tag.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Default::default()));
        if let Value::Object(map) = &mut value {
            map.remove("provider");
        }
        // Keys sorted, as stored since M2.1, whether or not a dependency turns on serde_json's
        // `preserve_order` (the MongoDB driver's bson does): a stored document keeps its bytes.
        value.sort_all_objects();
        value
    }

    /// Reads the stored settings object of a credential of `provider`.
    pub fn from_json(provider: DnsProvider, config: Value) -> Result<Self, serde_json::Error> {
        let mut object = match config {
            Value::Object(map) => map,
            other => return Err(serde::de::Error::custom(format!("a credential's config is an object, not {other}"))),
        };
        object.insert("provider".into(), serde_json::to_value(provider)?);
        serde_json::from_value(Value::Object(object))
    }

    /// A request's `config` object for `provider`: the checked settings, and the secret fields it
    /// carries (none when it leaves the sealed secret as it is — an update; `create` requires them).
    pub fn decode_request(
        provider: DnsProvider,
        mut config: Map<String, Value>,
    ) -> Result<(Self, Option<DnsSecret>), ConfigError> {
        if provider == DnsProvider::Rfc2136 {
            return Rfc2136Config::decode_request(config).map(|(c, s)| (c.into(), s.map(DnsSecret::tsig)));
        }
        let mut secret = BTreeMap::new();
        for field in provider.secret_fields() {
            let path = format!("config.{field}");
            match config.remove(*field) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => {
                    let text = checks::free_text(&path, &text, 16_384)?.trim().to_owned();
                    secret.insert((*field).to_owned(), SecretBytes::from_text(&text));
                }
                Some(_) => return Err(ConfigError::new(path, "must be a string")),
            }
        }
        let secret = match secret.len() {
            0 => None,
            n if n == provider.secret_fields().len() => Some(DnsSecret(secret)),
            _ => {
                let missing = provider.secret_fields().iter().find(|f| !secret.contains_key(**f)).copied();
                return Err(ConfigError::new(format!("config.{}", missing.unwrap_or("secret")), "is required"));
            }
        };
        let map = Value::Object(config);
        let mut typed = match provider {
            DnsProvider::Rfc2136 => unreachable!("decoded above"),
            DnsProvider::Pdns => DnsProviderConfig::Pdns(typed(map)?),
            DnsProvider::Route53 => DnsProviderConfig::Route53(typed(map)?),
            DnsProvider::Cloudflare => DnsProviderConfig::Cloudflare(typed(map)?),
            DnsProvider::Digitalocean => DnsProviderConfig::Digitalocean(typed(map)?),
            DnsProvider::Hetzner => DnsProviderConfig::Hetzner(typed(map)?),
            DnsProvider::Gcloud => DnsProviderConfig::Gcloud(typed(map)?),
            DnsProvider::Azure => DnsProviderConfig::Azure(typed(map)?),
            DnsProvider::Ovh => DnsProviderConfig::Ovh(typed(map)?),
            DnsProvider::Acmedns => DnsProviderConfig::Acmedns(typed(map)?),
            DnsProvider::Exec => DnsProviderConfig::Exec(typed(map)?),
        };
        typed.validate()?;
        if let Some(secret) = &secret {
            secret.validate(provider)?;
        }
        Ok((typed, secret))
    }

    pub fn validate(&mut self) -> Result<(), ConfigError> {
        match self {
            DnsProviderConfig::Rfc2136(c) => c.validate(),
            DnsProviderConfig::Pdns(c) => c.validate(),
            DnsProviderConfig::Route53(c) => c.validate(),
            DnsProviderConfig::Cloudflare(c) => c.validate(CLOUDFLARE_API),
            DnsProviderConfig::Digitalocean(c) => c.validate(DIGITALOCEAN_API),
            DnsProviderConfig::Hetzner(c) => c.validate(HETZNER_API),
            DnsProviderConfig::Gcloud(c) => c.validate(),
            DnsProviderConfig::Azure(c) => c.validate(),
            DnsProviderConfig::Ovh(c) => c.validate(),
            DnsProviderConfig::Acmedns(c) => c.validate(),
            DnsProviderConfig::Exec(c) => c.validate(),
        }
    }

    /// Whether `other` sends the secret somewhere else than `self` does (another provider, or a
    /// changed `DnsProvider::secret_destination` field): an update that does needs the secret again.
    pub fn moves_secret(&self, other: &DnsProviderConfig) -> bool {
        if self.provider() != other.provider() {
            return true;
        }
        let (old, new) = (self.to_json(), other.to_json());
        self.provider().secret_destination().iter().any(|f| old.get(f) != new.get(f))
    }
}

/// Deserializes one provider's settings, naming the field a failure is about.
fn typed<T: DeserializeOwned>(map: Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(map).map_err(|e| {
        let message = e.inner().to_string();
        let quoted = message.split('`').nth(1).map(str::to_owned);
        if message.starts_with("missing field") {
            ConfigError::new(format!("config.{}", quoted.unwrap_or_default()), "is required")
        } else if message.starts_with("unknown field") {
            ConfigError::new(format!("config.{}", quoted.unwrap_or_default()), "is not a setting of this provider")
        } else {
            let path = e.path().to_string();
            let field = if path == "." { "config".to_owned() } else { format!("config.{path}") };
            ConfigError::new(field, message.split(" at line").next().unwrap_or("has the wrong type").to_owned())
        }
    })
}

/// A credential's secret fields as given, by name (`DnsProvider::secret_fields`); write-only.
pub struct DnsSecret(BTreeMap<String, SecretBytes>);

impl std::fmt::Debug for DnsSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl DnsSecret {
    fn tsig(base64: String) -> Self {
        DnsSecret(BTreeMap::from([("secret".to_owned(), SecretBytes::from_text(&base64))]))
    }

    /// One secret field's value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(SecretBytes::expose_str)
    }

    /// What is sealed: the TSIG text for RFC 2136, a JSON object of the fields otherwise.
    pub fn plaintext(&self, provider: DnsProvider) -> SecretBytes {
        if provider == DnsProvider::Rfc2136 {
            return SecretBytes::from_text(self.get("secret").unwrap_or_default());
        }
        let map: BTreeMap<&str, &str> =
            self.0.iter().filter_map(|(k, v)| Some((k.as_str(), v.expose_str()?))).collect();
        SecretBytes::new(serde_json::to_vec(&map).unwrap_or_default())
    }

    /// Reads an opened sealed secret of a credential of `provider`.
    pub fn from_plaintext(provider: DnsProvider, plaintext: &SecretBytes) -> Option<Self> {
        let text = plaintext.expose_str()?;
        if provider == DnsProvider::Rfc2136 {
            return Some(DnsSecret::tsig(text.to_owned()));
        }
        let map: BTreeMap<String, String> = serde_json::from_str(text).ok()?;
        Some(DnsSecret(map.into_iter().map(|(k, v)| (k, SecretBytes::from_text(&v))).collect()))
    }

    fn validate(&self, provider: DnsProvider) -> Result<(), ConfigError> {
        if provider == DnsProvider::Gcloud {
            let key = self.get("service_account_key").unwrap_or_default();
            let parsed: Option<Value> = serde_json::from_str(key).ok();
            let field =
                |name: &str| parsed.as_ref().and_then(|v| v.get(name)).and_then(Value::as_str).map(str::to_owned);
            if field("client_email").is_none() || !field("private_key").is_some_and(|k| k.contains("PRIVATE KEY-----"))
            {
                return Err(ConfigError::new(
                    "config.service_account_key",
                    "must be a service account key file (JSON with client_email and private_key)",
                ));
            }
        }
        Ok(())
    }
}

/// A request `config` for `provider` that decodes (loopback URLs, made-up secrets): for tests that
/// create a credential of every provider.
#[cfg(any(test, feature = "testsuite"))]
pub fn example_request(provider: DnsProvider) -> Value {
    let tsig = "MDEyMzQ1Njc4OWFiY2RlZg==";
    let key = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n";
    let guid = "00000000-0000-0000-0000-000000000001";
    match provider {
        DnsProvider::Rfc2136 => {
            serde_json::json!({ "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-sha256", "secret": tsig })
        }
        DnsProvider::Pdns => serde_json::json!({ "api_url": "http://127.0.0.1:8081", "api_key": "pdns-api-key" }),
        DnsProvider::Route53 => {
            serde_json::json!({ "access_key_id": "AKIDEXAMPLE", "secret_access_key": "example-secret",
                                                    "endpoint": "http://127.0.0.1:5000" })
        }
        DnsProvider::Cloudflare | DnsProvider::Hetzner => {
            serde_json::json!({ "api_url": "http://127.0.0.1:8082", "api_token": "example-token" })
        }
        DnsProvider::Digitalocean => {
            serde_json::json!({ "api_url": "http://127.0.0.1:8082", "token": "example-token" })
        }
        DnsProvider::Gcloud => serde_json::json!({ "project": "example-project", "api_url": "http://127.0.0.1:8083",
            "token_url": "http://127.0.0.1:8083/token",
            "service_account_key": serde_json::json!({ "client_email": "dns@example.iam.gserviceaccount.com", "private_key": key }).to_string() }),
        DnsProvider::Azure => serde_json::json!({ "tenant_id": guid, "client_id": guid, "subscription_id": guid,
            "resource_group": "dns", "api_url": "http://127.0.0.1:8084", "login_url": "http://127.0.0.1:8084",
            "client_secret": "example-secret" }),
        DnsProvider::Ovh => serde_json::json!({ "endpoint": "http://127.0.0.1:8085/1.0", "application_key": "ak",
            "application_secret": "example-secret", "consumer_key": "example-consumer" }),
        DnsProvider::Acmedns => serde_json::json!({ "api_url": "http://127.0.0.1:8086", "username": "user",
            "subdomain": "d420c923-bbd7", "password": "example-password" }),
        DnsProvider::Exec => serde_json::json!({ "command": "/usr/local/bin/dns-hook" }),
    }
}

#[cfg(test)]
mod tests;
