//! A real PowerDNS Authoritative (`pdns_server`, Debian `pdns-server` + `pdns-backend-sqlite3`) with
//! its HTTP API, on free loopback ports (DNS on TCP and UDP, the API on TCP), from its own config
//! directory and SQLite database: independent of any system `pdns` the package may have started
//! (see ../shared/notes/dns-servers.md). Its zones are made with `pdnsutil` before it starts; each
//! names `ns1.<apex>` at 127.0.0.1 as its one name server. Its ports are held for it until it binds
//! (see `ports`); it is started again on other ports if it cannot get them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::ChildGuard;
use super::dig::{dig_txt, launch_dns_server};
use super::ports::{PortReservation, start_on_fresh_ports};

/// The package's schema for the SQLite backend.
const SCHEMA: &str = "/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql";

pub struct PdnsServer {
    dir: PathBuf,
    dns_port: u16,
    api_port: u16,
    api_key: String,
    zones: Vec<String>,
    child: ChildGuard,
}

impl PdnsServer {
    /// Makes the database with `zones` (apex names) in `dir` and starts `pdns_server` on free ports,
    /// its API accepting a random key.
    pub fn start(dir: &Path, zones: &[&str]) -> PdnsServer {
        std::fs::create_dir_all(dir).unwrap();
        let mut key = [0u8; 24];
        rand::fill(&mut key);
        let api_key: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let mut pdns = PdnsServer {
            dir: dir.to_path_buf(),
            dns_port: 0,
            api_port: 0,
            api_key,
            zones: zones.iter().map(|z| (*z).to_owned()).collect(),
            child: ChildGuard::default(),
        };
        pdns.make_database();
        start_on_fresh_ports("pdns_server", || {
            let (dns, api) = (PortReservation::tcp_and_udp(), PortReservation::tcp());
            (pdns.dns_port, pdns.api_port) = (dns.port(), api.port());
            pdns.write_config();
            pdns.launch(dns, api)
        });
        pdns
    }

    fn write_config(&self) {
        let d = self.dir.display();
        let conf = format!(
            "launch=gsqlite3\n\
             gsqlite3-database={d}/pdns.db\n\
             local-address=127.0.0.1\n\
             local-port={dns}\n\
             api=yes\n\
             api-key={key}\n\
             webserver=yes\n\
             webserver-address=127.0.0.1\n\
             webserver-port={api}\n\
             webserver-allow-from=127.0.0.0/8\n\
             socket-dir={d}\n\
             guardian=no\n\
             daemon=no\n\
             loglevel=4\n",
            dns = self.dns_port,
            api = self.api_port,
            key = self.api_key,
        );
        std::fs::write(self.dir.join("pdns.conf"), conf).unwrap();
    }

    /// A new database from the package's schema, with each zone, its NS `ns1.<apex>` and that
    /// name's address, made by `pdnsutil` (which reads the same config).
    fn make_database(&self) {
        self.write_config();
        let db = self.dir.join("pdns.db");
        let _ = std::fs::remove_file(&db);
        let schema =
            std::fs::File::open(SCHEMA).expect("pdns-backend-sqlite3 is installed (./scripts/test installs it)");
        let status = Command::new("sqlite3")
            .arg(&db)
            .stdin(schema)
            .stdout(Stdio::null())
            .status()
            .expect("sqlite3 is installed (./scripts/test installs it)");
        assert!(status.success(), "sqlite3 could not load the pdns schema");
        for apex in &self.zones {
            self.pdnsutil(&["create-zone", apex, &format!("ns1.{apex}")]);
            self.pdnsutil(&["add-record", apex, "ns1", "A", "127.0.0.1"]);
        }
    }

    /// Runs `pdnsutil` on this server's config and database (works while it runs: SQLite).
    pub fn pdnsutil(&self, args: &[&str]) {
        let out = Command::new("pdnsutil")
            .arg(format!("--config-dir={}", self.dir.display()))
            .args(args)
            .output()
            .expect("pdnsutil is installed (pdns-server)");
        assert!(out.status.success(), "pdnsutil {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Starts pdns_server on its ports, held until it binds them; on failure it is stopped and the
    /// reason returned.
    fn launch(&mut self, mut dns: PortReservation, api: PortReservation) -> Result<(), String> {
        // UDP cannot be shared with the reservation: pdns gets it a moment before it starts.
        dns.release_udp();
        let apex = self.zones.first().cloned().unwrap_or_default();
        let mut pdns_server = Command::new("pdns_server");
        pdns_server.arg(format!("--config-dir={}", self.dir.display()));
        self.child = launch_dns_server(
            &mut pdns_server,
            &self.dir.join("pdns.log"),
            (dns, api),
            (&[self.dns_port, self.api_port], &[self.dns_port]),
            self.dns_addr(),
            &apex,
        )?;
        Ok(())
    }

    /// Where its DNS answers (the zone's one name server, as its NS records say, on this port).
    pub fn dns_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.dns_port))
    }

    /// The API's base URL as the `pdns` provider takes it (without `/api/v1`).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// TXT values at `name` as its DNS answers them (through `dig`, independent of our client).
    pub fn txt(&self, name: &str) -> Vec<String> {
        dig_txt(self.dns_addr(), name)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pdns.log")).unwrap_or_default()
    }
}
