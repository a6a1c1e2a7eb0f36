//! Choosing where a challenge record goes: the project's zone whose apex is the longest suffix of the
//! name selects the credential, a CNAME on `_acme-challenge` moves the record into the zone it
//! points to, and the credential becomes a provider client.

use std::net::SocketAddr;

use certautopilot_connectors::dns::{
    Authoritative, ProviderContext, TxtRecords, challenge_name, client, system_resolver,
};
use certautopilot_core::ProjectScope;
use certautopilot_core::model::{DnsCredential, DnsProviderConfig, DnsSecret, PropagationStrategy, Zone};
use certautopilot_core::store::{PageRequest, RecordStore};

use super::{IssuanceDeps, IssueError};

/// Where one challenge value is published and checked.
pub(crate) struct ChallengeTarget {
    pub zone: Zone,
    /// The name the TXT record is written at (the CNAME target when delegated).
    pub name: String,
    pub provider: Box<dyn TxtRecords>,
    /// The credential's configured servers (RFC 2136's `nameservers`): the authoritative list when
    /// the zone names none.
    pub nameservers: Vec<SocketAddr>,
}

impl ChallengeTarget {
    /// Where the record must be visible, by the zone's strategy: its resolvers; or its given
    /// nameservers, else the credential's (RFC 2136's legacy `nameservers`), else the servers the
    /// zone's NS records name — asked of the server the provider updates, or, for an HTTP API
    /// provider, of the system's resolver (production only; tests always name servers). `delay`
    /// and `none` check nothing.
    pub async fn check_servers(&self, check: &Authoritative) -> Result<Vec<SocketAddr>, IssueError> {
        let propagation = &self.zone.propagation;
        match propagation.strategy {
            PropagationStrategy::Resolvers => return Ok(propagation.resolvers.clone()),
            PropagationStrategy::Delay | PropagationStrategy::None => return Ok(Vec::new()),
            PropagationStrategy::Authoritative => {}
        }
        if !propagation.nameservers.is_empty() {
            return Ok(propagation.nameservers.clone());
        }
        if !self.nameservers.is_empty() {
            return Ok(self.nameservers.clone());
        }
        if let Some(via) = self.provider.dns_server() {
            return Ok(check.servers(&self.zone.apex, via).await?);
        }
        let no_servers = |why: String| {
            IssueError::Setup(format!(
                "zone {}: {why}; name the servers to check in the zone's propagation settings",
                self.zone.apex
            ))
        };
        let resolver = system_resolver().map_err(|e| no_servers(e.to_string()))?;
        let servers = check.servers(&self.zone.apex, resolver).await?;
        if servers == [resolver] {
            return Err(no_servers(format!("the system resolver {resolver} names no address of its name servers")));
        }
        Ok(servers)
    }
}

/// The project's zones, read once per attempt.
pub(crate) async fn project_zones(deps: &IssuanceDeps, scope: &ProjectScope) -> Result<Vec<Zone>, IssueError> {
    let mut zones = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = deps.store.list::<Zone>(scope, &page).await?;
        zones.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => return Ok(zones),
        }
    }
}

/// The zone whose apex is the longest suffix of `name` (label-wise); the API checks names at
/// creation with the same function.
pub(crate) fn zone_for<'a>(zones: &'a [Zone], name: &str) -> Option<&'a Zone> {
    certautopilot_core::model::zone_serving(zones, name)
}

pub(crate) async fn provider(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    zone: &Zone,
) -> Result<Box<dyn TxtRecords>, IssueError> {
    Ok(provider_and_checks(deps, scope, zone).await?.0)
}

async fn provider_and_checks(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    zone: &Zone,
) -> Result<(Box<dyn TxtRecords>, Vec<SocketAddr>), IssueError> {
    let credential: DnsCredential = deps.store.get(scope, &zone.credential_id).await?;
    let nameservers = match &credential.config {
        DnsProviderConfig::Rfc2136(config) => config.nameserver_addrs(),
        _ => Vec::new(),
    };
    let secret = match &credential.secret {
        Some(sealed) => {
            let opened = deps.envelope.open(&credential.id.to_string(), "secret", sealed)?;
            let secret = DnsSecret::from_plaintext(credential.provider(), &opened).ok_or_else(|| {
                IssueError::Setup(format!(
                    "credential {}: the sealed secret does not read; set it again",
                    credential.name
                ))
            })?;
            Some(secret)
        }
        None => None,
    };
    let context = ProviderContext { timeout: deps.settings.dns_query_timeout, egress: deps.settings.egress.clone() };
    let provider = client(&credential.config, secret.as_ref(), &context).await.map_err(|e| match e {
        certautopilot_connectors::dns::DnsError::Config(why) => {
            IssueError::Setup(format!("credential {}: {why}", credential.name))
        }
        other => IssueError::from(other),
    })?;
    Ok((provider, nameservers))
}

/// Where the challenge for `identifier` goes: its zone's credential, or, when `_acme-challenge` of
/// the name is a CNAME, the zone (and credential) of the CNAME's target.
pub(crate) async fn challenge_target(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    zones: &[Zone],
    identifier: &str,
) -> Result<ChallengeTarget, IssueError> {
    let no_zone = |name: &str| IssueError::Setup(format!("no zone of this project serves {name}; add its zone"));
    let zone = zone_for(zones, identifier).ok_or_else(|| no_zone(identifier))?;
    let (provider, nameservers) = provider_and_checks(deps, scope, zone).await?;
    let name = challenge_name(identifier);
    let check = Authoritative { timeout: deps.settings.dns_query_timeout, egress: deps.settings.egress.clone() };
    // Without a DNS server of its own (an HTTP API), the CNAME is asked of the servers the zone
    // checks propagation at.
    let zone_servers = zone.propagation.nameservers.iter().chain(&zone.propagation.resolvers);
    let asked = nameservers.first().copied().or(provider.dns_server()).or(zone_servers.copied().next());
    let delegated_to = match asked {
        Some(server) => check.cname(server, &name).await?,
        None => None,
    };
    match delegated_to {
        None => Ok(ChallengeTarget { zone: zone.clone(), name, provider, nameservers }),
        Some(target) => {
            let delegated = zone_for(zones, &target).ok_or_else(|| {
                IssueError::Setup(format!("{name} is a CNAME to {target}, which no zone of this project serves"))
            })?;
            let (provider, nameservers) = provider_and_checks(deps, scope, delegated).await?;
            Ok(ChallengeTarget { zone: delegated.clone(), name: target, provider, nameservers })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::Timestamp;
    use certautopilot_core::ids::{DnsCredentialId, ProjectId};

    /// The longest matching apex wins, label-wise: `badexample.test` is not under `example.test`.
    #[test]
    fn the_longest_suffix_selects_the_zone() {
        let project = ProjectId::new();
        let zone = |apex: &str| Zone::new(project, apex, DnsCredentialId::new(), Timestamp::now());
        let zones = vec![zone("example.test"), zone("eu.example.test"), zone("other.test")];
        assert_eq!(zone_for(&zones, "www.eu.example.test").map(|z| z.apex.as_str()), Some("eu.example.test"));
        assert_eq!(zone_for(&zones, "*.example.test").map(|z| z.apex.as_str()), Some("example.test"));
        assert_eq!(zone_for(&zones, "EXAMPLE.test.").map(|z| z.apex.as_str()), Some("example.test"));
        assert_eq!(zone_for(&zones, "badexample.test"), None);
        assert_eq!(zone_for(&zones, "test"), None);
    }
}
