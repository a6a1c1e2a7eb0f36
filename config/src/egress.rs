//! `[egress]`: the networks connectors may reach (targets, ACME CAs, DNS servers, TLS scans). The
//! config holds the validated lists; the rules that apply them live in
//! `certautopilot_connectors::egress::EgressPolicy`. Invariant: every entry is a CIDR network in
//! canonical form (host bits cleared), so `10.1.2.3/8` is refused rather than silently widened.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawEgress {
    /// Networks that may be reached even where a wider `deny` or a built-in refusal would apply
    /// (the most specific entry wins).
    pub allow: Vec<String>,
    /// Networks that must not be reached. Link-local and metadata ranges are refused without
    /// being listed; private ranges are reachable unless listed here.
    pub deny: Vec<String>,
    /// Whether this host itself (127.0.0.0/8, ::1) may be reached: off by default, so a project
    /// admin cannot point a target at services listening on the server's loopback.
    pub allow_loopback: bool,
}

/// The validated `[egress]` section.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct EgressConfig {
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
    pub allow_loopback: bool,
}

fn networks(key: &'static str, list: Vec<String>) -> Result<Vec<IpNet>, ConfigError> {
    list.into_iter()
        .map(|text| {
            let bad = |why: &str| ConfigError::invalid(key, format!("{text:?}"), why);
            // A bare address is a network of one.
            let net: IpNet = match text.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => text
                    .parse::<std::net::IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| bad("expected a network in CIDR form, such as 10.0.0.0/8 or fd00::/8"))?,
            };
            if net.trunc() != net {
                return Err(bad(&format!("host bits are set; the network is {}", net.trunc())));
            }
            Ok(net)
        })
        .collect()
}

impl RawEgress {
    pub(crate) fn validate(self) -> Result<EgressConfig, ConfigError> {
        Ok(EgressConfig {
            allow: networks("egress.allow", self.allow)?,
            deny: networks("egress.deny", self.deny)?,
            allow_loopback: self.allow_loopback,
        })
    }
}

impl From<&EgressConfig> for RawEgress {
    fn from(c: &EgressConfig) -> Self {
        RawEgress {
            allow: c.allow.iter().map(ToString::to_string).collect(),
            deny: c.deny.iter().map(ToString::to_string).collect(),
            allow_loopback: c.allow_loopback,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(allow: &[&str], deny: &[&str]) -> RawEgress {
        RawEgress {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            deny: deny.iter().map(|s| s.to_string()).collect(),
            allow_loopback: false,
        }
    }

    /// Both families and bare addresses parse; loopback stays off unless asked for.
    #[test]
    fn networks_of_both_families_parse() {
        let config = raw(&["10.20.0.0/16", "::1", "fd00::/8"], &["0.0.0.0/0", "192.0.2.7"]).validate().unwrap();
        assert_eq!(
            config.allow.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["10.20.0.0/16", "::1/128", "fd00::/8"]
        );
        assert_eq!(config.deny.iter().map(ToString::to_string).collect::<Vec<_>>(), ["0.0.0.0/0", "192.0.2.7/32"]);
        assert!(!config.allow_loopback);
        assert_eq!(RawEgress::default().validate().unwrap(), EgressConfig::default());
    }

    /// The section reads from a file and `allow_loopback` from the environment (what the test
    /// harnesses set); a bad entry in the file names its key.
    #[test]
    fn section_loads_from_file_and_environment() {
        let path = std::path::Path::new("test.toml");
        let text = "[egress]\nallow = [\"10.20.0.0/16\"]\ndeny = [\"0.0.0.0/0\", \"::/0\"]\n";
        let env = vec![("CERTAUTOPILOT_EGRESS__ALLOW_LOOPBACK".to_owned(), "true".to_owned())];
        let config = crate::load_from_str(text, path, env).unwrap();
        assert_eq!(config.egress.deny.len(), 2);
        assert!(config.egress.allow_loopback);
        assert!(!crate::load_from_str("", path, Vec::new()).unwrap().egress.allow_loopback, "off by default");
        let e = crate::load_from_str("[egress]\ndeny = [\"10.0.0.0/40\"]\n", path, Vec::new()).unwrap_err();
        assert_eq!(e.key(), Some("egress.deny"));
    }

    /// A bad entry is refused with its key and value named; host bits are not silently cleared.
    #[test]
    fn bad_networks_name_the_key_and_value() {
        let e = raw(&["10.0.0.0/33"], &[]).validate().unwrap_err();
        assert_eq!(e.key(), Some("egress.allow"));
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
        let e = raw(&[], &["metadata"]).validate().unwrap_err();
        assert_eq!(e.key(), Some("egress.deny"));
        assert!(e.to_string().contains("metadata") && e.to_string().contains("CIDR"), "{e}");
        let e = raw(&[], &["10.1.2.3/8"]).validate().unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/8"), "names the network meant: {e}");
    }
}
