//! A real Pebble (Let's Encrypt's test ACME CA, Debian `pebble`) on free loopback ports, resolving
//! challenges through a DNS server we name, with its own HTTPS certificate from a throw-away CA. Its
//! two listeners' ports are held for it until it listens (see `ports`); it is started again on other
//! ports if it cannot get them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::ports::{PortReservation, START_ATTEMPTS, wait_until_bound};
use super::{ChildGuard, make_tls_certificates};

#[derive(Debug, Clone)]
pub struct PebbleOptions {
    /// The DNS server Pebble looks challenges up in.
    pub dns: SocketAddr,
    /// External Account Binding keys (key id → base64url HMAC key); non-empty makes EAB required.
    pub eab_keys: Vec<(String, String)>,
    /// Lifetime of issued certificates; Pebble's default is five years.
    pub validity: Option<Duration>,
    /// Percentage of good nonces rejected with `badNonce` (Pebble's default is 5).
    pub nonce_reject_percent: u8,
    /// Every challenge passes without a lookup (`PEBBLE_VA_ALWAYS_VALID=1`): only for a provider
    /// that serves no DNS here (moto's Route 53), whose tests read the record back through its API.
    pub always_valid: bool,
}

impl PebbleOptions {
    pub fn new(dns: SocketAddr) -> Self {
        PebbleOptions { dns, eab_keys: Vec::new(), validity: None, nonce_reject_percent: 0, always_valid: false }
    }
}

pub struct Pebble {
    dir: PathBuf,
    port: u16,
    management_port: u16,
    options: PebbleOptions,
    child: ChildGuard,
    /// Log lines of earlier runs (a restart starts a new log file).
    earlier_logs: String,
}

impl Pebble {
    pub fn start(dir: &Path, options: PebbleOptions) -> Pebble {
        std::fs::create_dir_all(dir).unwrap();
        make_tls_certificates(&dir.join("tls"), "localhost", "IP:127.0.0.1,DNS:localhost");
        let mut pebble = Pebble {
            dir: dir.to_path_buf(),
            port: 0,
            management_port: 0,
            options,
            child: ChildGuard::default(),
            earlier_logs: String::new(),
        };
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let held = [PortReservation::tcp(), PortReservation::tcp()];
            (pebble.port, pebble.management_port) = (held[0].port(), held[1].port());
            match pebble.launch(held) {
                Ok(()) => return pebble,
                Err(e) => failures.push(e),
            }
        }
        panic!("pebble did not start on any of {START_ATTEMPTS} pairs of ports: {failures:#?}");
    }

    /// Starts Pebble on its two ports, held in `held` until it listens; on failure it is stopped
    /// and the reason returned.
    fn launch(&mut self, held: [PortReservation; 2]) -> Result<(), String> {
        let d = &self.dir;
        let eab: serde_json::Map<String, serde_json::Value> =
            self.options.eab_keys.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        let mut config = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{}", self.port),
            "managementListenAddress": format!("127.0.0.1:{}", self.management_port),
            "certificate": d.join("tls/server.pem"),
            "privateKey": d.join("tls/server.key"),
            // The ports Pebble's validator dials for http-01 and tls-alpn-01, which these tests never
            // use (DNS-01 only); nothing listens on them, so they need not be free.
            "httpPort": 5002,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": !eab.is_empty(),
            "externalAccountMACKeys": eab,
        });
        if let Some(validity) = self.options.validity {
            config["certificateValidityPeriod"] = validity.as_secs().into();
        }
        std::fs::write(d.join("pebble.json"), serde_json::json!({ "pebble": config }).to_string()).unwrap();
        if let Ok(previous) = std::fs::read_to_string(d.join("pebble.log")) {
            self.earlier_logs.push_str(&previous);
        }
        let log = std::fs::File::create(d.join("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .arg("-config")
            .arg(d.join("pebble.json"))
            .args(["-dnsserver", &self.options.dns.to_string(), "-strict=false"])
            // Deterministic and fast (../shared/notes/pebble-bind9.md): no random validation sleeps,
            // no authorization reuse, real validation unless `always_valid`.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_AUTHZREUSE", "0")
            .env("PEBBLE_VA_ALWAYS_VALID", if self.options.always_valid { "1" } else { "0" })
            .env("PEBBLE_WFE_NONCEREJECT", self.options.nonce_reject_percent.to_string())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("pebble is installed (./scripts/test installs pebble)");
        self.child = ChildGuard::new(child);
        let bound = wait_until_bound(&mut self.child, &[self.port, self.management_port], &[], Duration::from_secs(20));
        drop(held);
        bound.map_err(|e| {
            self.child.stop();
            format!("ports {} and {}: {e:?}: {}", self.port, self.management_port, self.log())
        })
    }

    pub fn directory_url(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The CA of Pebble's own HTTPS listener: what an ACME account must trust to talk to it.
    pub fn https_ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join("tls/ca.pem")).unwrap()
    }

    /// The root that issued certificates chain to (new on every start).
    pub fn issuing_root_pem(&self) -> String {
        self.management_get("/roots/0")
    }

    /// New orders placed since the first start (Pebble keeps no order list across accounts, but
    /// logs every request).
    pub fn orders_placed(&self) -> usize {
        let current = std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default();
        self.earlier_logs.lines().chain(current.lines()).filter(|l| l.contains("POST /order-plz")).count()
    }

    /// Certificates issued since the first start, from Pebble's own log line per issuance.
    pub fn certificates_issued(&self) -> usize {
        let current = std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default();
        self.earlier_logs.lines().chain(current.lines()).filter(|l| l.contains("Issued certificate serial")).count()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pebble.log")).unwrap_or_default()
    }

    fn management_get(&self, path: &str) -> String {
        let url = format!("https://127.0.0.1:{}{path}", self.management_port);
        let (status, body) = super::https_get(&url, &self.https_ca_pem()).expect("pebble management answers");
        assert!(status.starts_with("HTTP/1.1 200"), "pebble management {path}: {status}");
        body
    }

    pub fn is_running(&self) -> bool {
        self.child.is_running()
    }

    pub fn stop(&mut self) {
        self.child.stop();
    }

    /// Starts again on the same ports (accounts have its URL): waits out another process that holds
    /// one meanwhile, up to a deadline. Pebble keeps nothing: accounts, orders and roots are new.
    pub fn restart(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let held = [PortReservation::again(self.port), PortReservation::again(self.management_port)];
            match self.launch(held) {
                Ok(()) => return,
                Err(e) if std::time::Instant::now() >= deadline => panic!("pebble did not start again: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}
