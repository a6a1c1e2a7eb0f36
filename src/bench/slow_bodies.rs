//! A flood of slow request bodies against this binary serving in a child process (issue 14, item 5):
//! connections from one loopback address (127.0.0.2) each send a large Content-Length and one byte,
//! then hold on. Prints how many the service shed at once, the most descriptors it held, its
//! resident memory, and /healthz latency from 127.0.0.1 while the flood lasts. Before the fix,
//! ~21k such connections took the service to EMFILE and /healthz timed out.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::health_probe::HealthProbe;
use super::issue::rss_kib;
use super::service::start_service;

const HEAD: &str =
    "POST /api/v1/setup HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{";

pub fn run(dir: &Path, connections: usize, seconds: u64) -> anyhow::Result<()> {
    println!(
        "bench slow-bodies: up to {connections} connections from 127.0.0.2 within {seconds} s, each a 1 MB body's head and one byte"
    );
    let (mut child, addr) = start_service(dir, &[])?;
    let pid = child.pid().context("no child pid")?;
    let descriptors = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let (fds_before, rss_before) = (descriptors(), rss_kib(pid).unwrap_or_default());

    let flooding = AtomicBool::new(true);
    let (peak_fds, peak_rss) = (AtomicUsize::new(fds_before), AtomicUsize::new(rss_before as usize));
    let health = HealthProbe::default();
    let started = Instant::now();
    let (opened, refused, held) = std::thread::scope(|s| {
        s.spawn(|| {
            while flooding.load(Ordering::Relaxed) {
                peak_fds.fetch_max(descriptors(), Ordering::Relaxed);
                peak_rss.fetch_max(rss_kib(pid).unwrap_or_default() as usize, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        s.spawn(|| health.run(addr, &flooding));
        let result = flood(addr, connections, Duration::from_secs(seconds));
        flooding.store(false, Ordering::Relaxed);
        result
    });
    let elapsed = started.elapsed();
    // Connections the service shut at once read end-of-stream; the rest it still holds.
    let mut shed = 0;
    let mut open = Vec::new();
    for stream in held {
        if still_open(&stream) { open.push(stream) } else { shed += 1 }
    }
    println!(
        "  {opened} connections opened in {:.1} s ({refused} refused by the kernel); the service shed {shed} at once and held {}",
        elapsed.as_secs_f64(),
        open.len()
    );
    println!(
        "  service descriptors: before {fds_before}, peak {}; resident memory: before {:.1} MiB, peak {:.1} MiB",
        peak_fds.load(Ordering::Relaxed),
        rss_before as f64 / 1024.0,
        peak_rss.load(Ordering::Relaxed) as f64 / 1024.0
    );
    println!("{}", health.summary("from 127.0.0.1 during the flood"));
    let waited = Instant::now();
    let cut_off = open
        .iter_mut()
        .map(|s| read_answer(s, Duration::from_secs(30)))
        .filter(|answer| answer.starts_with("HTTP/1.1 408"))
        .count();
    println!(
        "  the {} held connections: {cut_off} answered 408 and closed within {:.1} s more",
        open.len(),
        waited.elapsed().as_secs_f64()
    );
    drop(open);
    child.stop();
    Ok(())
}

/// Opens up to `connections` slow-body connections from 127.0.0.2 within `limit`; returns how many
/// opened, how many the kernel refused, and the streams.
fn flood(addr: SocketAddr, connections: usize, limit: Duration) -> (usize, usize, Vec<std::net::TcpStream>) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return (0, connections, Vec::new());
    };
    let started = Instant::now();
    let (mut streams, mut refused) = (Vec::with_capacity(connections), 0);
    while streams.len() + refused < connections && started.elapsed() < limit {
        match runtime.block_on(connect_from_second_loopback(addr)) {
            Ok(mut stream) => {
                let _ = stream.write_all(HEAD.as_bytes());
                streams.push(stream);
            }
            Err(_) => refused += 1,
        }
    }
    (streams.len(), refused, streams)
}

/// A blocking stream to `addr` from 127.0.0.2, so the service's per-address cap sees one client.
async fn connect_from_second_loopback(addr: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    let stream = tokio::time::timeout(Duration::from_secs(2), socket.connect(addr)).await??.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// Whether the peer has not closed `stream` (a read would block rather than end).
fn still_open(stream: &std::net::TcpStream) -> bool {
    let _ = stream.set_nonblocking(true);
    let open = matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    let _ = stream.set_nonblocking(false);
    open
}

/// What the service sends on `stream` until it closes it or `deadline` passes.
fn read_answer(stream: &mut std::net::TcpStream, deadline: Duration) -> String {
    let _ = stream.set_read_timeout(Some(deadline));
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
