//! A real rsyslogd (Debian `rsyslog`, `rsyslog-relp`) on free loopback ports, with UDP, TCP and RELP
//! inputs that write each raw message to `udp.log`, `tcp.log` and `relp.log`.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Rsyslog {
    dir: PathBuf,
    ports: (u16, u16, u16),
    tls_port: u16,
    child: Option<Child>,
}

impl Rsyslog {
    pub fn new(dir: &Path) -> Rsyslog {
        Rsyslog {
            dir: dir.to_path_buf(),
            ports: (free_port(), free_port(), free_port()),
            tls_port: free_port(),
            child: None,
        }
    }

    pub fn udp(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.ports.0).parse().unwrap()
    }
    pub fn tcp(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.ports.1).parse().unwrap()
    }
    /// The TLS input (RFC 5425), served with `tls/server.pem` signed by `ca_pem()`.
    pub fn tls(&self) -> SocketAddr {
        format!("127.0.0.1:{}", self.tls_port).parse().unwrap()
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
        format!("127.0.0.1:{}", self.ports.2).parse().unwrap()
    }

    pub fn start(&mut self) {
        let d = self.dir.display();
        let work = self.dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let (udp, tcp, relp) = self.ports;
        let tls_port = self.tls_port;
        self.make_certificates();
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
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd is installed (./scripts/test installs rsyslog and rsyslog-relp)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        // The UDP input is up once its port can no longer be bound: a datagram sent before that
        // is lost, and nothing would send it again.
        while TcpStream::connect(self.tcp()).is_err()
            || TcpStream::connect(self.relp()).is_err()
            || TcpStream::connect(self.tls()).is_err()
            || std::net::UdpSocket::bind(self.udp()).is_ok()
        {
            assert!(Instant::now() < deadline, "rsyslog did not start listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}
