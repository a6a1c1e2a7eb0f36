//! Asking authoritative servers directly: which servers serve a zone (its NS records and their
//! addresses), where a challenge name is delegated by CNAME, and what each server answers for a TXT
//! value (`answer`: the value, NXDOMAIN, other values, a refusal, no answer).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::rr::{DNSClass, RData, Record, RecordType};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;

use certautopilot_core::model::ServerAnswer;
use hickory_net::proto::op::ResponseCode;

use super::{DnsError, allowed, name, net_error};
use crate::egress::EgressPolicy;

/// An answer: its records, or none with the response code that said why.
enum Reply {
    Records(Vec<Record>),
    Empty(ResponseCode),
}

/// `_acme-challenge.<name>` for a name to validate (a wildcard's challenge sits at its base).
pub fn challenge_name(domain: &str) -> String {
    format!("_acme-challenge.{}", domain.trim_start_matches("*.").trim_end_matches('.'))
}

/// The first `nameserver` of the system's resolver configuration (`/etc/resolv.conf`), on port 53:
/// where the NS records of a zone at an HTTP API provider are looked up when the zone names no
/// servers. Production only: tests always name their servers (loopback only), so this path is
/// never exercised by them (docs/dns/propagation.md).
pub fn system_resolver() -> Result<SocketAddr, DnsError> {
    let conf = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| DnsError::Config(format!("the system resolver configuration does not read: {e}")))?;
    conf.lines()
        .filter_map(|line| line.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .next()
        .ok_or_else(|| DnsError::Config("/etc/resolv.conf names no nameserver".into()))
}

/// One query at a time, to one server (recursion desired is set, as every stub sets it: an
/// authoritative server ignores it for its own zones, a resolver needs it).
#[derive(Debug, Clone)]
pub struct Authoritative {
    pub timeout: Duration,
    /// Which servers may be asked (`[egress]`): the configured ones and those NS answers name.
    pub egress: EgressPolicy,
}

impl Authoritative {
    async fn query(&self, server: SocketAddr, qname: &str, rtype: RecordType) -> Result<Vec<Record>, DnsError> {
        match self.exchange(server, qname, rtype).await? {
            Reply::Records(records) => Ok(records),
            Reply::Empty(_) => Ok(Vec::new()),
        }
    }

    /// One query; an empty answer keeps its response code (NXDOMAIN or NOERROR).
    async fn exchange(&self, server: SocketAddr, qname: &str, rtype: RecordType) -> Result<Reply, DnsError> {
        allowed(&self.egress, server)?;
        let stream =
            UdpClientStream::builder(server, TokioRuntimeProvider::default()).with_timeout(Some(self.timeout)).build();
        let (mut client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(background);
        match client.query(name(qname)?, DNSClass::IN, rtype).await {
            Ok(response) if response.answers.is_empty() => Ok(Reply::Empty(response.metadata.response_code)),
            Ok(response) => Ok(Reply::Records(response.answers.clone())),
            Err(hickory_net::NetError::Dns(hickory_net::DnsError::NoRecordsFound(none))) => {
                Ok(Reply::Empty(none.response_code))
            }
            Err(e) => Err(net_error(server, "query", e)),
        }
    }

    /// What `server` answers for the TXT set at `qname`, judged against `value`. Only a refusal by
    /// the egress policy or a bad name is an error; a server that does not answer is an answer
    /// (`NoAnswer`) the waiting picture reports.
    pub async fn answer(&self, server: SocketAddr, qname: &str, value: &str) -> Result<ServerAnswer, DnsError> {
        let reply = match self.exchange(server, qname, RecordType::TXT).await {
            Ok(reply) => reply,
            Err(DnsError::Unreachable { reason, .. }) => return Ok(ServerAnswer::NoAnswer { reason }),
            Err(DnsError::Refused { code, .. }) => return Ok(ServerAnswer::Refused { code: code.to_string() }),
            Err(DnsError::BadAnswer { .. }) => {
                return Ok(ServerAnswer::Refused { code: "an answer that does not parse".into() });
            }
            Err(e) => return Err(e),
        };
        let records = match reply {
            Reply::Empty(ResponseCode::NXDomain) => return Ok(ServerAnswer::Nxdomain),
            Reply::Empty(ResponseCode::NoError) => return Ok(ServerAnswer::NoTxt),
            Reply::Empty(code) => return Ok(ServerAnswer::Refused { code: code.to_string() }),
            Reply::Records(records) => records,
        };
        let values: Vec<String> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => {
                    Some(txt.txt_data.iter().map(|part| String::from_utf8_lossy(part)).collect::<String>())
                }
                _ => None,
            })
            .collect();
        Ok(if values.iter().any(|v| v == value) {
            ServerAnswer::HasValue
        } else if values.is_empty() {
            ServerAnswer::NoTxt
        } else {
            ServerAnswer::other_values(values)
        })
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
            match self.answer(*server, qname, value).await? {
                ServerAnswer::HasValue => {}
                ServerAnswer::NoAnswer { reason } => return Err(DnsError::Unreachable { server: *server, reason }),
                _ => missing.push(*server),
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
