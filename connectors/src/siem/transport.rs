//! The wire to a SIEM. UDP: one datagram per event. TCP: RFC 6587 octet-counting frames. TLS: the
//! same frames over TLS (RFC 5425), the server checked against a CA bundle. RELP
//! (rsyslog's Reliable Event Logging Protocol): every message is acknowledged, so a batch is
//! delivered only when every `rsp 200` for it has come back; TCP can only say "written to the socket".
//! Errors carry classified reasons (`crate::failure`): a TLS receiver the CA bundle does not trust
//! says why, and what the receiver sent (a RELP response's text) reaches only the debug log.

use std::net::SocketAddr;
use std::time::Duration;

pub use certautopilot_config::SiemTransportName;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

/// No single network step may hang longer than this; a SIEM that does is treated as down.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// RELP frames and responses above this size are refused rather than read.
const MAX_FRAME: usize = 1 << 20;

/// A SIEM receiver to dial, one variant per `SiemTransportName` with what that transport needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiemTransport {
    Udp(SocketAddr),
    Tcp(SocketAddr),
    Tls(TlsDestination),
    Relp(SocketAddr),
}

/// A syslog-over-TLS receiver and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDestination {
    pub addr: SocketAddr,
    /// The name (or IP address) the server's certificate must carry.
    pub server_name: String,
    /// PEM file of the roots that may sign the server's certificate.
    pub ca_path: std::path::PathBuf,
    /// Optional client certificate chain and key (PEM) for mutual TLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl SiemTransport {
    /// The transport the configuration names `kind`, to `addr`; `tls` is how to trust a TLS
    /// receiver (`None` for TLS: refused, the configuration's validation requires it).
    pub fn new(kind: SiemTransportName, addr: SocketAddr, tls: Option<TlsDestination>) -> Option<SiemTransport> {
        Some(match kind {
            SiemTransportName::Udp => SiemTransport::Udp(addr),
            SiemTransportName::Tcp => SiemTransport::Tcp(addr),
            SiemTransportName::Tls => SiemTransport::Tls(tls?),
            SiemTransportName::Relp => SiemTransport::Relp(addr),
        })
    }

    /// The configuration's name of this transport.
    pub fn kind(&self) -> SiemTransportName {
        match self {
            SiemTransport::Udp(_) => SiemTransportName::Udp,
            SiemTransport::Tcp(_) => SiemTransportName::Tcp,
            SiemTransport::Tls(_) => SiemTransportName::Tls,
            SiemTransport::Relp(_) => SiemTransportName::Relp,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            SiemTransport::Udp(a) | SiemTransport::Tcp(a) | SiemTransport::Relp(a) => *a,
            SiemTransport::Tls(t) => t.addr,
        }
    }

    /// Whether delivery is confirmed by the receiver (RELP) or only handed to the network.
    pub fn acknowledged(&self) -> bool {
        matches!(self, SiemTransport::Relp(_))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SiemError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        addr: SocketAddr,
        reason: crate::failure::NetFailure,
        #[source]
        source: std::io::Error,
    },
    #[error("i/o with the SIEM failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the SIEM did not answer within {0:?}")]
    Timeout(Duration),
    #[error("RELP: {0}")]
    Relp(String),
    #[error("TLS setup: {0}")]
    TlsSetup(String),
}

impl SiemError {
    fn connect(addr: SocketAddr, source: std::io::Error) -> SiemError {
        let reason = crate::failure::NetFailure::classify("siem", &source);
        SiemError::Connect { addr, reason, source }
    }

    /// Whether trying again later may help without anyone changing the configuration (the
    /// forwarder retries regardless: its spool must reach the SIEM eventually).
    pub fn is_transient(&self) -> bool {
        match self {
            SiemError::Connect { reason, .. } => reason.is_transient(),
            SiemError::TlsSetup(_) => false,
            _ => true,
        }
    }
}

/// A RELP response's status code only (`rsp 500 …` → `500`); the text after it is the receiver's
/// and goes to the debug log.
fn relp_status(data: &str) -> String {
    crate::failure::log_remote_detail("relp response", data);
    let code: String = data.chars().take_while(char::is_ascii_digit).take(3).collect();
    if code.is_empty() { "no status".into() } else { code }
}

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Relp { stream: BufReader<TcpStream>, next_txnr: u64 },
}

pub struct SiemClient {
    transport: SiemTransport,
    connection: Option<Connection>,
}

