//! Discovery scans: which TLS endpoints a scan probes (its listed `host:port` endpoints, and every
//! address of its ranges on each of its ports) and what each one serves.
//! Invariant: a scan never probes more than `MAX_PROBES` endpoints; every address is checked by the
//! egress policy before a socket opens (`presented_chain`), so a range the policy refuses is never
//! touched; a probe's failure is a classified reason, never the remote's own words.

use std::time::Duration;

use certautopilot_core::jobs::DiscoveryScan;
use ipnet::IpNet;
use rustls::pki_types::CertificateDer;

use crate::egress::EgressPolicy;
use crate::targets::{DeployError, presented_chain};

/// The most endpoints one scan probes.
pub const MAX_PROBES: usize = 4_096;
/// The most ports a scan tries on each address of its ranges.
pub const MAX_PORTS: usize = 16;
/// The most endpoints and ranges a scan lists.
pub const MAX_LISTED: usize = 256;
/// Probes in flight at once.
const CONCURRENCY: usize = 32;

/// A scan refused before it runs: the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ScanError {
    pub field: String,
    pub reason: String,
}

fn refused(field: impl Into<String>, reason: impl Into<String>) -> ScanError {
    ScanError { field: field.into(), reason: reason.into() }
}

/// The endpoints `scan` probes (`host:port`, IPv6 in brackets), each once, in the order given.
pub fn probes(scan: &DiscoveryScan) -> Result<Vec<String>, ScanError> {
    if scan.endpoints.len() + scan.cidrs.len() > MAX_LISTED {
        return Err(refused("endpoints", format!("at most {MAX_LISTED} endpoints and ranges in all")));
    }
    if let Some(name) = &scan.server_name
        && rustls::pki_types::ServerName::try_from(name.as_str()).is_err()
    {
        return Err(refused("server_name", "must be a DNS name"));
    }
    let mut found: Vec<String> = Vec::new();
    for (i, endpoint) in scan.endpoints.iter().enumerate() {
        found.push(endpoint_of(endpoint).ok_or_else(|| {
            refused(
                format!("endpoints[{i}]"),
                "must be host:port (a DNS name or an address, [v6]:port), port 1 to 65535",
            )
        })?);
    }
    if !scan.cidrs.is_empty() && scan.ports.is_empty() {
        return Err(refused("ports", "give the ports to try on the ranges' addresses"));
    }
    if scan.ports.len() > MAX_PORTS || scan.ports.contains(&0) {
        return Err(refused("ports", format!("1 to {MAX_PORTS} ports, each 1 to 65535")));
    }
    let mut nets = Vec::new();
    for (i, cidr) in scan.cidrs.iter().enumerate() {
        let net: IpNet =
            cidr.trim().parse().map_err(|_| refused(format!("cidrs[{i}]"), "must be a network such as 10.0.0.0/24"))?;
        nets.push((i, net));
    }
    let mut budget = MAX_PROBES.saturating_sub(found.len());
    for (i, net) in nets {
        let addresses = net.hosts();
        for address in addresses {
            for port in &scan.ports {
                if budget == 0 {
                    return Err(refused(
                        format!("cidrs[{i}]"),
                        format!(
                            "the scan would probe more than {MAX_PROBES} endpoints: narrow the ranges or the ports"
                        ),
                    ));
                }
                budget -= 1;
                found.push(match address {
                    std::net::IpAddr::V4(a) => format!("{a}:{port}"),
                    std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
                });
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|e| seen.insert(e.clone()));
    if found.is_empty() {
        return Err(refused("endpoints", "give endpoints (host:port) or ranges (cidrs) with ports"));
    }
    Ok(found)
}

/// `text` as `host:port` when it is one (the host lower-cased; an IPv6 address in brackets).
fn endpoint_of(text: &str) -> Option<String> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare.parse::<std::net::IpAddr>() {
        return Some(match address {
            std::net::IpAddr::V4(a) => format!("{a}:{port}"),
            std::net::IpAddr::V6(a) if host.starts_with('[') => format!("[{a}]:{port}"),
            std::net::IpAddr::V6(_) => return None,
        });
    }
    crate::import::dns_name(host).filter(|n| !n.starts_with("*.")).map(|name| format!("{name}:{port}"))
}

/// Whether an endpoint (as `probes` writes it) is an address rather than a name.
fn names_an_address(endpoint: &str) -> bool {
    endpoint.starts_with('[')
        || endpoint.rsplit_once(':').is_some_and(|(host, _)| host.parse::<std::net::IpAddr>().is_ok())
}

/// What one endpoint served: its chain as presented, or why nothing was read.
pub type Served = Result<Vec<CertificateDer<'static>>, DeployError>;

/// Probes every endpoint (at most `CONCURRENCY` at once, each within `timeout`); the answers in the
/// order of `endpoints`.
pub async fn probe_all(
    endpoints: &[String],
    server_name: Option<&str>,
    timeout: Duration,
    egress: &EgressPolicy,
) -> Vec<(String, Served)> {
    let mut answers: Vec<Option<Served>> = (0..endpoints.len()).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while running.len() < CONCURRENCY && next < endpoints.len() {
            // A name endpoint asks for its own name; `server_name` is for addresses.
            let asked = if names_an_address(&endpoints[next]) { server_name.map(str::to_owned) } else { None };
            let (endpoint, name, egress, at) = (endpoints[next].clone(), asked, egress.clone(), next);
            running.spawn(async move { (at, presented_chain(&endpoint, name.as_deref(), timeout, &egress).await) });
            next += 1;
        }
        match running.join_next().await {
            Some(Ok((at, served))) => answers[at] = Some(served),
            Some(Err(e)) => tracing::warn!(error = %e, "a discovery probe stopped"),
            None => break,
        }
    }
    endpoints
        .iter()
        .zip(answers)
        .map(|(e, a)| (e.clone(), a.unwrap_or_else(|| Err(DeployError::Transient("the probe stopped".into())))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(endpoints: &[&str], cidrs: &[&str], ports: &[u16]) -> DiscoveryScan {
        DiscoveryScan {
            endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            ports: ports.to_vec(),
            server_name: None,
        }
    }

    #[test]
    fn endpoints_and_ranges_expand_to_each_address_on_each_port_once() {
        let found =
            probes(&scan(&["Web.Example.test:443", "127.0.0.2:8443"], &["127.0.0.0/30", "::1/128"], &[8443, 443]))
                .unwrap();
        assert_eq!(
            found,
            [
                "web.example.test:443",
                "127.0.0.2:8443",
                "127.0.0.1:8443",
                "127.0.0.1:443",
                "127.0.0.2:443",
                "[::1]:8443",
                "[::1]:443"
            ]
        );
    }

    #[test]
    fn bad_scans_are_refused_naming_the_field() {
        let field = |s: DiscoveryScan| probes(&s).unwrap_err().field;
        assert_eq!(field(scan(&[], &[], &[])), "endpoints");
        assert_eq!(field(scan(&["no-port"], &[], &[])), "endpoints[0]");
        assert_eq!(field(scan(&["a.test:0"], &[], &[])), "endpoints[0]");
        assert_eq!(field(scan(&["a.test:443", "::1:443"], &[], &[])), "endpoints[1]");
        assert_eq!(field(scan(&["bad_name!:443"], &[], &[])), "endpoints[0]");
        assert_eq!(field(scan(&[], &["127.0.0.0/24"], &[])), "ports");
        assert_eq!(field(scan(&[], &["127.0.0.0/33"], &[443])), "cidrs[0]");
        assert_eq!(field(scan(&[], &["10.0.0.0/8"], &[443])), "cidrs[0]", "millions of addresses");
        assert_eq!(field(scan(&[], &["127.0.0.0/20"], &[443, 8443])), "cidrs[0]", "over the probe budget");
        let mut named = scan(&["127.0.0.2:443"], &[], &[]);
        named.server_name = Some("not a name".into());
        assert_eq!(field(named), "server_name");
    }
}
