//! In-process cluster nodes on loopback: forming a cluster through the admin requests, failing over,
//! membership errors, and the cluster port against bad frames and clients without a certificate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_cluster::admin::{self, AdminRequest, AdminResponse};
use certautopilot_cluster::transport::{MAX_FRAME, TransportStats, WireRequest, WireResponse, read_frame, write_frame};
use certautopilot_cluster::{
    AdminError, ClusterError, ClusterNode, ClusterSettings, ClusterStatus, Connector, TlsIdentity,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Fixture {
    dir: tempfile::TempDir,
    /// The nodes' ports, held for the whole test: bound with SO_REUSEADDR and never listening, so no
    /// other bind to port 0 or outgoing connection gets them, while the node (whose tokio listener
    /// sets SO_REUSEADDR too) can listen on its port, and listen there again after a restart.
    held: std::sync::Mutex<Vec<tokio::net::TcpSocket>>,
}

impl Fixture {
    fn new(ids: &[u64]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        certautopilot_cluster::certs::issue(dir.path(), ids, &["127.0.0.1".into(), "localhost".into()]).unwrap();
        Fixture { dir, held: Default::default() }
    }

    /// A free loopback port, held until the fixture is dropped.
    fn reserve_port(&self) -> u16 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        self.held.lock().unwrap().push(socket);
        port
    }

    fn settings(&self, id: u64) -> ClusterSettings {
        let port = self.reserve_port();
        let d = self.dir.path();
        ClusterSettings {
            node_id: id,
            listen: format!("127.0.0.1:{port}").parse().unwrap(),
            advertise: format!("127.0.0.1:{port}"),
            source_address: None,
            raft_db: d.join(format!("raft-{id}.db")),
            ca_path: d.join("ca.pem"),
            cert_path: d.join(format!("node-{id}.pem")),
            key_path: d.join(format!("node-{id}.key")),
            heartbeat: Duration::from_millis(50),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
        }
    }

    fn connector(&self, id: u64) -> Connector {
        let d = self.dir.path();
        let identity =
            TlsIdentity::load(&d.join("ca.pem"), &d.join(format!("node-{id}.pem")), &d.join(format!("node-{id}.key")))
                .unwrap();
        Connector::new(&identity, None, Arc::new(TransportStats::default()))
    }
}

async fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn active_leader(nodes: &[&ClusterNode]) -> Option<(u64, u64)> {
    let active: Vec<_> = nodes
        .iter()
        .filter_map(|n| {
            let leadership = *n.leadership().borrow();
            leadership.active.then_some((n.id(), leadership.term))
        })
        .collect();
    (active.len() == 1).then(|| active[0])
}

/// Waits until the node at `addr` reports a status that satisfies `done` (replication reaches each
/// node in its own time), and returns it.
async fn wait_status(
    connector: &Connector,
    addr: &str,
    what: &str,
    done: impl Fn(&ClusterStatus) -> bool,
) -> ClusterStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = status(connector, addr).await;
        if done(&st) {
            return st;
        }
        assert!(Instant::now() < deadline, "{addr} never reported {what}: {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(connector: &Connector, addr: &str) -> ClusterStatus {
    match admin::call(connector, addr, AdminRequest::Status, Duration::from_secs(5)).await.unwrap() {
        AdminResponse::Status(s) => *s,
        other => panic!("{other:?}"),
    }
}

/// Three nodes form a cluster through admin requests (a join through a follower too), bad
/// membership requests change nothing, and when the leader goes another takes over in a newer term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_through_admin_requests_and_fail_over() {
    let f = Fixture::new(&[1, 2, 3]);
    let (s1, s2, s3) = (f.settings(1), f.settings(2), f.settings(3));
    let n1 = ClusterNode::start(s1.clone()).await.unwrap();
    let n2 = ClusterNode::start(s2.clone()).await.unwrap();
    let n3 = ClusterNode::start(s3.clone()).await.unwrap();
    let cli = f.connector(1);

    admin::call(&cli, &s1.advertise, AdminRequest::Init, Duration::from_secs(10)).await.unwrap();
    let again = admin::call(&cli, &s1.advertise, AdminRequest::Init, Duration::from_secs(10)).await;
    assert!(matches!(again, Err(ClusterError::Admin(AdminError::Refused(_)))), "{again:?}");
    wait_for("node 1 to lead", || active_leader(&[&n1]).filter(|(id, _)| *id == 1)).await;

    // Joining through a follower works too: it passes the request on to the leader.
    let join = |id: u64, addr: &str| AdminRequest::Join { node_id: id, addr: addr.into(), voter: true };
    admin::call(&cli, &s1.advertise, join(2, &s2.advertise), Duration::from_secs(30)).await.unwrap();
    admin::call(&cli, &s2.advertise, join(3, &s3.advertise), Duration::from_secs(30)).await.unwrap();
    // Node 3 learns the membership and the leader through replication: wait for it, with a deadline.
    wait_status(&cli, &s3.advertise, "voters 1, 2, 3 led by 1", |st| {
        st.voters == vec![1, 2, 3] && st.leader == Some(1)
    })
    .await;

    // Bad membership requests are refused and change nothing.
    for (request, needle) in [
        (join(2, "127.0.0.1:1"), "already a member"),
        (join(4, &s2.advertise), "already node 2"),
        (join(5, "no-port"), "not a host:port"),
        (AdminRequest::Leave { node_id: 9 }, "not a member"),
    ] {
        let err = admin::call(&cli, &s1.advertise, request, Duration::from_secs(10)).await.unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert_eq!(status(&cli, &s1.advertise).await.voters, vec![1, 2, 3]);

    // The leader goes away: one of the others takes over, in a newer term.
    let (_, old_term) = wait_for("one active leader", || active_leader(&[&n1, &n2, &n3])).await;
    n1.shutdown().await;
    let (new_leader, new_term) = wait_for("a new leader", || active_leader(&[&n2, &n3])).await;
    assert!(new_leader != 1 && new_term > old_term);

    // The old leader leaves for good; the two left keep a quorum between them.
    let follower = if new_leader == 2 { &s3 } else { &s2 };
    admin::call(&cli, &follower.advertise, AdminRequest::Leave { node_id: 1 }, Duration::from_secs(30)).await.unwrap();
    wait_status(&cli, &follower.advertise, "two voters", |st| st.voters.len() == 2).await;
    n2.shutdown().await;
    n3.shutdown().await;
}

