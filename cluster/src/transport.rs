//! The cluster port: Raft RPCs and membership requests between nodes, as length-prefixed bincode
//! frames over mutual TLS. One request, one response, in order, on a connection the caller keeps.
//! A frame that is oversized, truncated or does not decode closes its connection and nothing else.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::types::{Node, NodeId, TypeConfig};
use crate::{AdminError, AdminRequest, AdminResponse};

/// The largest frame either side accepts. Raft entries here are tiny; a snapshot chunk is bounded by
/// openraft's `snapshot_max_chunk_size` (set below this).
pub const MAX_FRAME: usize = 4 << 20;
/// How long a peer may take to complete the TLS handshake, or to send the rest of a started frame.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle inbound connection is closed after this long; its peer reconnects when it needs to.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(String),
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("the peer closed the connection")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("unexpected response to a {0} request")]
    UnexpectedResponse(&'static str),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// Writes one frame: a 4-byte big-endian length, then the bincode encoding. Returns the bytes sent.
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(w: &mut W, value: &T) -> Result<usize, TransportError> {
    let bytes =
        bincode::serde::encode_to_vec(value, bincode_config()).map_err(|e| TransportError::Malformed(e.to_string()))?;
    if bytes.len() > MAX_FRAME {
        return Err(TransportError::FrameTooLarge { len: bytes.len(), max: MAX_FRAME });
    }
    w.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    w.write_all(&bytes).await?;
    w.flush().await?;
    Ok(bytes.len() + 4)
}

/// Reads one frame. The length is checked before anything is allocated, and the payload must decode
/// to exactly its length: a frame with trailing bytes is as malformed as one cut short.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(r: &mut R) -> Result<T, TransportError> {
    read_frame_sized(r).await.map(|(value, _)| value)
}

async fn read_frame_sized<R: AsyncRead + Unpin, T: DeserializeOwned>(r: &mut R) -> Result<(T, usize), TransportError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(TransportError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(TransportError::FrameTooLarge { len, max: MAX_FRAME });
    }
    if len == 0 {
        return Err(TransportError::Malformed("empty frame".into()));
    }
    let mut buf = vec![0u8; len];
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, r.read_exact(&mut buf)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(TransportError::Malformed(format!("frame cut short (expected {len} bytes)")));
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(_) => return Err(TransportError::Timeout(HANDSHAKE_TIMEOUT)),
    }
    let (value, used) = bincode::serde::decode_from_slice(&buf, bincode_config())
        .map_err(|e| TransportError::Malformed(e.to_string()))?;
    if used != len {
        return Err(TransportError::Malformed(format!("{} trailing bytes", len - used)));
    }
    Ok((value, len + 4))
}

/// A request on the cluster port.
#[derive(Debug, Serialize, Deserialize)]
pub enum WireRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Membership and status. `forwarded` is set by a node passing the request on to the leader,
    /// which never passes it on again (no ping-pong during an election).
    Admin {
        request: AdminRequest,
        forwarded: bool,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireResponse {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    Admin(Result<AdminResponse, AdminError>),
}

/// What serves requests arriving on the cluster port (the node).
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: WireRequest) -> impl Future<Output = WireResponse> + Send;
}

/// Counters of the cluster port, for `cluster status` and the transport tests.
#[derive(Debug, Default)]
pub struct TransportStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub rejected_frames: AtomicU64,
    pub tls_failures: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

/// `requests` counts both directions: requests served and requests sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransportCounters {
    pub connections: u64,
    pub requests: u64,
    pub rejected_frames: u64,
    pub tls_failures: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl TransportStats {
    pub fn counters(&self) -> TransportCounters {
        TransportCounters {
            connections: self.connections.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            rejected_frames: self.rejected_frames.load(Ordering::Relaxed),
            tls_failures: self.tls_failures.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// The node's certificates: its own chain and key, and the cluster CA every peer must chain to.
#[derive(Clone)]
pub struct TlsIdentity {
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl TlsIdentity {
    pub fn load(ca: &Path, cert: &Path, key: &Path) -> Result<Self, crate::ClusterError> {
        let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
            crate::ClusterError::Tls(format!("cannot read {what} {}: {e}", path.display()))
        };
        let mut roots = rustls::RootCertStore::empty();
        for ca_cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad("cluster CA", ca, &e))? {
            roots.add(ca_cert.map_err(|e| bad("cluster CA", ca, &e))?).map_err(|e| bad("cluster CA", ca, &e))?;
        }
        if roots.is_empty() {
            return Err(crate::ClusterError::Tls(format!("{} holds no certificate", ca.display())));
        }
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad("node certificate", cert, &e))?
            .collect::<Result<_, _>>()
            .map_err(|e| bad("node certificate", cert, &e))?;
        if chain.is_empty() {
            return Err(crate::ClusterError::Tls(format!("{} holds no certificate", cert.display())));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("node key", key, &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(roots);
        let tls = |e: rustls::Error| crate::ClusterError::Tls(e.to_string());
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| crate::ClusterError::Tls(e.to_string()))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(tls)?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(tls)?;
        Ok(TlsIdentity { server: Arc::new(server), client: Arc::new(client) })
    }
}

impl TlsIdentity {
    /// The client side (this node calling its peers), for tools and tests that speak the protocol.
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.client.clone()
    }
}

/// Accepts connections on the cluster port until the task is aborted.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    identity: TlsIdentity,
    handler: Arc<H>,
    stats: Arc<TransportStats>,
) {
    let acceptor = TlsAcceptor::from(identity.server);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "cluster port accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (acceptor, handler, stats) = (acceptor.clone(), handler.clone(), stats.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    stats.tls_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, error = %e, "cluster port: TLS handshake refused");
                    return;
                }
                Err(_) => {
                    stats.tls_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%peer, "cluster port: TLS handshake timed out");
                    return;
                }
            };
            stats.connections.fetch_add(1, Ordering::Relaxed);
            serve_connection(tls, peer, handler.as_ref(), &stats).await;
        });
    }
}

