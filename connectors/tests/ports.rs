//! The test servers' ports: held until the server listens, read back from the server's own sockets,
//! and another process on a port is never taken for the server.

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use certautopilot_connectors::testsupport::{
    ChildGuard, NotListening, PortReservation, listening_tcp_ports, wait_until_bound,
};

/// A held port refuses connections (like a server that is down), yet a listener that sets
/// SO_REUSEADDR (as std's, tokio's, sshd's and named's do) can still listen on it while it is held,
/// and `/proc` then shows that listener as this process's.
#[test]
fn a_held_port_refuses_until_its_server_listens_there() {
    let held = PortReservation::tcp();
    let addr = ("127.0.0.1", held.port());
    assert!(TcpStream::connect(addr).is_err(), "a held port accepted a connection");
    let listener = TcpListener::bind(addr).expect("a SO_REUSEADDR listener shares the held port");
    assert!(TcpStream::connect(addr).is_ok());
    assert!(listening_tcp_ports(std::process::id()).contains(&held.port()));
    drop(listener);
}

/// A child that does not listen where another process does is reported as `Taken` at once, never
/// as started; one that ends is reported as `Exited`.
#[test]
fn another_process_on_the_port_is_never_taken_for_the_server() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let mut child = ChildGuard::new(Command::new("sleep").arg("30").spawn().unwrap());
    let result = wait_until_bound(&mut child, &[port], &[], Duration::from_secs(10));
    assert!(matches!(result, Err(NotListening::Taken(p)) if p == port), "{result:?}");
    child.stop();

    let mut done = ChildGuard::new(Command::new("true").spawn().unwrap());
    let result = wait_until_bound(&mut done, &[PortReservation::tcp().port()], &[], Duration::from_secs(10));
    assert!(matches!(result, Err(NotListening::Exited(_))), "{result:?}");
}
