//! The typed settings of a DNS credential: `DnsProviderConfig`, tagged by `provider`, one variant per
//! provider (RFC 2136 today), and the one list of TSIG algorithms. The API validates a request into
//! it, the store keeps it on the credential, the issuance actors build the provider client from it.
//! Invariants: the secret (the TSIG key) is never part of it — it is sealed apart as the credential's
//! `secret`; the JSON of the settings (`to_json`) is exactly the object stored before they were typed.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::checks::{self, ConfigError};
use super::dns::DnsProvider;

/// How many servers a credential may name to check a challenge record's visibility at.
pub const MAX_NAMESERVERS: usize = 10;

/// The TSIG algorithms accepted (RFC 8945), by their names in settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsigAlgorithm {
    #[default]
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "hmac-sha384")]
    HmacSha384,
    #[serde(rename = "hmac-sha512")]
    HmacSha512,
}

impl TsigAlgorithm {
    pub const ALL: [TsigAlgorithm; 3] =
        [TsigAlgorithm::HmacSha256, TsigAlgorithm::HmacSha384, TsigAlgorithm::HmacSha512];

    pub fn name(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm of a name, in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.to_ascii_lowercase();
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// RFC 2136 dynamic update signed with TSIG: where updates go and which key signs them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfc2136Config {
    /// The primary server, `host:port`.
    pub server: String,
    /// The TSIG key name.
    pub key_name: String,
    pub algorithm: TsigAlgorithm,
    /// Where to confirm a challenge record is visible (`ip:port` each); empty: the zone's NS records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// A DNS credential's settings, by provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum DnsProviderConfig {
    Rfc2136(Rfc2136Config),
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

    pub fn validate(&mut self) -> Result<(), ConfigError> {
        match self {
            DnsProviderConfig::Rfc2136(c) => c.validate(),
        }
    }
}

impl Rfc2136Config {
    /// The settings of a request, checked in the order the API has always reported them, and the
    /// TSIG secret as it is sealed (base64, trimmed).
    pub fn from_request(
        server: String,
        key_name: String,
        algorithm: &str,
        secret: &str,
        nameservers: Vec<String>,
    ) -> Result<(Self, String), ConfigError> {
        check_server(&server)?;
        let key_name = check_key_name(&key_name)?;
        let algorithm = TsigAlgorithm::from_name(algorithm).ok_or_else(|| {
            let names: Vec<&str> = TsigAlgorithm::ALL.iter().map(|a| a.name()).collect();
            ConfigError::new("config.algorithm", format!("must be one of {}", names.join(", ")))
        })?;
        let secret = Self::check_secret(secret)?;
        check_nameservers(&nameservers)?;
        Ok((Rfc2136Config { server, key_name, algorithm, nameservers }, secret))
    }

    /// Checks the settings and normalizes the key name.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        check_server(&self.server)?;
        self.key_name = check_key_name(&self.key_name)?;
        check_nameservers(&self.nameservers)
    }

    /// A TSIG secret: base64 of at least 16 bytes. Returns it trimmed, as it is sealed.
    pub fn check_secret(secret: &str) -> Result<String, ConfigError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| ConfigError::new("config.secret", "must be base64"))?;
        if bytes.len() < 16 {
            return Err(ConfigError::new("config.secret", "must be at least 16 bytes"));
        }
        Ok(secret.trim().to_owned())
    }

    /// The configured servers to check visibility at (those that parse; the API stores only those).
    pub fn nameserver_addrs(&self) -> Vec<std::net::SocketAddr> {
        self.nameservers.iter().filter_map(|ns| ns.parse().ok()).collect()
    }
}

fn check_server(server: &str) -> Result<(), ConfigError> {
    let (host, port) = server.rsplit_once(':').ok_or_else(|| ConfigError::new("config.server", "must be host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(ConfigError::new("config.server", "port must be 1 to 65535"));
    }
    if host.parse::<std::net::IpAddr>().is_err() {
        checks::domain("config.server", host, false)?;
    }
    Ok(())
}

fn check_key_name(key_name: &str) -> Result<String, ConfigError> {
    checks::domain("config.key_name", key_name, false).or_else(|_| checks::name("config.key_name", key_name))
}

fn check_nameservers(nameservers: &[String]) -> Result<(), ConfigError> {
    if nameservers.len() > MAX_NAMESERVERS {
        return Err(ConfigError::new("config.nameservers", format!("at most {MAX_NAMESERVERS} servers")));
    }
    for (i, ns) in nameservers.iter().enumerate() {
        if ns.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(format!("config.nameservers[{i}]"), "must be ip:port"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A credential's settings stored before they were typed read back and write back the same.
    #[test]
    fn stored_settings_keep_their_shape() {
        for stored in [
            json!({ "server": "127.0.0.1:53", "key_name": "k", "algorithm": "hmac-sha512" }),
            json!({ "server": "ns.example.test:53", "key_name": "k.", "algorithm": "hmac-sha256", "nameservers": ["127.0.0.1:53"] }),
        ] {
            let config = DnsProviderConfig::from_json(DnsProvider::Rfc2136, stored.clone()).unwrap();
            assert_eq!(config.to_json(), stored);
            assert_eq!(config.provider(), DnsProvider::Rfc2136);
        }
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let req = |server: &str, alg: &str, secret: &str, ns: Vec<String>| {
            Rfc2136Config::from_request(server.into(), "key.example.test".into(), alg, secret, ns)
        };
        let secret = "MDEyMzQ1Njc4OWFiY2RlZg==";
        assert_eq!(req("ns.test", "hmac-sha256", secret, vec![]).unwrap_err().field, "config.server");
        let err = req("127.0.0.1:53", "hmac-md5", secret, vec![]).unwrap_err();
        assert_eq!(err.message, "must be one of hmac-sha256, hmac-sha384, hmac-sha512");
        assert_eq!(req("127.0.0.1:53", "HMAC-SHA384", "c2hvcnQ=", vec![]).unwrap_err().field, "config.secret");
        let err = req("127.0.0.1:53", "hmac-sha256", secret, vec!["x".into()]).unwrap_err();
        assert_eq!(err.field, "config.nameservers[0]");
        let (config, _) = req("127.0.0.1:53", "HMAC-SHA384", secret, vec![]).unwrap();
        assert_eq!(config.algorithm, TsigAlgorithm::HmacSha384);
    }
}