/// A restarted node keeps its vote, log and membership: it leads again, never in an older term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_vote_log_and_membership() {
    let f = Fixture::new(&[1]);
    let s1 = f.settings(1);
    let n1 = ClusterNode::start(s1.clone()).await.unwrap();
    n1.admin(AdminRequest::Init).await.unwrap();
    let (_, term) = wait_for("node 1 to lead", || active_leader(&[&n1])).await;
    n1.shutdown().await;

    let n1 = ClusterNode::start(s1).await.unwrap();
    let (_, again) = wait_for("node 1 to lead again", || active_leader(&[&n1])).await;
    // A sole voter may resume its own committed term; it never goes back to an older one.
    assert!(again >= term, "term went back from {term} to {again}");
    let st = n1.status();
    assert_eq!(st.voters, vec![1]);
    assert!(matches!(n1.admin(AdminRequest::Init).await, Err(AdminError::Refused(_))));
    n1.shutdown().await;
}

/// Oversized, truncated and undecodable frames, and clients without a certificate: each connection
/// is closed, and the node goes on answering its peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_port_rejects_bad_frames_and_strangers() {
    let f = Fixture::new(&[1]);
    let s1 = f.settings(1);
    let n1 = ClusterNode::start(s1.clone()).await.unwrap();
    n1.admin(AdminRequest::Init).await.unwrap();
    let d = f.dir.path().to_owned();

    let tls_stream = || async {
        let identity = TlsIdentity::load(&d.join("ca.pem"), &d.join("node-1.pem"), &d.join("node-1.key")).unwrap();
        raw_tls(&identity, &s1.advertise).await
    };
    let bad_frames: Vec<Vec<u8>> = vec![
        ((MAX_FRAME as u32) + 1).to_be_bytes().to_vec(),
        u32::MAX.to_be_bytes().to_vec(),
        0u32.to_be_bytes().to_vec(),
        [&8u32.to_be_bytes()[..], &[0xff; 8]].concat(),
        [&100u32.to_be_bytes()[..], b"short"].concat(),
    ];
    for (i, frame) in bad_frames.iter().enumerate() {
        let mut stream = tls_stream().await;
        stream.write_all(frame).await.unwrap();
        if i == bad_frames.len() - 1 {
            // Cut short: the writer goes away mid-frame.
            stream.shutdown().await.unwrap();
        }
        let mut buf = [0u8; 1];
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await.expect("closed in time");
        assert!(matches!(closed, Ok(0) | Err(_)), "frame {i}: connection still open");
    }
    wait_for("every bad frame counted", || (n1.status().transport.rejected_frames >= 5).then_some(())).await;

    // A valid frame after garbage on another connection still gets its answer.
    let mut stream = tls_stream().await;
    write_frame(&mut stream, &WireRequest::Admin { request: AdminRequest::Status, forwarded: false }).await.unwrap();
    let answer: WireResponse = read_frame(&mut stream).await.unwrap();
    assert!(matches!(answer, WireResponse::Admin(Ok(AdminResponse::Status(_)))));

    // Without a client certificate the handshake fails.
    let before = n1.status().transport.tls_failures;
    let anonymous = anonymous_tls(&d.join("ca.pem"), &s1.advertise).await;
    if let Ok(mut stream) = anonymous {
        let _ = write_frame(&mut stream, &WireRequest::Admin { request: AdminRequest::Status, forwarded: false }).await;
        let answer = read_frame::<_, WireResponse>(&mut stream).await;
        assert!(answer.is_err(), "a client without a certificate got an answer");
    }
    wait_for("the refused handshake counted", || (n1.status().transport.tls_failures > before).then_some(())).await;
    assert!(wait_for("node still leading", || active_leader(&[&n1])).await.0 == 1);
    n1.shutdown().await;
}

async fn raw_tls(identity: &TlsIdentity, addr: &str) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let connector = tokio_rustls::TlsConnector::from(identity.client_config());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    connector.connect(rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap()
}

async fn anonymous_tls(
    ca: &std::path::Path,
    addr: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let mut stream = connector.connect(rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(), tcp).await?;
    // TLS 1.3 reports the server's refusal on the first read.
    stream.flush().await?;
    Ok(stream)
}
