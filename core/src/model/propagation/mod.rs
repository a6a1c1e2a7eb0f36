//! How long and where a zone's DNS-01 records are waited for before the CA is told to look: the
//! strategy (`authoritative`, `resolvers`, `delay`, `none`), the servers, the timeout and the poll
//! interval, per zone, with provider defaults; and (`report`) what a wait has seen so far.
//! Invariant: a stored `Propagation` passed `Propagation::check`; the default is stored as nothing,
//! so zones written before these settings existed read back (and write back) unchanged.

mod report;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use report::{PropagationWatch, ServerAnswer, ServerStatus, UNREACHABLE_ADVICE, WaitPicture, picture_changed};

use super::DnsProvider;
use super::checks::ConfigError;

/// Bounds of the settings (issue 20): a wait longer than an hour outlives the CA's authorization
/// in practice, and polling faster than 100 ms only loads the name servers.
pub const MAX_TIMEOUT_SECONDS: u32 = 3_600;
pub const MIN_POLL_INTERVAL_MS: u32 = 100;
pub const MAX_POLL_INTERVAL_MS: u32 = 60_000;
pub const MAX_DELAY_SECONDS: u32 = 3_600;
/// More servers than a zone has in practice (13 is the root's count).
pub const MAX_SERVERS: usize = 13;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropagationStrategy {
    /// Every authoritative server of the zone shows the value: the `nameservers` given, else the
    /// servers the zone's NS records name.
    #[default]
    Authoritative,
    /// Each listed recursive resolver answers the value (split horizon: the servers the CA sees).
    Resolvers,
    /// A fixed wait, nothing asked.
    Delay,
    /// No wait at all: the provider's own report (`wait_applied`) is the only wait.
    None,
}

impl PropagationStrategy {
    pub const ALL: [PropagationStrategy; 4] = [
        PropagationStrategy::Authoritative,
        PropagationStrategy::Resolvers,
        PropagationStrategy::Delay,
        PropagationStrategy::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PropagationStrategy::Authoritative => "authoritative",
            PropagationStrategy::Resolvers => "resolvers",
            PropagationStrategy::Delay => "delay",
            PropagationStrategy::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A zone's propagation settings as stored. Every field is optional on the wire; `None` timeout and
/// poll interval take the provider's defaults (`Propagation::timeout`, `poll_interval`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Propagation {
    #[serde(default)]
    pub strategy: PropagationStrategy,
    /// `authoritative`: the servers to check, instead of the zone's NS records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<SocketAddr>,
    /// `resolvers`: the recursive resolvers to check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolvers: Vec<SocketAddr>,
    /// `delay`: how long to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u32>,
}

/// A request's `propagation` object before it is checked: servers as text, so a bad one is named
/// by its index (`propagation.nameservers[1]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropagationInput {
    #[serde(default)]
    pub strategy: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<String>,
    #[serde(default)]
    pub resolvers: Vec<String>,
    #[serde(default)]
    pub delay_seconds: Option<u32>,
    #[serde(default)]
    pub timeout_seconds: Option<u32>,
    #[serde(default)]
    pub poll_interval_ms: Option<u32>,
}

impl Propagation {
    pub fn is_default(&self) -> bool {
        *self == Propagation::default()
    }

    /// Checks a request's settings; every refusal names its field under `prefix` (`propagation`).
    pub fn check(prefix: &str, input: PropagationInput) -> Result<Propagation, ConfigError> {
        let field = |name: &str| format!("{prefix}.{name}");
        let strategy = match input.strategy.as_deref() {
            None => PropagationStrategy::default(),
            Some(text) => PropagationStrategy::parse(text).ok_or_else(|| {
                let names: Vec<_> = PropagationStrategy::ALL.iter().map(|s| s.as_str()).collect();
                ConfigError::new(field("strategy"), format!("must be one of {}", names.join(", ")))
            })?,
        };
        let nameservers = servers(&field("nameservers"), &input.nameservers)?;
        let resolvers = servers(&field("resolvers"), &input.resolvers)?;
        let only_for = |name: &str, wanted: PropagationStrategy| {
            ConfigError::new(field(name), format!("is used by the `{}` strategy only", wanted.as_str()))
        };
        if !nameservers.is_empty() && strategy != PropagationStrategy::Authoritative {
            return Err(only_for("nameservers", PropagationStrategy::Authoritative));
        }
        if !resolvers.is_empty() && strategy != PropagationStrategy::Resolvers {
            return Err(only_for("resolvers", PropagationStrategy::Resolvers));
        }
        if resolvers.is_empty() && strategy == PropagationStrategy::Resolvers {
            return Err(ConfigError::new(field("resolvers"), "is required by the `resolvers` strategy"));
        }
        match (strategy, input.delay_seconds) {
            (PropagationStrategy::Delay, None) => {
                return Err(ConfigError::new(field("delay_seconds"), "is required by the `delay` strategy"));
            }
            (PropagationStrategy::Delay, Some(s)) if s == 0 || s > MAX_DELAY_SECONDS => {
                return Err(ConfigError::new(field("delay_seconds"), format!("must be 1 to {MAX_DELAY_SECONDS}")));
            }
            (PropagationStrategy::Delay, _) | (_, None) => {}
            (_, Some(_)) => return Err(only_for("delay_seconds", PropagationStrategy::Delay)),
        }
        if let Some(t) = input.timeout_seconds
            && (t == 0 || t > MAX_TIMEOUT_SECONDS)
        {
            return Err(ConfigError::new(field("timeout_seconds"), format!("must be 1 to {MAX_TIMEOUT_SECONDS}")));
        }
        if let Some(p) = input.poll_interval_ms
            && !(MIN_POLL_INTERVAL_MS..=MAX_POLL_INTERVAL_MS).contains(&p)
        {
            return Err(ConfigError::new(
                field("poll_interval_ms"),
                format!("must be {MIN_POLL_INTERVAL_MS} to {MAX_POLL_INTERVAL_MS}"),
            ));
        }
        if let (Some(t), Some(p)) = (input.timeout_seconds, input.poll_interval_ms)
            && u64::from(p) > u64::from(t) * 1_000
        {
            return Err(ConfigError::new(field("poll_interval_ms"), "must not be longer than timeout_seconds"));
        }
        Ok(Propagation {
            strategy,
            nameservers,
            resolvers,
            delay_seconds: input.delay_seconds,
            timeout_seconds: input.timeout_seconds,
            poll_interval_ms: input.poll_interval_ms,
        })
    }

