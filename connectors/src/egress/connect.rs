//! Resolving and connecting under the egress policy: names are resolved here, every address is
//! checked, and only checked addresses are handed on (to `TcpStream::connect`, or to hyper-util's
//! `HttpConnector`, which then connects to exactly those). IP literals are checked before any socket
//! exists; hyper-util skips its resolver for them, so `EgressHttpConnector` checks them itself.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{EgressDenied, EgressPolicy};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why no connection was made. The `Display` is the classified reason only; the low-level detail
/// stays in `source()` for debug logs.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Denied(#[from] EgressDenied),
    #[error("name lookup failed")]
    Lookup(#[source] std::io::Error),
    #[error("connection failed")]
    Connect(#[source] std::io::Error),
}

fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

impl EgressPolicy {
    /// The addresses of `host` (a name or an IP literal) on `port` that the policy allows, in the
    /// resolver's order. None allowed: the first refusal.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        if let Some(ip) = literal(host) {
            self.check(ip)?;
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let found: Vec<SocketAddr> =
            tokio::net::lookup_host((host, port)).await.map_err(OutboundError::Lookup)?.collect();
        let mut refused = None;
        let mut allowed = Vec::with_capacity(found.len());
        for address in found {
            match self.check(address.ip()) {
                Ok(()) => allowed.push(address),
                Err(denied) => {
                    tracing::debug!(host = %host.escape_debug(), %address, "egress policy skips a resolved address");
                    refused.get_or_insert(denied);
                }
            }
        }
        match (allowed.is_empty(), refused) {
            (true, Some(denied)) => Err(denied.into()),
            (true, None) => Err(OutboundError::Lookup(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name has no addresses",
            ))),
            (false, _) => Ok(allowed),
        }
    }

    /// Resolves `host:port` (brackets allowed around IPv6) under the policy.
    pub async fn resolve_endpoint(&self, endpoint: &str) -> Result<Vec<SocketAddr>, OutboundError> {
        let invalid = || OutboundError::Lookup(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not host:port"));
        let (host, port) = endpoint.rsplit_once(':').ok_or_else(invalid)?;
        let port = port.parse().map_err(|_| invalid())?;
        self.resolve(host, port).await
    }

    /// A TCP connection to the first allowed address of `host` that accepts.
    pub async fn connect_tcp(&self, host: &str, port: u16) -> Result<TcpStream, OutboundError> {
        let mut last = None;
        for address in self.resolve(host, port).await? {
            match TcpStream::connect(address).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(OutboundError::Connect(last.unwrap_or_else(|| std::io::Error::other("no address to connect to"))))
    }

    /// hyper-util's connector, resolving through the policy.
    pub fn http_connector(&self) -> EgressHttpConnector {
        EgressHttpConnector {
            http: HttpConnector::new_with_resolver(EgressResolver(self.clone())),
            policy: self.clone(),
        }
    }
}

/// A resolver for hyper-util's `HttpConnector` that returns only the addresses the policy allows.
#[derive(Clone)]
pub struct EgressResolver(EgressPolicy);

impl tower_service::Service<Name> for EgressResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, OutboundError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), OutboundError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = self.0.clone();
        // Port 0: HttpConnector sets the URI's port on what we return.
        Box::pin(async move { Ok(policy.resolve(name.as_str(), 0).await?.into_iter()) })
    }
}

/// `HttpConnector` behind the policy: names through `EgressResolver`, IP literals checked here
/// (hyper-util connects to those without asking a resolver).
#[derive(Clone)]
pub struct EgressHttpConnector {
    http: HttpConnector<EgressResolver>,
    policy: EgressPolicy,
}

impl EgressHttpConnector {
    /// The policy's verdict on a URI whose host is an IP literal (names go through the resolver).
    fn check_literal(&self, uri: &Uri) -> Result<(), OutboundError> {
        match uri.host().and_then(literal) {
            Some(ip) => self.policy.check(ip).map_err(OutboundError::Denied),
            None => Ok(()),
        }
    }

    /// The underlying connector, for its settings (timeouts, nodelay).
    pub fn settings(&mut self) -> &mut HttpConnector<EgressResolver> {
        &mut self.http
    }
}

impl tower_service::Service<Uri> for EgressHttpConnector {
    type Response = TokioIo<TcpStream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<TcpStream>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        if let Err(refused) = self.check_literal(&uri) {
            return Box::pin(std::future::ready(Err(Box::new(refused) as BoxError)));
        }
        let connecting = self.http.call(uri);
        Box::pin(async move { connecting.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::DenyReason;

    /// An IP-literal URL to the metadata address is refused by the check the connector makes
    /// before hyper-util could open a socket (it never consults a resolver for literals). The
    /// check is called on its own, so even a broken policy could send nothing anywhere; that
    /// `call` runs it first is shown against loopback listeners in connectors/tests/egress.rs.
    #[test]
    fn metadata_literals_are_refused_by_the_connectors_check() {
        let connector = EgressPolicy::allowing_loopback().http_connector();
        for url in ["http://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/", "http://[fe80::1]:8080/"] {
            let refused = connector.check_literal(&url.parse().unwrap()).unwrap_err();
            assert!(
                matches!(&refused, OutboundError::Denied(d) if d.reason == DenyReason::LinkLocalOrMetadata),
                "{url}: {refused}"
            );
        }
        assert!(connector.check_literal(&"http://127.0.0.1:8080/".parse().unwrap()).is_ok());
    }

    /// `resolve` and `connect_tcp` refuse a literal without connecting.
    #[tokio::test]
    async fn resolve_checks_literals() {
        let policy = EgressPolicy::default();
        assert!(matches!(policy.resolve("169.254.169.254", 80).await, Err(OutboundError::Denied(_))));
        assert!(matches!(policy.resolve("[::1]", 80).await, Err(OutboundError::Denied(_))));
        assert!(matches!(policy.connect_tcp("127.0.0.1", 9).await, Err(OutboundError::Denied(_))));
        assert_eq!(
            EgressPolicy::allowing_loopback().resolve_endpoint("[::1]:53").await.unwrap(),
            vec!["[::1]:53".parse().unwrap()]
        );
    }

    /// A name that resolves only to refused addresses is refused with the policy's reason
    /// (`localhost` resolves to loopback here, without any network traffic).
    #[tokio::test]
    async fn names_are_judged_by_their_addresses() {
        let err = EgressPolicy::default().resolve("localhost", 80).await.unwrap_err();
        assert!(matches!(&err, OutboundError::Denied(d) if d.reason == DenyReason::Loopback), "{err}");
        let allowed = EgressPolicy::allowing_loopback().resolve("localhost", 80).await.unwrap();
        assert!(allowed.iter().all(|a| a.ip().is_loopback()));
    }
}
