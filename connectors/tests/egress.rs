//! The egress policy at every connector, and what a failed exchange may tell a user. Loopback only:
//! listeners are started here on 127.0.0.1, and a policy that refuses loopback is pointed at them,
//! so a refusal can be proven to happen before any socket opens (the listener saw nothing). The
//! metadata address appears only as an IP literal, which every path checks before connecting.

use std::net::SocketAddr;
use std::time::Duration;

use certautopilot_connectors::acme::{AcmeAccountHandle, AcmeError, NewAccountRequest};
use certautopilot_connectors::dns::{Authoritative, DnsError, Rfc2136, Rfc2136Config, TsigAlgorithm};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::targets::{DeployError, SshTarget, VaultTarget, WebhookTarget, presented_fingerprint};
use certautopilot_connectors::testsupport::{PortReservation, StandIn, sample_deployable};
use certautopilot_core::crypto::SecretBytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(2);
const MARKER: &str = "INTERNAL-SECRET-7f3a";
const CHAIN: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A TCP listener on loopback counting the connections it accepts; each gets `reply` and is closed.
struct Listener {
    addr: SocketAddr,
    accepted: tokio::sync::watch::Receiver<usize>,
}

impl Listener {
    async fn start(reply: &'static [u8]) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (count, accepted) = tokio::sync::watch::channel(0);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut buf)).await;
                    let _ = stream.write_all(reply).await;
                });
            }
        });
        Listener { addr, accepted }
    }

    /// The number of connections that reached the listener before now: one sentinel connection is
    /// made and waited for (with a deadline); the backlog is accepted in order, so anything earlier
    /// has been counted by the time the sentinel is.
    async fn accepted_before_now(&self) -> usize {
        let _sentinel = TcpStream::connect(self.addr).await.unwrap();
        let mut accepted = self.accepted.clone();
        let seen = tokio::time::timeout(Duration::from_secs(10), accepted.wait_for(|n| *n >= 1))
            .await
            .expect("the sentinel connection is accepted within 10 s")
            .map(|n| *n)
            .unwrap();
        seen - 1
    }
}

/// A UDP socket on loopback; `datagrams_before_now` sends a sentinel and reports what came first.
struct UdpListener {
    socket: UdpSocket,
}

