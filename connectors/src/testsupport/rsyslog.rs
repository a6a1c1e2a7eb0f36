//! A real rsyslogd (Debian `rsyslog`, `rsyslog-relp`) on free loopback ports, with UDP, TCP and RELP
//! inputs that write each raw message to `udp.log`, `tcp.log` and `relp.log`.
//!
//! Its ports are chosen and held from `new` (a test may point a forwarder at a server that is not up
//! yet: connections are refused meanwhile, and no other process gets the ports) until rsyslogd has
//! bound them (see `ports`). If it cannot get them, it is started again on other ports when no test
//! has asked for an address yet, and on the same ones (waiting out whoever holds them) otherwise.

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ChildGuard;
use super::ports::{PortReservation, START_ATTEMPTS, wait_until_bound};

pub struct Rsyslog {
    dir: PathBuf,
    ports: (u16, u16, u16),
    tls_port: u16,
    child: ChildGuard,
    /// The four ports (UDP, TCP, RELP, TLS), held until rsyslogd binds them.
    held: Vec<PortReservation>,
    /// Whether an address was given out: then the ports can no longer change.
    handed_out: Cell<bool>,
}

fn reserve() -> Vec<PortReservation> {
    vec![PortReservation::tcp_and_udp(), PortReservation::tcp(), PortReservation::tcp(), PortReservation::tcp()]
}

impl Rsyslog {
    pub fn new(dir: &Path) -> Rsyslog {
        let mut rsyslog = Rsyslog {
            dir: dir.to_path_buf(),
            ports: (0, 0, 0),
            tls_port: 0,
            child: ChildGuard::default(),
            held: Vec::new(),
            handed_out: Cell::new(false),
        };
        rsyslog.hold(reserve());
        rsyslog
    }

    fn hold(&mut self, held: Vec<PortReservation>) {
        self.ports = (held[0].port(), held[1].port(), held[2].port());
        self.tls_port = held[3].port();
        self.held = held;
    }

    fn addr(&self, port: u16) -> SocketAddr {
        self.handed_out.set(true);
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    pub fn udp(&self) -> SocketAddr {
        self.addr(self.ports.0)
    }
    pub fn tcp(&self) -> SocketAddr {
        self.addr(self.ports.1)
    }
    /// The TLS input (RFC 5425), served with `tls/server.pem` signed by `ca_pem()`.
    pub fn tls(&self) -> SocketAddr {
        self.addr(self.tls_port)
    }

    /// The CA that signed the TLS input's certificate (made on first `start`).
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    fn make_certificates(&self) {
        let tls = self.dir.join("tls");
        if !tls.join("server.pem").exists() {
            super::make_tls_certificates(&tls, "rsyslog", "IP:127.0.0.1");
        }
    }

    pub fn relp(&self) -> SocketAddr {
        self.addr(self.ports.2)
    }

    /// Starts rsyslogd on its ports (see the module's note on what happens when it cannot get them).
    pub fn start(&mut self) {
        self.make_certificates();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut failures = Vec::new();
        loop {
            if self.held.is_empty() {
                let held = if self.handed_out.get() {
                    let (udp, tcp, relp) = self.ports;
                    [udp, tcp, relp, self.tls_port].into_iter().map(PortReservation::again).collect()
                } else {
                    reserve()
                };
                self.hold(held);
            }
            match self.launch() {
                Ok(()) => return,
                Err(e) => failures.push(e),
            }
            let out_of_tries =
                if self.handed_out.get() { Instant::now() >= deadline } else { failures.len() >= START_ATTEMPTS };
            assert!(!out_of_tries, "rsyslogd did not start: {failures:#?}");
            if self.handed_out.get() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// Starts rsyslogd on the held ports; on failure it is stopped and the reason returned.
    fn launch(&mut self) -> Result<(), String> {
        let mut held = std::mem::take(&mut self.held);
        // UDP cannot be shared with the reservation: rsyslogd gets it a moment before it starts.
        held[0].release_udp();
        let d = self.dir.display();
        let work = self.dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let (udp, tcp, relp) = self.ports;
        let tls_port = self.tls_port;
        let conf = format!(
            r#"global(workDirectory="{d}/work" DefaultNetstreamDriverCAFile="{d}/tls/ca.pem"
       DefaultNetstreamDriverCertFile="{d}/tls/server.pem" DefaultNetstreamDriverKeyFile="{d}/tls/server.key")
module(load="imudp")
module(load="imtcp")
module(load="imrelp")
template(name="raw" type="string" string="%rawmsg%\n")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="raw") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="raw") }}
ruleset(name="relp") {{ action(type="omfile" file="{d}/relp.log" template="raw") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.log" template="raw") }}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
input(type="imrelp" address="127.0.0.1" port="{relp}" ruleset="relp")
input(type="imtcp" address="127.0.0.1" port="{tls_port}" ruleset="tls" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
"#
        );
        std::fs::write(self.dir.join("rsyslog.conf"), conf).unwrap();
        let log = std::fs::File::create(self.dir.join("rsyslogd.log")).unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("rsyslogd is installed (./scripts/test installs rsyslog and rsyslog-relp)");
        self.child = ChildGuard::new(child);
        // The UDP input is up once rsyslogd holds the port: a datagram sent before that is lost,
        // and nothing would send it again.
        let bound = wait_until_bound(&mut self.child, &[tcp, relp, tls_port], &[udp], Duration::from_secs(20));
        drop(held);
        bound.map_err(|e| {
            self.child.stop();
            let log = std::fs::read_to_string(self.dir.join("rsyslogd.log")).unwrap_or_default();
            format!("ports {:?} and {tls_port}: {e:?}: {log}", self.ports)
        })
    }

    pub fn stop(&mut self) {
        self.child.stop();
    }

    pub fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}
