//! Issue M2.1 item 5: slow request bodies and idle connections cannot take the server's file
//! descriptors. A bounded flood from one loopback address (127.0.0.2) against the real binary: the
//! connections over the per-address cap are shed at once, the admitted ones are cut off when their
//! body or head is late, and `/healthz` from another address answers throughout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::process::{Server, http_get, wait_for_status};

const PER_PEER: usize = 16;
const FLOOD: usize = 120;

/// A connection from `local` (bound before connecting) to `addr`.
fn connect_from(local: &str, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(format!("{local}:0").parse().unwrap())?;
        socket.connect(addr).await
    })?;
    let stream = socket.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Reads until the server closes the connection or `deadline` passes; what it sent, or `None` when
/// it is still open.
fn read_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<String> {
    stream.set_read_timeout(Some(deadline)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&got).into_owned());
            }
            Err(_) => return None,
        }
    }
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

#[test]
fn slow_bodies_and_idle_connections_are_shed_and_healthz_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let per_peer = PER_PEER.to_string();
    let mut server = Server::start(
        dir.path(),
        &[],
        &[
            ("CERTAUTOPILOT_API__MAX_CONNECTIONS_PER_PEER", per_peer.as_str()),
            ("CERTAUTOPILOT_API__MAX_CONNECTIONS", "512"),
            ("CERTAUTOPILOT_API__REQUEST_BODY_TIMEOUT_SECS", "2"),
            ("CERTAUTOPILOT_API__REQUEST_HEAD_TIMEOUT_SECS", "2"),
        ],
    );
    let pid = server.child.id();
    // The store, its read pool and the workers are open once the service is ready.
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    let baseline = open_descriptors(pid);

    // --- a flood from 127.0.0.2: a large Content-Length, then one byte of body, then nothing.
    let started = Instant::now();
    let mut flood = Vec::new();
    for _ in 0..FLOOD {
        let Ok(mut stream) = connect_from("127.0.0.2", server.addr) else { continue };
        let head = "POST /api/v1/setup HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{";
        let _ = stream.write_all(head.as_bytes());
        flood.push(stream);
    }
    assert_eq!(flood.len(), FLOOD, "every connection was accepted by the kernel");

    // While they hang, /healthz from another address answers, and the process holds no more
    // descriptors than the cap lets in (plus what it had).
    for _ in 0..5 {
        assert_eq!(http_get(server.addr, "/healthz").0, 200);
    }
    let held = open_descriptors(pid);
    assert!(held <= baseline + PER_PEER + 16, "descriptors {baseline} -> {held} with a cap of {PER_PEER}");

    // Those over the cap were closed at once, without an answer.
    let mut shed = 0;
    let mut admitted = Vec::new();
    for mut stream in flood {
        match read_until_closed(&mut stream, Duration::from_millis(20)) {
            Some(answer) if answer.is_empty() => shed += 1,
            Some(answer) => panic!("a flooding connection got an answer before its body was late: {answer}"),
            None => admitted.push(stream),
        }
    }
    assert_eq!((admitted.len(), shed), (PER_PEER, FLOOD - PER_PEER), "the cap per address holds");
    server.wait_for_log(Duration::from_secs(5), "shedding connections over a cap");
    let metrics_line = server.wait_for_log(Duration::from_secs(5), "metrics listening");
    let metrics_addr: SocketAddr =
        serde_json::from_str::<serde_json::Value>(&metrics_line).unwrap()["addr"].as_str().unwrap().parse().unwrap();
    let (_, metrics) = http_get(metrics_addr, "/metrics");
    let shed_total = format!("certautopilot_http_connections_shed_total {}", FLOOD - PER_PEER);
    assert!(metrics.contains(&shed_total), "{metrics}");

    // The admitted ones are answered 408 and closed once their body is late.
    for mut stream in admitted {
        let answer = read_until_closed(&mut stream, Duration::from_secs(15)).expect("closed after the body timeout");
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert!(started.elapsed() < Duration::from_secs(30), "the flood was bounded in time");

    // --- a head that never ends is cut off too, and 127.0.0.2 has its places back afterwards.
    let mut idle = connect_from("127.0.0.2", server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n").unwrap();
    assert!(read_until_closed(&mut idle, Duration::from_secs(15)).is_some(), "a late head is cut off");
    let mut again = connect_from("127.0.0.2", server.addr).unwrap();
    again.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let answer = read_until_closed(&mut again, Duration::from_secs(10)).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(http_get(server.addr, "/healthz").0, 200);

    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(Duration::from_secs(30)), 0);
}