async fn serve_connection<S, H>(mut stream: S, peer: SocketAddr, handler: &H, stats: &TransportStats)
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Handler,
{
    loop {
        let request: WireRequest = match tokio::time::timeout(IDLE_TIMEOUT, read_frame_sized(&mut stream)).await {
            Err(_) | Ok(Err(TransportError::Closed)) => return,
            Ok(Err(e)) => {
                stats.rejected_frames.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%peer, error = %e, "cluster port: frame rejected; connection closed");
                return;
            }
            Ok(Ok((request, size))) => {
                stats.bytes_in.fetch_add(size as u64, Ordering::Relaxed);
                request
            }
        };
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let response = handler.handle(request).await;
        match write_frame(&mut stream, &response).await {
            Ok(size) => {
                stats.bytes_out.fetch_add(size as u64, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::debug!(%peer, error = %e, "cluster port: response not delivered");
                return;
            }
        }
    }
}

/// Opens mutual-TLS connections to peers, from a fixed source address if configured (which lets a
/// test's fault-injecting proxy tell the nodes apart).
pub struct Connector {
    tls: TlsConnector,
    source: Option<IpAddr>,
    stats: Arc<TransportStats>,
}

type Stream = tokio_rustls::client::TlsStream<TcpStream>;

impl Connector {
    pub fn new(identity: &TlsIdentity, source: Option<IpAddr>, stats: Arc<TransportStats>) -> Self {
        Connector { tls: TlsConnector::from(identity.client.clone()), source, stats }
    }

    async fn connect(&self, addr: &str) -> Result<Stream, TransportError> {
        let connect_err = |source| TransportError::Connect { addr: addr.to_owned(), source };
        let target: SocketAddr = tokio::net::lookup_host(addr)
            .await
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(std::io::Error::other("address resolves to nothing")))?;
        let socket = if target.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(connect_err)?;
        if let Some(source) = self.source {
            socket.bind(SocketAddr::new(source, 0)).map_err(connect_err)?;
        }
        let tcp = socket.connect(target).await.map_err(connect_err)?;
        let _ = tcp.set_nodelay(true);
        let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned()).map_err(|e| TransportError::Tls(e.to_string()))?;
        self.tls.connect(name, tcp).await.map_err(|e| TransportError::Tls(e.to_string()))
    }

    /// One request on a fresh connection (membership commands, the CLI).
    pub async fn call_once(
        &self,
        addr: &str,
        request: &WireRequest,
        ttl: Duration,
    ) -> Result<WireResponse, TransportError> {
        let mut conn = None;
        self.call(&mut conn, addr, request, ttl).await
    }

    /// Sends `request` on `conn` (connecting if it is empty) and reads the answer. Any failure drops
    /// the connection, so the next call starts clean.
    async fn call(
        &self,
        conn: &mut Option<Stream>,
        addr: &str,
        request: &WireRequest,
        ttl: Duration,
    ) -> Result<WireResponse, TransportError> {
        let work = async {
            if conn.is_none() {
                *conn = Some(self.connect(addr).await?);
            }
            let stream = conn.as_mut().expect("connected above");
            let sent = write_frame(stream, request).await?;
            let (response, received) = read_frame_sized::<_, WireResponse>(stream).await?;
            self.stats.bytes_out.fetch_add(sent as u64, Ordering::Relaxed);
            self.stats.bytes_in.fetch_add(received as u64, Ordering::Relaxed);
            Ok(response)
        };
        let result = match tokio::time::timeout(ttl, work).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(ttl)),
        };
        if result.is_err() {
            *conn = None;
        } else {
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

/// openraft's view of the network: one [`PeerClient`] per target.
pub struct NetworkFactory {
    connector: Arc<Connector>,
}

impl NetworkFactory {
    pub fn new(connector: Arc<Connector>) -> Self {
        NetworkFactory { connector }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerClient {
        PeerClient { target, addr: node.addr.clone(), connector: self.connector.clone(), conn: None }
    }
}

pub struct PeerClient {
    target: NodeId,
    addr: String,
    connector: Arc<Connector>,
    conn: Option<Stream>,
}

type RpcResult<T, E = openraft::error::Infallible> = Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn rpc(&mut self, request: WireRequest, option: &RPCOption) -> Result<WireResponse, TransportError> {
        self.connector.call(&mut self.conn, &self.addr, &request, option.hard_ttl()).await
    }
}

fn rpc_error<E: std::error::Error>(e: TransportError) -> RPCError<NodeId, Node, RaftError<NodeId, E>> {
    match e {
        TransportError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        _ => RPCError::Network(NetworkError::new(&e)),
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self.rpc(WireRequest::AppendEntries(rpc), &option).await.map_err(rpc_error)? {
            WireResponse::AppendEntries(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(rpc_error(TransportError::UnexpectedResponse("append-entries"))),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.rpc(WireRequest::InstallSnapshot(rpc), &option).await.map_err(rpc_error)? {
            WireResponse::InstallSnapshot(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(rpc_error(TransportError::UnexpectedResponse("install-snapshot"))),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> RpcResult<VoteResponse<NodeId>> {
        match self.rpc(WireRequest::Vote(rpc), &option).await.map_err(rpc_error)? {
            WireResponse::Vote(r) => r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(rpc_error(TransportError::UnexpectedResponse("vote"))),
        }
    }
}
