//! RFC 2136 dynamic update with TSIG: its settings and the one list of TSIG algorithms.
//! Invariant: the TSIG secret is never part of the settings; it is sealed as the credential's
//! `secret`, as the trimmed base64 text (the one provider whose sealed secret is not a JSON object,
//! as it always was).

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::checks::{self, ConfigError};

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

    pub const fn name(self) -> &'static str {
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

impl Rfc2136Config {
    /// A request's settings object, checked in the order the API has always reported them, and the
    /// TSIG secret as it is sealed (base64, trimmed), when the request carries one.
    pub fn decode_request(mut config: Map<String, Value>) -> Result<(Self, Option<String>), ConfigError> {
        const KEYS: [&str; 5] = ["server", "key_name", "algorithm", "secret", "nameservers"];
        if let Some(unknown) = config.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(ConfigError::new(format!("config.{unknown}"), "is not a setting of this provider"));
        }
        let mut text = |key: &str| match config.remove(key) {
            Some(Value::String(s)) => Ok(Some(s)),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(ConfigError::new(format!("config.{key}"), "must be a string")),
        };
        let required = |key: &str, value: Option<String>| {
            value.ok_or_else(|| ConfigError::new(format!("config.{key}"), "is required"))
        };
        let server = required("server", text("server")?)?;
        let key_name = required("key_name", text("key_name")?)?;
        let algorithm = required("algorithm", text("algorithm")?)?;
        let secret = text("secret")?;
        let nameservers = match config.remove("nameservers") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(ConfigError::new(format!("config.nameservers[{i}]"), "must be ip:port")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ConfigError::new("config.nameservers", "must be a list of ip:port")),
        };
        check_server(&server)?;
        let key_name = check_key_name(&key_name)?;
        let algorithm = TsigAlgorithm::from_name(&algorithm).ok_or_else(|| {
            let names: Vec<&str> = TsigAlgorithm::ALL.iter().map(|a| a.name()).collect();
            ConfigError::new("config.algorithm", format!("must be one of {}", names.join(", ")))
        })?;
        let secret = secret.as_deref().map(Self::check_secret).transpose()?;
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
    use crate::model::{DnsProvider, DnsProviderConfig};

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
        let req = |server: &str, alg: &str, secret: &str, ns: Vec<&str>| {
            let body = json!({ "server": server, "key_name": "key.example.test", "algorithm": alg,
                               "secret": secret, "nameservers": ns });
            Rfc2136Config::decode_request(body.as_object().unwrap().clone())
        };
        let secret = "MDEyMzQ1Njc4OWFiY2RlZg==";
        assert_eq!(req("ns.test", "hmac-sha256", secret, vec![]).unwrap_err().field, "config.server");
        let err = req("127.0.0.1:53", "hmac-md5", secret, vec![]).unwrap_err();
        assert_eq!(err.message, "must be one of hmac-sha256, hmac-sha384, hmac-sha512");
        assert_eq!(req("127.0.0.1:53", "HMAC-SHA384", "c2hvcnQ=", vec![]).unwrap_err().field, "config.secret");
        let err = req("127.0.0.1:53", "hmac-sha256", secret, vec!["x"]).unwrap_err();
        assert_eq!(err.field, "config.nameservers[0]");
        let (config, sealed) = req("127.0.0.1:53", "HMAC-SHA384", secret, vec![]).unwrap();
        assert_eq!((config.algorithm, sealed.as_deref()), (TsigAlgorithm::HmacSha384, Some(secret)));
        let unknown = json!({ "server": "127.0.0.1:53", "key_name": "k", "algorithm": "hmac-sha256", "api_key": "x" });
        let err = Rfc2136Config::decode_request(unknown.as_object().unwrap().clone()).unwrap_err();
        assert_eq!(err.field, "config.api_key");
        let no_secret = json!({ "server": "127.0.0.1:53", "key_name": "k", "algorithm": "hmac-sha256" });
        assert!(Rfc2136Config::decode_request(no_secret.as_object().unwrap().clone()).unwrap().1.is_none());
    }
}
