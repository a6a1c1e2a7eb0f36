//! Caps on open connections, per client address and in total, so a flood of idle or slow
//! connections from one place cannot take every file descriptor (issue M2.1 item 5).
//! Invariant: a connection is counted from the moment it is accepted until actix drops it (its
//! guard lives in the connection's extensions); one over a cap is shut down at once, before a
//! byte of it is read, and the shedding is logged at most once a second with the counts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::Extensions;

/// The counts behind the caps, shared by every HTTP worker of the process.
pub struct ConnectionLimits {
    per_peer: usize,
    total: usize,
    open: Mutex<Open>,
    shed: AtomicU64,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_peer: HashMap<IpAddr, usize>,
    last_warned: Option<Instant>,
}

/// Holds one admitted connection's place; dropping it gives the place back.
pub struct Admitted {
    limits: Arc<ConnectionLimits>,
    peer: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                open.by_peer.remove(&self.peer);
            }
        }
    }
}

/// What the caps decided about a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    Peer,
    Total,
}

impl ConnectionLimits {
    pub fn new(total: usize, per_peer: usize) -> Arc<ConnectionLimits> {
        Arc::new(ConnectionLimits { per_peer, total, open: Mutex::default(), shed: AtomicU64::new(0) })
    }

    /// Counts a connection from `peer`, or says which cap it is over.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admitted, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let refusal = if open.total >= self.total {
            Some(Refusal::Total)
        } else if open.by_peer.get(&peer).copied().unwrap_or(0) >= self.per_peer {
            Some(Refusal::Peer)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let shed = self.shed.fetch_add(1, Ordering::Relaxed) + 1;
            let now = Instant::now();
            if open.last_warned.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
                open.last_warned = Some(now);
                let (cap, limit) = match refusal {
                    Refusal::Total => ("api.max_connections", self.total),
                    Refusal::Peer => ("api.max_connections_per_peer", self.per_peer),
                };
                tracing::warn!(%peer, cap, limit, open = open.total, shed_so_far = shed, "shedding connections over a cap");
            }
            return Err(refusal);
        }
        open.total += 1;
        *open.by_peer.entry(peer).or_default() += 1;
        Ok(Admitted { limits: self.clone(), peer })
    }

    /// Connections shed since start.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// The two figures as Prometheus text, for the metrics listener.
    pub fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "# HELP certautopilot_http_connections_open API connections open now.\n\
             # TYPE certautopilot_http_connections_open gauge\ncertautopilot_http_connections_open {}\n\
             # HELP certautopilot_http_connections_shed_total API connections closed at once for being over a cap.\n\
             # TYPE certautopilot_http_connections_shed_total counter\ncertautopilot_http_connections_shed_total {}\n",
            self.open(),
            self.shed()
        );
    }

    /// The `on_connect` hook: admits the connection (its guard goes into the connection's
    /// extensions) or shuts its socket down, so actix reads end-of-stream and drops it at once.
    pub fn on_connect(self: &Arc<Self>, io: &dyn std::any::Any, extensions: &mut Extensions) {
        type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
        let tcp = match (io.downcast_ref::<actix_web::rt::net::TcpStream>(), io.downcast_ref::<Tls>()) {
            (Some(tcp), _) => tcp,
            (None, Some(tls)) => tls.get_ref().0,
            (None, None) => return,
        };
        let Ok(peer) = tcp.peer_addr() else { return };
        match self.admit(peer.ip()) {
            Ok(admitted) => {
                extensions.insert(admitted);
            }
            // SAFETY: the descriptor belongs to a socket actix owns and keeps open until it drops the
            // connection; shutdown(2) only ends its streams, it does not close or reuse the descriptor.
            Err(_) => unsafe {
                libc::shutdown(tcp.as_raw_fd(), libc::SHUT_RDWR);
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One address cannot hold more than its share, others still get in until the total is
    /// reached, and every dropped guard gives its place back.
    #[test]
    fn caps_hold_per_peer_and_in_total_and_places_come_back() {
        let limits = ConnectionLimits::new(5, 3);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let held: Vec<_> = (0..3).map(|_| limits.admit(a).unwrap()).collect();
        assert_eq!(limits.admit(a).err(), Some(Refusal::Peer));
        let others: Vec<_> = (0..2).map(|_| limits.admit(b).unwrap()).collect();
        assert_eq!(limits.admit(b).err(), Some(Refusal::Total));
        assert_eq!((limits.open(), limits.shed()), (5, 2));
        drop(held);
        assert_eq!(limits.open(), 2);
        assert!(limits.admit(a).is_ok());
        drop(others);
        assert_eq!(limits.open(), 0, "the last guard dropped gave its place back too");
    }
}
