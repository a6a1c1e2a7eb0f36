//! One TCP proxy per node in front of the store server (MongoDB), so that one node's link to the
//! store can be cut while the others keep theirs: the node's `[store.mongodb] uri` names its own
//! proxy, the harness's checks connect to the server directly.
//! Invariant: while a node's link is cut, none of its bytes reach the store: its open connections
//! are closed at the cut and new ones are refused until `restore`.

use std::collections::HashMap;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::proxy::pipe;

#[derive(Default)]
struct Link {
    cut: bool,
    /// Both ends of every open connection, to close them at a cut.
    streams: Vec<TcpStream>,
    refused: u64,
}

/// The proxies of one cluster's nodes to the store.
pub struct StoreLinks {
    links: HashMap<u64, Arc<Mutex<Link>>>,
    fronts: HashMap<u64, SocketAddr>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl StoreLinks {
    /// One proxy per node id, each forwarding to `server` (which may be down or restart on the
    /// same port: a connection then fails as it would without the proxy).
    pub fn start(ids: &[u64], server: SocketAddr) -> StoreLinks {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut links, mut fronts, mut threads) = (HashMap::new(), HashMap::new(), Vec::new());
        for &id in ids {
            let listener = TcpListener::bind("127.0.0.1:0").expect("store proxy listens");
            listener.set_nonblocking(true).unwrap();
            fronts.insert(id, listener.local_addr().unwrap());
            let link: Arc<Mutex<Link>> = Arc::default();
            links.insert(id, link.clone());
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || accept_loop(listener, server, link, stop)));
        }
        StoreLinks { links, fronts, stop, threads }
    }

    /// The address node `id` reaches the store at.
    pub fn front(&self, id: u64) -> SocketAddr {
        self.fronts[&id]
    }

    /// Cuts node `id` off from the store: its open connections close, new ones are refused.
    pub fn cut(&self, id: u64) {
        let mut link = self.links[&id].lock().unwrap();
        link.cut = true;
        for stream in link.streams.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub fn restore(&self, id: u64) {
        self.links[&id].lock().unwrap().cut = false;
    }

    /// Connections node `id` attempted while cut off.
    pub fn refused(&self, id: u64) -> u64 {
        self.links[&id].lock().unwrap().refused
    }
}

impl Drop for StoreLinks {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for link in self.links.values() {
            for stream in link.lock().unwrap().streams.drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: TcpListener, server: SocketAddr, link: Arc<Mutex<Link>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(_) => continue,
        };
        if link.lock().unwrap().cut {
            link.lock().unwrap().refused += 1;
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let _ = client.set_nonblocking(false);
        let Ok(upstream) = TcpStream::connect_timeout(&server, Duration::from_secs(2)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = (client.set_nodelay(true), upstream.set_nodelay(true));
        let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) =
            (client.try_clone(), upstream.try_clone(), client.try_clone(), upstream.try_clone())
        else {
            continue;
        };
        {
            let mut link = link.lock().unwrap();
            // A cut that landed while this connection was being made closes it too.
            if link.cut {
                let _ = (client.shutdown(Shutdown::Both), upstream.shutdown(Shutdown::Both));
                continue;
            }
            link.streams.retain(|s| s.peer_addr().is_ok());
            link.streams.extend([c3, u3]);
        }
        std::thread::spawn(move || pipe(client, upstream));
        std::thread::spawn(move || pipe(u2, c2));
    }
}
