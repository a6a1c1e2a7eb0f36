//! A fault-injecting TCP proxy in front of every node's cluster port. Nodes reach each other only
//! through it, each from its own loopback address (`127.0.0.(10 + id)`, the node's
//! `cluster.source_address`), so the proxy knows who talks to whom and can cut any set of nodes off
//! from the rest, closing the connections already open across the cut.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The loopback address node `id` connects from.
pub fn source_address(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 10 + id as u8))
}

fn node_of(addr: IpAddr) -> Option<u64> {
    match addr {
        IpAddr::V4(v4) if v4.octets()[..3] == [127, 0, 0] && v4.octets()[3] > 10 => {
            Some(u64::from(v4.octets()[3] - 10))
        }
        _ => None,
    }
}

struct Link {
    from: u64,
    to: u64,
    streams: [TcpStream; 2],
}

#[derive(Default)]
struct State {
    isolated: HashSet<u64>,
    links: Vec<Link>,
    refused: u64,
}

impl State {
    /// Traffic flows between nodes on the same side of the cut; the CLI and other local tools
    /// (no node address) always get through.
    fn allows(&self, from: Option<u64>, to: u64) -> bool {
        match from {
            Some(from) => self.isolated.contains(&from) == self.isolated.contains(&to),
            None => true,
        }
    }
}

/// The proxies of one cluster and the cut between them.
pub struct Network {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    /// node id -> the address its peers use (the proxy's).
    fronts: HashMap<u64, SocketAddr>,
    threads: Vec<JoinHandle<()>>,
}

impl Network {
    /// One proxy per node id, forwarding to that node's real cluster port.
    pub fn start(backends: &[(u64, u16)]) -> Network {
        let state: Arc<Mutex<State>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut fronts = HashMap::new();
        let mut threads = Vec::new();
        for &(id, port) in backends {
            let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listens");
            listener.set_nonblocking(true).unwrap();
            fronts.insert(id, listener.local_addr().unwrap());
            let (state, stop) = (state.clone(), stop.clone());
            let backend = SocketAddr::from(([127, 0, 0, 1], port));
            threads.push(std::thread::spawn(move || accept_loop(listener, id, backend, state, stop)));
        }
        Network { state, stop, fronts, threads }
    }

    pub fn front(&self, id: u64) -> SocketAddr {
        self.fronts[&id]
    }

    /// Cuts `ids` off from every other node (both directions); connections across the cut close.
    pub fn isolate(&self, ids: &[u64]) {
        let mut state = self.state.lock().unwrap();
        state.isolated = ids.iter().copied().collect();
        let (keep, cut): (Vec<Link>, Vec<Link>) =
            std::mem::take(&mut state.links).into_iter().partition(|l| state.allows(Some(l.from), l.to));
        state.links = keep;
        for link in cut {
            for s in &link.streams {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }

    pub fn heal(&self) {
        self.state.lock().unwrap().isolated.clear();
    }

    /// Connections refused because they crossed the cut.
    pub fn refused(&self) -> u64 {
        self.state.lock().unwrap().refused
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for link in std::mem::take(&mut self.state.lock().unwrap().links) {
            for s in &link.streams {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn accept_loop(listener: TcpListener, to: u64, backend: SocketAddr, state: Arc<Mutex<State>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        let (client, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        let from = node_of(peer.ip());
        if !state.lock().unwrap().allows(from, to) {
            state.lock().unwrap().refused += 1;
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let _ = client.set_nonblocking(false);
        let Ok(server) = TcpStream::connect_timeout(&backend, Duration::from_secs(2)) else {
            // The node is down: its peers see a refused connection, as they would without the proxy.
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = (client.set_nodelay(true), server.set_nodelay(true));
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
        if let Some(from) = from {
            let (Ok(c3), Ok(s3)) = (client.try_clone(), server.try_clone()) else { continue };
            state.lock().unwrap().links.push(Link { from, to, streams: [c3, s3] });
        }
        std::thread::spawn(move || pipe(client, server));
        std::thread::spawn(move || pipe(s2, c2));
    }
}

/// Copies `from` to `to` until either side ends, then closes both (also the store proxy's).
pub(crate) fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