    /// The stored settings as a request would give them (an edit form starts from these).
    pub fn to_input(&self) -> PropagationInput {
        PropagationInput {
            strategy: Some(self.strategy.as_str().to_owned()),
            nameservers: self.nameservers.iter().map(ToString::to_string).collect(),
            resolvers: self.resolvers.iter().map(ToString::to_string).collect(),
            delay_seconds: self.delay_seconds,
            timeout_seconds: self.timeout_seconds,
            poll_interval_ms: self.poll_interval_ms,
        }
    }

    /// How long to wait at most: the zone's timeout, else the service's (`[issuance]
    /// dns_propagation_timeout_secs`), at least the provider's own floor (an API whose changes take
    /// minutes to reach its servers, such as Route 53's, would time out on a shorter default).
    pub fn timeout(&self, provider: DnsProvider, service_default: Duration) -> Duration {
        match self.timeout_seconds {
            Some(s) => Duration::from_secs(u64::from(s)),
            None => service_default.max(provider_defaults(provider).min_timeout),
        }
    }

    /// The longest pause between two polls: the zone's, else the provider's.
    pub fn poll_interval(&self, provider: DnsProvider) -> Duration {
        match self.poll_interval_ms {
            Some(ms) => Duration::from_millis(u64::from(ms)),
            None => provider_defaults(provider).poll_interval,
        }
    }
}

/// What a provider waits by default when the zone does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProviderPropagationDefaults {
    /// A default timeout is never shorter than this.
    pub min_timeout: Duration,
    /// The longest pause between polls (polling starts at 10 ms and doubles up to this).
    pub poll_interval: Duration,
}

/// Servers the service runs itself (RFC 2136, PowerDNS, acme-dns, a hook) usually show a change at
/// once; a cloud provider's anycast fleet takes seconds to a minute or two (Route 53 documents
/// `INSYNC` "generally within 60 seconds"), so polling is slower and the timeout floor longer.
pub fn provider_defaults(provider: DnsProvider) -> ProviderPropagationDefaults {
    match provider {
        DnsProvider::Rfc2136 | DnsProvider::Pdns | DnsProvider::Acmedns | DnsProvider::Exec => {
            ProviderPropagationDefaults { min_timeout: Duration::ZERO, poll_interval: Duration::from_millis(500) }
        }
        DnsProvider::Route53
        | DnsProvider::Cloudflare
        | DnsProvider::Digitalocean
        | DnsProvider::Hetzner
        | DnsProvider::Gcloud
        | DnsProvider::Azure
        | DnsProvider::Ovh => {
            ProviderPropagationDefaults { min_timeout: Duration::from_secs(300), poll_interval: Duration::from_secs(2) }
        }
    }
}

/// `ip:port` entries, each named by its index when it does not read; at most `MAX_SERVERS`, no
/// repeats.
fn servers(field: &str, given: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    if given.len() > MAX_SERVERS {
        return Err(ConfigError::new(field, format!("must list at most {MAX_SERVERS} servers")));
    }
    let mut out: Vec<SocketAddr> = Vec::new();
    for (i, text) in given.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let addr: SocketAddr = text.trim().parse().map_err(|_| {
            ConfigError::new(&at, format!("{:?} is not an ip:port address", text.escape_debug().to_string()))
        })?;
        if addr.port() == 0 {
            return Err(ConfigError::new(&at, "the port must not be 0"));
        }
        if addr.ip().is_unspecified() {
            return Err(ConfigError::new(&at, "must name a server, not 0.0.0.0 or ::"));
        }
        if out.contains(&addr) {
            return Err(ConfigError::new(&at, "is listed twice"));
        }
        out.push(addr);
    }
    Ok(out)
}
