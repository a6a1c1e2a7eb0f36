//! DNS for DNS-01 challenges: publishing and removing `_acme-challenge` TXT records through a
//! provider (`TxtRecords`: RFC 2136 dynamic update with TSIG, or a provider's HTTP API, built by
//! `provider::client` from a credential's typed settings: Cloudflare, DigitalOcean and Hetzner DNS
//! share `token_api`), following a CNAME delegation of the
//! challenge name, and confirming a record is visible at the zone's authoritative servers — never a
//! public resolver unless the zone says so — before the CA is told to look. Every server address
//! (configured, or learned from NS answers) and every API address is checked by the egress policy
//! before anything is sent to it.

mod acmedns;
pub mod api;
mod azure;
mod cloudflare;
mod digitalocean;
mod exec;
mod gcloud;
mod hetzner;
mod lookup;
mod oauth;
mod ovh;
mod pdns;
mod provider;
mod rfc2136;
mod route53;
mod token_api;
mod txt;

use std::net::SocketAddr;

use hickory_net::proto::op::ResponseCode;

use crate::egress::{EgressDenied, EgressPolicy};
use crate::failure::{NetFailure, log_remote_detail};

pub use acmedns::AcmeDns;
pub use azure::Azure;
pub use certautopilot_core::model::{Rfc2136Config, TsigAlgorithm};
pub use cloudflare::Cloudflare;
pub use digitalocean::Digitalocean;
pub use exec::ExecHook;
pub use gcloud::Gcloud;
pub use hetzner::Hetzner;
pub use lookup::{Authoritative, challenge_name, system_resolver};
pub use ovh::Ovh;
pub use pdns::{Pdns, PdnsZone};
pub use provider::{ProviderContext, TxtRecords, client, provider_name};
pub use rfc2136::Rfc2136;
pub use route53::Route53;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// No answer (timeout, connection refused): worth retrying later.
    #[error("DNS server {server} did not answer: {reason}")]
    Unreachable { server: SocketAddr, reason: String },
    /// The server answered and said no (bad TSIG key, not authoritative, update refused), or
    /// could not do it now (`SERVFAIL`: its own failure, worth retrying).
    #[error("DNS server {server} refused the {operation}: {code}")]
    Refused { server: SocketAddr, operation: &'static str, code: ResponseCode },
    /// An answer that failed to verify; with updates, a wrong TSIG key, name or algorithm.
    #[error(
        "DNS server {server} sent an answer that does not verify ({reason}); check the TSIG key name, algorithm and secret"
    )]
    BadAnswer { server: SocketAddr, reason: String },
    #[error("invalid DNS name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    #[error("invalid DNS settings: {0}")]
    Config(String),
    /// The egress policy refuses the server's address; permanent until `[egress]` changes.
    #[error("DNS server {server}: {denied}")]
    Egress { server: SocketAddr, denied: EgressDenied },
    /// The record never became visible everywhere within the configured wait; `missing` names
    /// each server still missing and what it answered.
    #[error("TXT record at {name} not visible within {waited_ms} ms at {missing}")]
    NotPropagated { name: String, missing: String, waited_ms: u64 },
    /// Servers to check never answered during the whole wait: checking from here is what fails,
    /// not propagation (`advice`: use the `resolvers` strategy).
    #[error("TXT record at {name}: name servers {servers} could not be reached in {waited_ms} ms: {advice}")]
    ServersUnreachable { name: String, servers: String, waited_ms: u64, advice: &'static str },
    /// A provider's API did not answer (no connection, timeout), or the egress policy refused it.
    #[error("the {provider} API did not answer: {reason}")]
    ApiUnreachable { provider: &'static str, reason: String, transient: bool },
    /// A provider's API answered with an error: its status and, when it gave one, its own short
    /// message (bounded and scrubbed: `api`).
    #[error("the {provider} API refused the {operation}: {}{}", crate::failure::http_status_reason(*status, "API"), message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Api { provider: &'static str, operation: &'static str, status: u16, message: Option<String> },
    /// The API kept answering 429 (or asked for a longer wait than one request waits).
    #[error("the {provider} API is rate limiting requests; retry after {retry_after_s} s")]
    RateLimited { provider: &'static str, retry_after_s: u64 },
    /// The provider has no zone of that name for this credential.
    #[error("the {provider} account has no zone {zone}")]
    ZoneNotFound { provider: &'static str, zone: String },
    /// A provider whose client this build does not have.
    #[error("DNS provider {0} is not supported by this build")]
    Unsupported(String),
    /// The exec hook failed: its exit status or why it did not finish (its output is in the debug
    /// log only: it is the user's script, and it may print secrets). `transient`: it exited with
    /// `EX_TEMPFAIL` (75) or ran out of time.
    #[error("the DNS hook {reason}")]
    Hook { reason: String, transient: bool },
}

impl DnsError {
    /// Whether trying again later may succeed without anyone changing anything.
    /// `SERVFAIL` is the server's own failure (RFC 1035 §4.1.1, RFC 2136 §2.2: a zone being
    /// loaded, a journal it could not write), not a verdict on the request.
    pub fn is_transient(&self) -> bool {
        match self {
            DnsError::Unreachable { .. }
            | DnsError::NotPropagated { .. }
            | DnsError::ServersUnreachable { .. }
            | DnsError::RateLimited { .. }
            | DnsError::Refused { code: ResponseCode::ServFail, .. } => true,
            DnsError::ApiUnreachable { transient, .. } | DnsError::Hook { transient, .. } => *transient,
            DnsError::Api { status, .. } => *status == 408 || *status >= 500,
            _ => false,
        }
    }
}

fn name(text: &str) -> Result<hickory_net::proto::rr::Name, DnsError> {
    let mut name = hickory_net::proto::rr::Name::from_ascii(text)
        .map_err(|e| DnsError::BadName { name: text.to_owned(), reason: e.to_string() })?;
    name.set_fqdn(true);
    Ok(name)
}

/// Classified: the response code, `timeout`, `connection refused`, …; the library's text (which can
/// quote the answer) goes to the debug log only.
fn net_error(server: SocketAddr, operation: &'static str, e: hickory_net::NetError) -> DnsError {
    let what = format!("dns {operation} at {server}");
    match e {
        hickory_net::NetError::Dns(hickory_net::DnsError::ResponseCode(code)) => {
            DnsError::Refused { server, operation, code }
        }
        hickory_net::NetError::Proto(e) => {
            log_remote_detail(&what, &e.to_string());
            DnsError::BadAnswer { server, reason: "the answer does not parse or verify".into() }
        }
        hickory_net::NetError::Timeout => DnsError::Unreachable { server, reason: "timeout".into() },
        hickory_net::NetError::Io(io) => no_answer(server, NetFailure::classify(&what, &*io)),
        other => no_answer(server, NetFailure::classify(&what, &other)),
    }
}

/// No answer: the policy's refusal stays permanent (it was retried as an outage before).
fn no_answer(server: SocketAddr, reason: NetFailure) -> DnsError {
    match reason {
        NetFailure::Egress(denied) => DnsError::Egress { server, denied },
        reason => DnsError::Unreachable { server, reason: reason.to_string() },
    }
}

/// Checks `server` against the policy before anything is sent to it.
fn allowed(egress: &EgressPolicy, server: SocketAddr) -> Result<(), DnsError> {
    egress.check(server.ip()).map_err(|denied| DnsError::Egress { server, denied })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `SERVFAIL` is retried, every other refusal is final; a policy refusal found in an I/O error
    /// stays the policy's (permanent), not an outage.
    #[test]
    fn refusals_and_server_failures_are_told_apart() {
        let server: SocketAddr = "127.0.0.1:53".parse().unwrap();
        let refused = |code| DnsError::Refused { server, operation: "update (add)", code };
        assert!(refused(ResponseCode::ServFail).is_transient());
        for code in [ResponseCode::Refused, ResponseCode::NotAuth, ResponseCode::NotZone, ResponseCode::NXDomain] {
            assert!(!refused(code).is_transient(), "{code}");
        }
        let denied = EgressDenied {
            address: "169.254.169.254".parse().unwrap(),
            reason: crate::egress::DenyReason::LinkLocalOrMetadata,
        };
        let io = std::io::Error::other(crate::egress::OutboundError::Denied(denied));
        let err = net_error(server, "query", hickory_net::NetError::from(io));
        assert!(matches!(err, DnsError::Egress { .. }) && !err.is_transient(), "{err}");
    }
}
