//! A real BIND 9 (`named`, Debian `bind9`) authoritative for test zones on a free loopback port, with
//! a TSIG key allowed to update TXT records (RFC 2136). See ../shared/notes/pebble-bind9.md. It also
//! answers recursive queries from loopback (out of its own zones), standing in for the CA's resolver.
//! Its port is held for it until it binds (see `ports`); it is started again on another port if it
//! cannot get that one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;

use super::ChildGuard;
use super::dig::{dig_txt, launch_dns_server};
use super::ports::{PortReservation, start_on_fresh_ports};

/// The TSIG key the test server accepts for updates.
#[derive(Debug, Clone)]
pub struct TsigKey {
    /// Without the trailing dot.
    pub name: String,
    pub algorithm: &'static str,
    /// Base64, as `tsig-keygen` prints it.
    pub secret: String,
}

impl TsigKey {
    pub fn random(name: &str) -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        TsigKey {
            name: name.to_owned(),
            algorithm: "hmac-sha256",
            secret: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// One zone: its apex, whether the key may update it, and extra records in zone-file syntax.
#[derive(Debug, Clone)]
pub struct TestZone {
    pub apex: String,
    pub updatable: bool,
    pub records: Vec<String>,
}

impl TestZone {
    pub fn new(apex: &str) -> Self {
        TestZone { apex: apex.to_owned(), updatable: true, records: Vec::new() }
    }

    pub fn record(mut self, line: &str) -> Self {
        self.records.push(line.to_owned());
        self
    }

    pub fn read_only(mut self) -> Self {
        self.updatable = false;
        self
    }

    /// The zone in zone-file syntax: SOA, the one name server `ns1.<apex>` at 127.0.0.1 (on the
    /// serving port, which `Authoritative::servers` assumes), then the extra records.
    pub fn zone_file(&self) -> String {
        let apex = &self.apex;
        let mut text = format!(
            "$TTL 60\n@ IN SOA ns1.{apex}. hostmaster.{apex}. ( 1 60 60 600 60 )\n@ IN NS ns1.{apex}.\nns1 IN A 127.0.0.1\n"
        );
        for r in &self.records {
            text.push_str(r);
            text.push('\n');
        }
        text
    }
}

pub struct Bind {
    dir: PathBuf,
    port: u16,
    key: TsigKey,
    zones: Vec<TestZone>,
    child: ChildGuard,
}

impl Bind {
    /// Writes the configuration and zones into `dir` and starts `named` on a free port.
    pub fn start(dir: &Path, key: TsigKey, zones: Vec<TestZone>) -> Bind {
        std::fs::create_dir_all(dir).unwrap();
        let mut bind = Bind { dir: dir.to_path_buf(), port: 0, key, zones, child: ChildGuard::default() };
        start_on_fresh_ports("named", || {
            let held = PortReservation::tcp_and_udp();
            bind.port = held.port();
            bind.write_config();
            bind.launch(held)
        });
        bind
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn key(&self) -> &TsigKey {
        &self.key
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let key = &self.key;
        let mut conf = format!(
            r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    // Recursion (answered from its own zones only; there is nowhere else to go) makes this server
    // chase a CNAME into another zone, as the CA's recursive resolver would; Pebble resolves here.
    recursion yes;
    allow-recursion {{ 127.0.0.1; }};
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
    minimal-responses no;
}};
controls {{ }};
logging {{ channel default_stderr {{ stderr; severity warning; }}; category default {{ default_stderr; }}; }};
key "{name}." {{ algorithm {alg}; secret "{secret}"; }};
"#,
            port = self.port,
            name = key.name,
            alg = key.algorithm,
            secret = key.secret
        );
        for zone in &self.zones {
            let apex = &zone.apex;
            let policy = if zone.updatable {
                format!("update-policy {{ grant {}. zonesub TXT; }};", key.name)
            } else {
                String::new()
            };
            conf.push_str(&format!("zone \"{apex}\" {{ type primary; file \"{d}/{apex}.zone\"; {policy} }};\n"));
            // named keeps its journal beside the zone; a restart must start from the file as written.
            let _ = std::fs::remove_file(self.dir.join(format!("{apex}.zone.jnl")));
            std::fs::write(self.dir.join(format!("{apex}.zone")), zone.zone_file()).unwrap();
        }
        std::fs::write(self.dir.join("named.conf"), conf).unwrap();
    }

    /// Starts named on its port, held in `held` until it binds; on failure it is stopped and the
    /// reason returned.
    fn launch(&mut self, mut held: PortReservation) -> Result<(), String> {
        // UDP cannot be shared with the reservation: named gets it a moment before it starts.
        held.release_udp();
        // Listening precedes loading the zones: wait until the first answers authoritatively.
        let apex = self.zones.first().map(|z| z.apex.clone()).unwrap_or_default();
        let mut named = Command::new("named");
        named.args(["-4", "-f", "-n", "2", "-c"]).arg(self.dir.join("named.conf"));
        let ports: &[u16] = &[self.port];
        self.child =
            launch_dns_server(&mut named, &self.dir.join("named.log"), held, (ports, ports), self.addr(), &apex)?;
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("named.log")).unwrap_or_default()
    }

    /// TXT values at `name` as this server answers them (through `dig`, independent of our client).
    pub fn txt(&self, name: &str) -> Vec<String> {
        dig_txt(self.addr(), name)
    }

    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Starts again on the same port (clients have it configured) with the zones as first written:
    /// waits out another process that holds the port meanwhile, up to a deadline.
    pub fn restart(&mut self) {
        self.stop();
        self.write_config();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.launch(PortReservation::again(self.port)) {
                Ok(()) => return,
                Err(e) if Instant::now() >= deadline => panic!("named did not start again: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl super::Rfc2136Server for Bind {
    fn addr(&self) -> SocketAddr {
        Bind::addr(self)
    }

    fn key(&self) -> &TsigKey {
        Bind::key(self)
    }

    fn txt(&self, name: &str) -> Vec<String> {
        Bind::txt(self, name)
    }

    fn chases_cnames(&self) -> bool {
        true
    }

    fn stop(&mut self) {
        Bind::stop(self)
    }
}
