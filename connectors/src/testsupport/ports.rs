//! Loopback ports for the servers the tests start, without the bind-and-release race.
//!
//! A port is *reserved* by a socket bound to it with `SO_REUSEADDR` and never listening: the kernel
//! then hands it to no other `bind(…:0)` and no outgoing connection, connections to it are refused
//! (as to a server that is down), yet a server that sets `SO_REUSEADDR` itself (sshd, named, rsyslogd
//! and Go's listeners all do) can still bind and listen on it. The reservation is dropped once the
//! child is seen holding the port, which is read from `/proc/<pid>/net/{tcp,udp}` matched against the
//! child's own socket inodes: a port is the child's only if the child's socket is bound to it, so
//! another process on it can never pass for the server. A server that cannot get its port after
//! all (it exits, or someone else listens there) is started again on fresh ports.

use std::collections::HashSet;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use super::ChildGuard;

/// One TCP port (and optionally the same UDP port) held for a server until it binds them.
pub struct PortReservation {
    port: u16,
    /// Held for as long as the reservation lives; never read.
    _tcp: Option<OwnedFd>,
    udp: Option<UdpSocket>,
}

impl PortReservation {
    /// A free loopback TCP port, held.
    pub fn tcp() -> PortReservation {
        let (port, fd) = reuse_socket(0).expect("bind a loopback TCP socket");
        PortReservation { port, _tcp: Some(fd), udp: None }
    }

    /// A loopback port free for both TCP and UDP (DNS listens on both), held on both.
    pub fn tcp_and_udp() -> PortReservation {
        loop {
            let mut reservation = PortReservation::tcp();
            if let Ok(udp) = UdpSocket::bind(("127.0.0.1", reservation.port)) {
                reservation.udp = Some(udp);
                return reservation;
            }
        }
    }

    /// `port` again, for a server restarted where it was (a stopped server's port, or one a test
    /// has pinned): held if it can be, which it cannot while another process listens there.
    pub fn again(port: u16) -> PortReservation {
        PortReservation { port, _tcp: reuse_socket(port).ok().map(|(_, fd)| fd), udp: None }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Lets go of the UDP side, which a server may not bind while it is held (UDP has no
    /// "listening" state to tell the two sockets apart).
    pub fn release_udp(&mut self) {
        self.udp = None;
    }
}

/// A TCP socket with `SO_REUSEADDR` bound to 127.0.0.1:`port` (0: any free port), not listening.
fn reuse_socket(port: u16) -> std::io::Result<(u16, OwnedFd)> {
    // SAFETY: plain socket calls on a descriptor this function owns (wrapped at once in OwnedFd);
    // the address structures are initialized and sized as the calls expect.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let one: libc::c_int = 1;
        let rc = libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_port = port.to_be();
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        if libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut bound: libc::sockaddr_in = std::mem::zeroed();
        let mut bound_len = len;
        if libc::getsockname(fd.as_raw_fd(), (&mut bound as *mut libc::sockaddr_in).cast(), &mut bound_len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((u16::from_be(bound.sin_port), fd))
    }
}

/// The socket inodes process `pid` holds (all its threads share one descriptor table).
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return HashSet::new() };
    entries
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let text = target.to_string_lossy().into_owned();
            text.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// (local port, state, inode) of every IPv4 socket in `/proc/<pid>/net/<table>` (the process's own
/// network namespace).
fn sockets(pid: u32, table: &str) -> Vec<(u16, u8, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = u16::from_str_radix(fields.get(1)?.rsplit_once(':')?.1, 16).ok()?;
            let state = u8::from_str_radix(fields.get(3)?, 16).ok()?;
            let inode = fields.get(9)?.parse().ok()?;
            Some((port, state, inode))
        })
        .collect()
}

const TCP_LISTEN: u8 = 0x0A;

/// Loopback TCP ports process `pid` is listening on.
pub fn listening_tcp_ports(pid: u32) -> Vec<u16> {
    let mine = socket_inodes(pid);
    sockets(pid, "tcp")
        .into_iter()
        .filter(|(_, st, inode)| *st == TCP_LISTEN && mine.contains(inode))
        .map(|s| s.0)
        .collect()
}

/// UDP ports process `pid` has a socket bound to.
pub fn bound_udp_ports(pid: u32) -> Vec<u16> {
    let mine = socket_inodes(pid);
    sockets(pid, "udp").into_iter().filter(|(_, _, inode)| mine.contains(inode)).map(|s| s.0).collect()
}

/// Whether a process other than `pid` listens on TCP `port`: then `pid` will never get it.
fn taken_by_another(pid: u32, port: u16) -> bool {
    let mine = socket_inodes(pid);
    sockets(pid, "tcp")
        .into_iter()
        .any(|(p, st, inode)| p == port && st == TCP_LISTEN && inode != 0 && !mine.contains(&inode))
}

/// Why a child did not come up on its ports.
#[derive(Debug)]
pub enum NotListening {
    /// It ended (typically: "address already in use").
    Exited(String),
    /// Another process listens on one of its TCP ports.
    Taken(u16),
    TimedOut,
}

/// Waits until `child` listens on every port of `tcp` and has bound every port of `udp`.
pub fn wait_until_bound(
    child: &mut ChildGuard,
    tcp: &[u16],
    udp: &[u16],
    timeout: Duration,
) -> Result<(), NotListening> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.exited() {
            return Err(NotListening::Exited(status.to_string()));
        }
        let pid = child.pid().ok_or_else(|| NotListening::Exited("stopped".into()))?;
        let (listening, bound) = (listening_tcp_ports(pid), bound_udp_ports(pid));
        if tcp.iter().all(|p| listening.contains(p)) && udp.iter().all(|p| bound.contains(p)) {
            return Ok(());
        }
        if let Some(port) = tcp.iter().find(|p| !listening.contains(p) && taken_by_another(pid, **p)) {
            return Err(NotListening::Taken(*port));
        }
        if Instant::now() >= deadline {
            return Err(NotListening::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many times a server is started on fresh ports before the test gives up.
pub const START_ATTEMPTS: usize = 5;

/// Runs `attempt` (which takes fresh ports and starts a server on them) until it succeeds, at most
/// `START_ATTEMPTS` times; panics with every failure otherwise.
pub fn start_on_fresh_ports(program: &str, mut attempt: impl FnMut() -> Result<(), String>) {
    let mut failures = Vec::new();
    for _ in 0..START_ATTEMPTS {
        match attempt() {
            Ok(()) => return,
            Err(e) => failures.push(e),
        }
    }
    panic!("{program} did not start on any of {START_ATTEMPTS} sets of ports: {failures:#?}");
}