async fn step<T>(f: impl std::future::Future<Output = Result<T, SiemError>>) -> Result<T, SiemError> {
    timeout(STEP_TIMEOUT, f).await.map_err(|_| SiemError::Timeout(STEP_TIMEOUT))?
}

impl SiemClient {
    pub fn new(transport: SiemTransport) -> Self {
        SiemClient { transport, connection: None }
    }

    pub fn transport(&self) -> &SiemTransport {
        &self.transport
    }

    /// Sends `lines` in order; `Ok` means delivered (RELP) or handed to the network (UDP, TCP).
    /// On any error the connection is dropped and the next call reconnects.
    pub async fn send_batch(&mut self, lines: &[String]) -> Result<(), SiemError> {
        let result = self.try_send(lines).await;
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn try_send(&mut self, lines: &[String]) -> Result<(), SiemError> {
        if self.connection.is_none() {
            self.connection = Some(step(connect(&self.transport)).await?);
        }
        match self.connection.as_mut().expect("connected above") {
            Connection::Udp(socket) => {
                for line in lines {
                    step(async { Ok(socket.send(line.as_bytes()).await?) }).await?;
                }
            }
            Connection::Tcp(stream) => step(write_all(stream, &octet_counted(lines))).await?,
            Connection::Tls(stream) => step(write_all(stream.as_mut(), &octet_counted(lines))).await?,
            Connection::Relp { stream, next_txnr } => {
                let first = *next_txnr;
                let mut frames = Vec::new();
                for line in lines {
                    frames.extend_from_slice(format!("{} syslog {} ", *next_txnr, line.len()).as_bytes());
                    frames.extend_from_slice(line.as_bytes());
                    frames.push(b'\n');
                    *next_txnr += 1;
                }
                step(async {
                    stream.get_mut().write_all(&frames).await?;
                    stream.get_mut().flush().await?;
                    Ok(())
                })
                .await?;
                for expected in first..*next_txnr {
                    let (txnr, command, data) = step(read_frame(stream)).await?;
                    if command == "serverclose" {
                        return Err(SiemError::Relp("the server closed the session".into()));
                    }
                    if command != "rsp" || txnr != expected || !data.starts_with("200") {
                        return Err(SiemError::Relp(format!(
                            "message {expected} not acknowledged (txnr {txnr}, {}, status {})",
                            if command == "rsp" { "rsp" } else { "another command" },
                            relp_status(&data)
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

async fn write_all(stream: &mut (impl tokio::io::AsyncWrite + Unpin), bytes: &[u8]) -> Result<(), SiemError> {
    stream.write_all(bytes).await?;
    stream.flush().await?;
    Ok(())
}

/// RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`, back to back.
fn octet_counted(lines: &[String]) -> Vec<u8> {
    let mut frames = Vec::with_capacity(lines.iter().map(|l| l.len() + 8).sum());
    for line in lines {
        frames.extend_from_slice(format!("{} ", line.len()).as_bytes());
        frames.extend_from_slice(line.as_bytes());
    }
    frames
}

fn tls_config(dest: &TlsDestination) -> Result<rustls::ClientConfig, SiemError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| SiemError::TlsSetup(format!("{what}: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(&dest.ca_path).map_err(|e| bad(&dest.ca_path.display().to_string(), &e))?
    {
        roots.add(cert.map_err(|e| bad("CA bundle", &e))?).map_err(|e| bad("CA bundle", &e))?;
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    Ok(match &dest.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| bad("client certificate", &e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("client certificate", &e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("client key", &e))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| bad("client certificate", &e))?
        }
    })
}

async fn connect(transport: &SiemTransport) -> Result<Connection, SiemError> {
    let addr = transport.addr();
    match transport {
        SiemTransport::Udp(_) => {
            let local: SocketAddr =
                if addr.is_ipv6() { "[::]:0".parse().expect("address") } else { "0.0.0.0:0".parse().expect("address") };
            let socket = UdpSocket::bind(local).await.map_err(|source| SiemError::connect(addr, source))?;
            socket.connect(addr).await.map_err(|source| SiemError::connect(addr, source))?;
            Ok(Connection::Udp(socket))
        }
        SiemTransport::Tcp(_) => {
            let stream = TcpStream::connect(addr).await.map_err(|source| SiemError::connect(addr, source))?;
            stream.set_nodelay(true)?;
            Ok(Connection::Tcp(stream))
        }
        SiemTransport::Tls(dest) => {
            let config = tls_config(dest)?;
            let name = rustls::pki_types::ServerName::try_from(dest.server_name.clone())
                .map_err(|e| SiemError::TlsSetup(format!("server name {:?}: {e}", dest.server_name)))?;
            let tcp = TcpStream::connect(addr).await.map_err(|source| SiemError::connect(addr, source))?;
            tcp.set_nodelay(true)?;
            let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|source| SiemError::connect(addr, source))?;
            Ok(Connection::Tls(Box::new(stream)))
        }
        SiemTransport::Relp(_) => {
            let stream = TcpStream::connect(addr).await.map_err(|source| SiemError::connect(addr, source))?;
            stream.set_nodelay(true)?;
            let mut stream = BufReader::new(stream);
            let offer = "relp_version=0\nrelp_software=certautopilot\ncommands=syslog";
            stream.get_mut().write_all(format!("1 open {} {offer}\n", offer.len()).as_bytes()).await?;
            let (txnr, command, data) = read_frame(&mut stream).await?;
            if txnr != 1 || command != "rsp" || !data.starts_with("200") {
                return Err(SiemError::Relp(format!("session refused (status {})", relp_status(&data))));
            }
            Ok(Connection::Relp { stream, next_txnr: 2 })
        }
    }
}

/// Reads one RELP frame: `TXNR SP COMMAND SP DATALEN [SP DATA] LF`.
async fn read_frame(stream: &mut BufReader<TcpStream>) -> Result<(u64, String, String), SiemError> {
    async fn token(stream: &mut BufReader<TcpStream>) -> Result<(String, u8), SiemError> {
        let mut out = Vec::new();
        loop {
            let byte = stream.read_u8().await?;
            if byte == b' ' || byte == b'\n' {
                return String::from_utf8(out)
                    .map(|t| (t, byte))
                    .map_err(|_| SiemError::Relp("frame is not text".into()));
            }
            if out.len() > 32 {
                return Err(SiemError::Relp("frame header too long".into()));
            }
            out.push(byte);
        }
    }
    let (txnr, _) = token(stream).await?;
    let (command, _) = token(stream).await?;
    let (len, ended) = token(stream).await?;
    let txnr: u64 = txnr.parse().map_err(|_| SiemError::Relp("the frame's txnr is not a number".into()))?;
    let len: usize = len.parse().map_err(|_| SiemError::Relp("the frame's data length is not a number".into()))?;
    if len > MAX_FRAME {
        return Err(SiemError::Relp(format!("frame of {len} bytes refused")));
    }
    let mut data = vec![0u8; len];
    if len > 0 {
        if ended == b'\n' {
            return Err(SiemError::Relp("frame ends before its data".into()));
        }
        stream.read_exact(&mut data).await?;
        let mut trailer = String::new();
        stream.read_line(&mut trailer).await?;
    }
    Ok((txnr, command, String::from_utf8_lossy(&data).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS receiver the CA bundle does not trust is named as such and is not an outage; a RELP
    /// refusal carries the status code only, never the receiver's text.
    #[test]
    fn errors_name_the_cause_and_withhold_the_receivers_words() {
        let addr: SocketAddr = "127.0.0.1:6514".parse().unwrap();
        let untrusted = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let err = SiemError::connect(addr, std::io::Error::new(std::io::ErrorKind::InvalidData, untrusted));
        assert!(err.to_string().contains("the server's certificate is not trusted: "), "{err}");
        assert!(!err.is_transient());
        let refused = SiemError::connect(addr, std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(refused.to_string(), "cannot connect to 127.0.0.1:6514: connection refused");
        assert!(refused.is_transient());
        assert_eq!(relp_status("500 INTERNAL-SECRET queue full"), "500");
        assert_eq!(relp_status("nonsense"), "no status");
    }

    /// Every transport the configuration names builds the transport that names itself so, at the
    /// configured address; TLS without its trust settings is refused.
    #[test]
    fn every_configured_transport_name_builds_its_transport() {
        let addr: SocketAddr = "127.0.0.1:6514".parse().unwrap();
        let tls = TlsDestination { addr, server_name: "siem".into(), ca_path: "ca.pem".into(), client_cert: None };
        for kind in [SiemTransportName::Udp, SiemTransportName::Tcp, SiemTransportName::Tls, SiemTransportName::Relp] {
            let transport = SiemTransport::new(kind, addr, Some(tls.clone())).unwrap();
            assert_eq!((transport.kind(), transport.addr()), (kind, addr));
        }
        assert_eq!(SiemTransport::new(SiemTransportName::Tls, addr, None), None);
    }
}
