//! RFC 2136 dynamic update signed with TSIG (RFC 8945): add and remove one TXT value in a zone.

use std::net::SocketAddr;
use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{Rfc2136Config, TsigAlgorithm};
use hickory_net::client::{Client, ClientHandle};
use hickory_net::proto::op::ResponseCode;
use hickory_net::proto::rr::rdata::TXT;
use hickory_net::proto::rr::{RData, Record, TSigner};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::udp::UdpClientStream;

use super::{DnsError, allowed, name, net_error};
use crate::egress::EgressPolicy;

/// hickory's name for an algorithm of the one list (`certautopilot_core::model::TsigAlgorithm`).
fn hickory(algorithm: TsigAlgorithm) -> hickory_net::proto::rr::rdata::tsig::TsigAlgorithm {
    use hickory_net::proto::rr::rdata::tsig::TsigAlgorithm as H;
    match algorithm {
        TsigAlgorithm::HmacSha256 => H::HmacSha256,
        TsigAlgorithm::HmacSha384 => H::HmacSha384,
        TsigAlgorithm::HmacSha512 => H::HmacSha512,
    }
}

pub struct Rfc2136 {
    server: SocketAddr,
    signer: TSigner,
    timeout: Duration,
    egress: EgressPolicy,
}

impl std::fmt::Debug for Rfc2136 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rfc2136").field("server", &self.server).finish_non_exhaustive()
    }
}

impl Rfc2136 {
    /// A client for a credential's settings: updates go to `server` (its `server` setting, resolved
    /// and checked under `egress` by the caller), signed with the decoded TSIG `secret`.
    pub fn new(
        config: &Rfc2136Config,
        server: SocketAddr,
        secret: SecretBytes,
        timeout: Duration,
        egress: EgressPolicy,
    ) -> Result<Self, DnsError> {
        let key_name = name(&config.key_name)?;
        let signer = TSigner::new(secret.expose().to_vec(), hickory(config.algorithm), key_name, 300)
            .map_err(|e| DnsError::Config(format!("TSIG key: {e}")))?;
        Ok(Rfc2136 { server, signer, timeout, egress })
    }

    pub fn server(&self) -> SocketAddr {
        self.server
    }

    fn client(&self) -> Result<Client<TokioRuntimeProvider>, DnsError> {
        allowed(&self.egress, self.server)?;
        let stream = UdpClientStream::builder(self.server, TokioRuntimeProvider::default())
            .with_timeout(Some(self.timeout))
            .with_signer(Some(self.signer.clone()))
            .build();
        let (client, background) = Client::<TokioRuntimeProvider>::from_sender(stream);
        tokio::spawn(background);
        Ok(client)
    }

    fn txt(record_name: &str, value: &str, ttl: u32) -> Result<Record, DnsError> {
        Ok(Record::from_rdata(name(record_name)?, ttl, RData::TXT(TXT::new(vec![value.to_owned()]))))
    }

    /// Adds `value` to the TXT set at `record_name` (other values stay: two authorizations for the
    /// same name, a wildcard and its base, can be in flight together).
    pub async fn add_txt(&self, zone: &str, record_name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let record = Self::txt(record_name, value, ttl)?;
        let response = self
            .client()?
            .append(record, name(zone)?, false)
            .await
            .map_err(|e| net_error(self.server, "update (add)", e))?;
        check(self.server, "update (add)", response.metadata.response_code)
    }

    /// Removes exactly `value` from the TXT set at `record_name`; removing what is not there succeeds.
    pub async fn remove_txt(&self, zone: &str, record_name: &str, value: &str) -> Result<(), DnsError> {
        let record = Self::txt(record_name, value, 0)?;
        let response = self
            .client()?
            .delete_by_rdata(record, name(zone)?)
            .await
            .map_err(|e| net_error(self.server, "update (remove)", e))?;
        check(self.server, "update (remove)", response.metadata.response_code)
    }
}

fn check(server: SocketAddr, operation: &'static str, code: ResponseCode) -> Result<(), DnsError> {
    if code == ResponseCode::NoError { Ok(()) } else { Err(DnsError::Refused { server, operation, code }) }
}

#[async_trait::async_trait]
impl super::TxtRecords for Rfc2136 {
    fn provider(&self) -> certautopilot_core::model::DnsProvider {
        certautopilot_core::model::DnsProvider::Rfc2136
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        Rfc2136::add_txt(self, zone, name, value, ttl).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        Rfc2136::remove_txt(self, zone, name, value).await
    }

    fn dns_server(&self) -> Option<SocketAddr> {
        Some(self.server)
    }
}
