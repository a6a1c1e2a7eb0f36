//! A real Knot DNS (`knotd`, Debian `knot`) authoritative for test zones on a free loopback port,
//! with a TSIG key its ACL allows to update TXT records (RFC 2136): the second real RFC 2136
//! implementation beside BIND. Unlike the test BIND it does not recurse, so it does not chase a
//! CNAME into another zone. Its port is held for it until it binds (see `ports`); it is started
//! again on another port if it cannot get that one.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::dig::{dig_txt, launch_dns_server};
use super::ports::{PortReservation, start_on_fresh_ports};
use super::{ChildGuard, Rfc2136Server, TestZone, TsigKey};

pub struct Knot {
    dir: PathBuf,
    port: u16,
    key: TsigKey,
    zones: Vec<TestZone>,
    child: ChildGuard,
}

impl Knot {
    /// Writes the configuration and zones into `dir` and starts `knotd` on a free port.
    pub fn start(dir: &Path, key: TsigKey, zones: Vec<TestZone>) -> Knot {
        std::fs::create_dir_all(dir).unwrap();
        let mut knot = Knot { dir: dir.to_path_buf(), port: 0, key, zones, child: ChildGuard::default() };
        start_on_fresh_ports("knotd", || {
            let held = PortReservation::tcp_and_udp();
            knot.port = held.port();
            knot.write_config();
            knot.launch(held)
        });
        knot
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let key = &self.key;
        let mut conf = format!(
            r#"server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "{d}"
key:
  - id: {name}.
    algorithm: {alg}
    secret: {secret}
acl:
  # As the test BIND's `grant <key> zonesub TXT`: the key may change TXT records, nothing else.
  - id: txt-updates
    key: {name}.
    action: update
    update-type: [TXT]
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
    # The zone files stay as written (a restart starts from them); changes live in memory only.
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
"#,
            port = self.port,
            name = key.name,
            alg = key.algorithm,
            secret = key.secret
        );
        for zone in &self.zones {
            conf.push_str(&format!("  - domain: {}.\n", zone.apex));
            if zone.updatable {
                conf.push_str("    acl: txt-updates\n");
            }
            std::fs::write(self.dir.join(format!("{}.zone", zone.apex)), zone.zone_file()).unwrap();
        }
        std::fs::write(self.dir.join("knot.conf"), conf).unwrap();
    }

    /// Starts knotd on its port, held in `held` until it binds; on failure it is stopped and the
    /// reason returned.
    fn launch(&mut self, mut held: PortReservation) -> Result<(), String> {
        // UDP cannot be shared with the reservation: knotd gets it a moment before it starts.
        held.release_udp();
        let apex = self.zones.first().map(|z| z.apex.clone()).unwrap_or_default();
        let mut knotd = Command::new("knotd");
        knotd.arg("-c").arg(self.dir.join("knot.conf"));
        let ports: &[u16] = &[self.port];
        self.child =
            launch_dns_server(&mut knotd, &self.dir.join("knot.log"), held, (ports, ports), self.addr(), &apex)?;
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default()
    }
}

impl Rfc2136Server for Knot {
    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn key(&self) -> &TsigKey {
        &self.key
    }

    fn txt(&self, name: &str) -> Vec<String> {
        dig_txt(self.addr(), name)
    }

    fn chases_cnames(&self) -> bool {
        false
    }

    fn stop(&mut self) {
        self.child.stop();
    }
}
