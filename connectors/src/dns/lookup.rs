//! Asking authoritative servers directly: which servers serve a zone (its NS records and their
//! addresses), where a challenge name is delegated by CNAME, and whether a TXT value is visible yet.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;

use super::{DnsError, allowed, name, net_error};
use crate::egress::EgressPolicy;

/// `_acme-challenge.<name>` for a name to validate (a wildcard's challenge sits at its base).
pub fn challenge_name(domain: &str) -> String {
    format!("_acme-challenge.{}", domain.trim_start_matches("*.").trim_end_matches('.'))
}

/// Queries without recursion, one server at a time.
#[derive(Debug, Clone)]
pub struct Authoritative {
    pub timeout: Duration,
    /// Which servers may be asked (`[egress]`): the configured ones and those NS answers name.
    pub egress: EgressPolicy,
}

impl Authoritative {
    async fn query(&self, server: SocketAddr, qname: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        allowed(&self.egress, server)?;
        let stream =
            UdpClientStream::builder(server, TokioRuntimeProvider::default()).with_timeout(Some(self.timeout)).build();
        let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(background);
        match client.query(name(qname)?, DNSClass::IN, rtype).await {
            Ok(response) => Ok(response.answers.clone()),
            Err(hickory_net::NetError::Dns(hickory_net::DnsError::NoRecordsFound(_))) => Ok(Vec::new()),
            Err(e) => Err(net_error(server, "query", e)),
        }
    }

    /// The zone's authoritative servers: its NS records and their addresses as `via` answers them,
    /// on `via`'s port (the port updates go to is the port the zone is served on).
    pub async fn servers(&self, zone: &str, via: SocketAddr) -> Result<Vec<SocketAddr>, DnsError> {
        let mut servers = Vec::new();
        for ns in self.query(via, zone, RecordType::NS).await? {
            let RData::NS(target) = &ns.data else { continue };
            let host = target.0.to_ascii();
            for rtype in [RecordType::A, RecordType::AAAA] {
                for address in self.query(via, &host, rtype).await? {
                    let ip: IpAddr = match address.data {
                        RData::A(a) => a.0.into(),
                        RData::AAAA(a) => a.0.into(),
                        _ => continue,
                    };
                    let server = SocketAddr::new(ip, via.port());
                    // An NS answer names addresses; one the policy refuses is not asked (the
                    // update server, checked when used, stands in if none is left).
                    if let Err(e) = allowed(&self.egress, server) {
                        tracing::debug!(zone = %zone.escape_debug(), error = %e, "skipping a refused name server");
                        continue;
                    }
                    if !servers.contains(&server) {
                        servers.push(server);
                    }
                }
            }
        }
        if servers.is_empty() {
            // A zone whose NS names resolve elsewhere: the update server is the one we can check.
            servers.push(via);
        }
        Ok(servers)
    }

    /// Where `qname` points by CNAME, if it does (one hop; callers follow chains).
    pub async fn cname(&self, server: SocketAddr, qname: &str) -> Result<Option<String>, DnsError> {
        Ok(self.query(server, qname, RecordType::CNAME).await?.into_iter().find_map(|r| match r.data {
            RData::CNAME(target) => Some(target.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
            _ => None,
        }))
    }

    /// The servers that do not yet answer `value` among the TXT values at `qname`.
    pub async fn missing_txt(
        &self,
        qname: &str,
        value: &str,
        servers: &[SocketAddr],
    ) -> Result<Vec<SocketAddr>, DnsError> {
        let mut missing = Vec::new();
        for server in servers {
            let answers = self.query(*server, qname, RecordType::TXT).await?;
            let seen = answers.iter().any(|r| match &r.data {
                RData::TXT(txt) => {
                    txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>() == value
                }
                _ => false,
            });
            if !seen {
                missing.push(*server);
            }
        }
        Ok(missing)
    }

    /// Polls until every server shows the value, starting fast (a primary usually has it at once)
    /// and backing off to half a second, for at most `wait`.
    pub async fn wait_visible(
        &self,
        qname: &str,
        value: &str,
        servers: &[SocketAddr],
        wait: Duration,
    ) -> Result<(), DnsError> {
        let started = Instant::now();
        let mut delay = Duration::from_millis(10);
        loop {
            let missing = match self.missing_txt(qname, value, servers).await {
                Ok(missing) => missing,
                // A server that does not answer has not shown the record yet; keep waiting for it.
                Err(DnsError::Unreachable { server, .. }) => vec![server],
                Err(e) => return Err(e),
            };
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() + delay > wait {
                return Err(DnsError::NotPropagated {
                    name: qname.to_owned(),
                    missing: missing.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }
}