impl UdpListener {
    async fn start() -> UdpListener {
        UdpListener { socket: UdpSocket::bind("127.0.0.1:0").await.unwrap() }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    async fn datagrams_before_now(&self) -> usize {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        sender.send_to(b"sentinel", self.addr()).await.unwrap();
        let mut earlier = 0;
        let mut buf = [0u8; 2048];
        loop {
            let (n, _) = tokio::time::timeout(Duration::from_secs(10), self.socket.recv_from(&mut buf))
                .await
                .expect("the sentinel datagram arrives")
                .unwrap();
            if &buf[..n] == b"sentinel" {
                return earlier;
            }
            earlier += 1;
        }
    }
}

fn webhook(url: String, egress: EgressPolicy) -> WebhookTarget {
    WebhookTarget {
        url,
        secret: SecretBytes::from_text("0123456789abcdef0123456789abcdef"),
        include_private_key: false,
        extra_roots_pem: None,
        timeout: TIMEOUT,
        egress,
    }
}

fn vault(address: String, egress: EgressPolicy) -> VaultTarget {
    VaultTarget {
        address,
        mount: "secret".into(),
        path: "tls/www".into(),
        pki: false,
        token: SecretBytes::from_text("s.token"),
        ca_pem: None,
        timeout: TIMEOUT,
        egress,
    }
}

fn ssh(host: &str, port: u16, egress: EgressPolicy) -> SshTarget {
    SshTarget {
        host: host.into(),
        port,
        user: "deploy".into(),
        host_key_sha256: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        private_key: SecretBytes::from_text("not a key"),
        cert_path: "/srv/tls/cert.pem".into(),
        key_path: "/srv/tls/key.pem".into(),
        key_mode: 0o600,
        owner: None,
        reload_command: None,
        timeout: TIMEOUT,
        sessions: None,
        egress,
    }
}

fn rfc2136(server: SocketAddr, egress: EgressPolicy) -> Rfc2136 {
    let config = Rfc2136Config {
        server: server.to_string(),
        key_name: "updater".into(),
        algorithm: TsigAlgorithm::HmacSha256,
        nameservers: Vec::new(),
    };
    Rfc2136::new(&config, server, SecretBytes::new(vec![7; 32]), TIMEOUT, egress).unwrap()
}

fn refused_by_policy(err: &DeployError, address: &str) {
    assert!(!err.is_transient(), "a policy refusal is permanent: {err}");
    assert!(err.to_string().contains(&format!("egress policy refuses {address}")), "{err}");
}

/// With loopback refused (the default), every kind of connector pointed at a listener on
/// 127.0.0.1 (or at `localhost`) is refused with the policy's error, and the listeners saw no
/// connection and no datagram: the check runs before any socket opens.
#[tokio::test]
async fn loopback_refused_before_any_socket_opens() {
    install_ring();
    let policy = EgressPolicy::default();
    let http = Listener::start(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await;
    let port = http.addr.port();
    let d = sample_deployable(CHAIN);

    let err = webhook(format!("http://127.0.0.1:{port}/hook"), policy.clone()).deploy(&d).await.unwrap_err();
    refused_by_policy(&err, "127.0.0.1");
    // By name: the resolver filters what `localhost` resolves to.
    let err = webhook(format!("http://localhost:{port}/hook"), policy.clone()).deploy(&d).await.unwrap_err();
    assert!(err.to_string().contains("egress policy refuses") && !err.is_transient(), "{err}");
    let err = vault(format!("http://127.0.0.1:{port}"), policy.clone()).deploy(&d).await.unwrap_err();
    refused_by_policy(&err, "127.0.0.1");
    let err = ssh("127.0.0.1", port, policy.clone()).deploy(&d).await.unwrap_err();
    refused_by_policy(&err, "127.0.0.1");
    let err = ssh("localhost", port, policy.clone()).deploy(&d).await.unwrap_err();
    assert!(err.to_string().contains("egress policy refuses") && !err.is_transient(), "{err}");
    let err = presented_fingerprint(&format!("127.0.0.1:{port}"), None, TIMEOUT, &policy).await.unwrap_err();
    refused_by_policy(&err, "127.0.0.1");
    let err = AcmeAccountHandle::register(NewAccountRequest {
        directory_url: &format!("https://127.0.0.1:{port}/dir"),
        extra_roots_pem: None,
        contact: &[],
        tos_agreed: true,
        eab: None,
        timeout: TIMEOUT,
        egress: &policy,
    })
    .await
    .unwrap_err();
    assert!(matches!(&err, AcmeError::Egress(_)) && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("egress policy refuses 127.0.0.1"), "{err}");
    assert_eq!(http.accepted_before_now().await, 0, "no connection reached the listener");

    let dns = UdpListener::start().await;
    let provider = rfc2136(dns.addr(), policy.clone());
    let err = provider.add_txt("example.test", "_acme-challenge.example.test", "v", 60).await.unwrap_err();
    assert!(matches!(&err, DnsError::Egress { .. }) && !err.is_transient(), "{err}");
    let check = Authoritative { timeout: TIMEOUT, egress: policy.clone() };
    let err = check.servers("example.test", dns.addr()).await.unwrap_err();
    assert!(err.to_string().contains("egress policy refuses 127.0.0.1"), "{err}");
    assert_eq!(dns.datagrams_before_now().await, 0, "no datagram reached the DNS listener");
}

/// A target answering 500 with a secret-looking marker and a newline in its body: the error says
/// `http 500 from the target` and is transient, and carries neither the marker nor the newline.
#[tokio::test]
async fn answer_bodies_are_not_reflected() {
    install_ring();
    let policy = EgressPolicy::allowing_loopback();
    let d = sample_deployable(CHAIN);
    let body = format!("{MARKER}\nforged: a second log line");
    let reply = format!(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let raw = Listener::start(Box::leak(reply.into_bytes().into_boxed_slice())).await;
    let err = webhook(format!("http://127.0.0.1:{}/hook", raw.addr.port()), policy.clone()).deploy(&d).await;
    let err = err.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("http 500 from the target"), "{err}");
    assert!(!err.to_string().contains(MARKER) && !err.to_string().contains('\n'), "{err}");

    let api = StandIn::start(|_| (500, serde_json::json!({ "errors": [format!("{MARKER}\nforged")] })));
    let err = vault(api.url(), policy.clone()).deploy(&d).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("http 500 from the target"), "{err}");
    assert!(!err.to_string().contains(MARKER), "{err}");
    let api = StandIn::start(|_| (400, serde_json::json!({ "errors": [MARKER] })));
    let err = vault(api.url(), policy).deploy(&d).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("http 400 from the target"), "{err}");
    assert!(!err.to_string().contains(MARKER), "{err}");
}

/// No answer is classified, not quoted: a closed loopback port is `connection refused` for the
/// HTTP, TLS-scan and SSH paths alike, and transient.
#[tokio::test]
async fn unreachable_ports_get_a_classified_reason() {
    install_ring();
    let policy = EgressPolicy::allowing_loopback();
    // Bound and never listening, and held for the whole test: connections are refused, and no other
    // process can start listening there meanwhile (a port bound and released could be anyone's).
    let held = PortReservation::tcp();
    let closed = held.port();
    let d = sample_deployable(CHAIN);
    let errors = [
        webhook(format!("http://127.0.0.1:{closed}/"), policy.clone()).deploy(&d).await.unwrap_err(),
        presented_fingerprint(&format!("127.0.0.1:{closed}"), None, TIMEOUT, &policy).await.unwrap_err(),
        ssh("127.0.0.1", closed, policy.clone()).deploy(&d).await.unwrap_err(),
    ];
    for err in errors {
        assert!(err.is_transient() && err.to_string().ends_with(": connection refused"), "{err}");
    }
}
