//! `TxtRecords`, what every DNS provider's client does for DNS-01 (add and remove one TXT value at
//! a name in a zone), and `client`, the one factory from a credential's typed settings and opened
//! secret to the provider's client.
//! Invariant: a client is built only for a provider this build supports (`DnsError::Unsupported`
//! otherwise), and every address it will send to is checked by the egress policy, here (RFC 2136's
//! server) or before each request (the HTTP APIs, through `https::connector`).

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, DnsProviderConfig, DnsSecret};

use super::api::Reach;
use super::exec::ExecHook;
use super::{AcmeDns, Azure, Cloudflare, Digitalocean, DnsError, Gcloud, Hetzner, Ovh, Pdns, Rfc2136, Route53};
use crate::egress::{EgressPolicy, OutboundError};

/// A provider's client for challenge records.
#[async_trait]
pub trait TxtRecords: Send + Sync + std::fmt::Debug {
    fn provider(&self) -> DnsProvider;

    /// Adds `value` to the TXT set at `name` (a fully qualified name inside `zone`); other values
    /// at the name stay (a wildcard and its base are validated at one name in one order).
    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError>;

    /// Removes exactly `value` from the TXT set at `name`; removing what is not there succeeds.
    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError>;

    /// The provider's zone serving `zone` (the zone's apex), described for people (`example.com
    /// (id Z123)`): what a credential test shows. `None` for providers with no zone to look up
    /// (acme-dns, the exec hook) and DNS servers (asked for the zone's NS records instead).
    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        let _ = zone;
        Ok(None)
    }

    /// The DNS server this client updates, when it is one (RFC 2136): asked for the zone's NS
    /// records and the challenge name's CNAME when the zone names no servers.
    fn dns_server(&self) -> Option<SocketAddr> {
        None
    }

    /// Waits until the provider reports the changes made so far applied everywhere it serves them
    /// (Route 53's `INSYNC`), for at most `wait`; providers without such a report return at once.
    async fn wait_applied(&self, wait: Duration) -> Result<(), DnsError> {
        let _ = wait;
        Ok(())
    }
}

/// What every client is built with.
#[derive(Debug, Clone)]
pub struct ProviderContext {
    /// How long one DNS query or API request may take.
    pub timeout: Duration,
    pub egress: EgressPolicy,
}

impl ProviderContext {
    pub fn reach(&self) -> Reach {
        Reach { timeout: self.timeout, egress: self.egress.clone() }
    }
}

/// The client for a credential: its settings and its opened secret (`None` for providers that
/// have none).
pub async fn client(
    config: &DnsProviderConfig,
    secret: Option<&DnsSecret>,
    context: &ProviderContext,
) -> Result<Box<dyn TxtRecords>, DnsError> {
    let secret_field = |field: &str| {
        secret
            .and_then(|s| s.get(field))
            .map(str::to_owned)
            .ok_or_else(|| DnsError::Config(format!("the credential has no {field}; set it again")))
    };
    match config {
        DnsProviderConfig::Rfc2136(c) => {
            let server = resolve_server(&c.server, &context.egress).await?;
            let tsig = base64::engine::general_purpose::STANDARD
                .decode(secret_field("secret")?)
                .map_err(|_| DnsError::Config("the TSIG secret is not base64".into()))?;
            Ok(Box::new(Rfc2136::new(c, server, SecretBytes::new(tsig), context.timeout, context.egress.clone())?))
        }
        DnsProviderConfig::Route53(c) => {
            Ok(Box::new(Route53::new(c, secret_field("secret_access_key")?, context.reach())))
        }
        DnsProviderConfig::Cloudflare(c) => {
            Ok(Box::new(Cloudflare::new(c, SecretBytes::from_text(&secret_field("api_token")?), context.reach())))
        }
        DnsProviderConfig::Digitalocean(c) => {
            Ok(Box::new(Digitalocean::new(c, SecretBytes::from_text(&secret_field("token")?), context.reach())))
        }
        DnsProviderConfig::Hetzner(c) => {
            Ok(Box::new(Hetzner::new(c, SecretBytes::from_text(&secret_field("api_token")?), context.reach())))
        }
        DnsProviderConfig::Acmedns(c) => {
            let password = SecretBytes::from_text(&secret_field("password")?);
            Ok(Box::new(AcmeDns::new(c, password, context.reach())))
        }
        DnsProviderConfig::Exec(c) => Ok(Box::new(ExecHook::new(c))),
        DnsProviderConfig::Pdns(c) => Ok(Box::new(Pdns::new(c, secret_field("api_key")?, context.reach()))),
        DnsProviderConfig::Gcloud(c) => {
            Ok(Box::new(Gcloud::new(c, &secret_field("service_account_key")?, context.reach())?))
        }
        DnsProviderConfig::Azure(c) => {
            Ok(Box::new(Azure::new(c, SecretBytes::from_text(&secret_field("client_secret")?), context.reach())))
        }
        DnsProviderConfig::Ovh(c) => Ok(Box::new(Ovh::new(
            c,
            SecretBytes::from_text(&secret_field("application_secret")?),
            SecretBytes::from_text(&secret_field("consumer_key")?),
            context.reach(),
        ))),
    }
}

/// An RFC 2136 server's `host:port`, resolved and checked under the egress policy; updates then go
/// to the checked address.
async fn resolve_server(server: &str, egress: &EgressPolicy) -> Result<SocketAddr, DnsError> {
    match egress.resolve_endpoint(server).await {
        Ok(addrs) => Ok(addrs[0]),
        Err(OutboundError::Denied(denied)) => {
            Err(DnsError::Config(format!("DNS server {}: {denied}", server.escape_debug())))
        }
        Err(_) => Err(DnsError::Config(format!("DNS server {} does not resolve", server.escape_debug()))),
    }
}

/// A provider's name as settings spell it (`pdns`, `route53`, …).
pub fn provider_name(provider: DnsProvider) -> String {
    serde_json::to_value(provider).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
