//! A cluster of real `certautopilot serve` processes on loopback, each in a host directory of its
//! own (`host.rs`), on SQLite (one store file on this host) or MongoDB (a store server of the
//! harness's own, reached by each node through its own proxy), with Pebble and BIND 9 for real
//! issuance and the fault-injecting proxy between the nodes; optionally worker-only nodes on a
//! second "host" (127.0.0.2, no `[cluster]`). Formed the way an operator forms one (`cluster certs`,
//! `cluster init`, `cluster join`); every process it started is killed when it is dropped.

use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certautopilot_connectors::testsupport::{AcmeEnv, AcmeEnvOptions, DELEGATED_ZONE, PortReservation, ZONE};
use certautopilot_core::model::FenceRecord;
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};
use serde_json::{Value, json};

use crate::host::{Host, NodeCluster, NodeStore, write_config};
use crate::http::{ApiClient, try_http_request};
use crate::proxy::{Network, source_address};
use crate::store_proxy::StoreLinks;
use crate::store_view::{StoreLocation, StoreView};

/// The loopback address of the second "host", where worker-only nodes listen.
pub const SECOND_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// The database the MongoDB-backed nodes use on the harness's own server.
const DATABASE: &str = "certautopilot";

/// A loopback port for a node's listener, held by the harness for the cluster's whole life: bound
/// with SO_REUSEADDR and never listening, so no other bind to port 0 and no outgoing connection on the
/// machine gets it, while the node's own listeners (actix and tokio set SO_REUSEADDR) bind it at every
/// start and restart.
fn reserve_port(held: &mut Vec<PortReservation>) -> u16 {
    let reservation = PortReservation::tcp();
    let port = reservation.port();
    held.push(reservation);
    port
}

/// Fast timers for tests: quick polling, short leases and backoffs, a renewal scan every second.
pub const FAST: &[(&str, &str)] = &[
    ("CERTAUTOPILOT_ISSUANCE__POLL_INITIAL_MS", "10"),
    ("CERTAUTOPILOT_ISSUANCE__POLL_MAX_MS", "200"),
    ("CERTAUTOPILOT_ISSUANCE__ACME_TIMEOUT_SECS", "5"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_PROPAGATION_TIMEOUT_SECS", "10"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_QUERY_TIMEOUT_MS", "500"),
    ("CERTAUTOPILOT_ISSUANCE__RENEWAL_SCAN_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_BASE_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_MAX_SECS", "2"),
    ("CERTAUTOPILOT_JOBS__LEASE_SECS", "4"),
    ("CERTAUTOPILOT_JOBS__HEARTBEAT_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__POLL_INTERVAL_MS", "200"),
    ("CERTAUTOPILOT_API__SHUTDOWN_GRACE_SECS", "3"),
];

pub struct Options {
    /// The `certautopilot` binary under test: the one cargo built for the calling test
    /// (`env!("CARGO_BIN_EXE_certautopilot")`), never a guess at `target/<profile>/`.
    pub binary: PathBuf,
    pub nodes: u64,
    /// Lifetime of Pebble's certificates: renewal windows open half-way through it (ten days or less, `core::model::renewal`).
    pub validity: Duration,
    /// Extra environment for every node (failpoints, timers).
    pub env: Vec<(String, String)>,
    pub backend: Backend,
    /// Worker-only nodes (`serve --mode worker`, no `[cluster]`) on the second host, after the
    /// cluster's nodes: ids `nodes + 1 ..`.
    pub workers: u64,
    /// What the cluster's nodes run: `all`, or `api` to leave every job to the workers.
    pub cluster_mode: &'static str,
}

impl Options {
    /// `nodes` nodes running everything, on `backend`, with no extra environment and no worker.
    pub fn new(binary: PathBuf, nodes: u64, backend: Backend, validity: Duration) -> Options {
        Options { binary, nodes, validity, env: Vec::new(), backend, workers: 0, cluster_mode: "all" }
    }
}

/// Which store the cluster runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Mongodb,
}

impl Backend {
    /// `CHAOS_STORE=mongodb` or `sqlite` (the default), for the benchmark.
    pub fn from_env() -> Backend {
        match std::env::var("CHAOS_STORE").as_deref() {
            Ok("mongodb") => Backend::Mongodb,
            Ok("sqlite") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("CHAOS_STORE={other}: expected sqlite or mongodb"),
        }
    }
}

pub struct Node {
    pub id: u64,
    /// `node-<id>` for the cluster's nodes, `worker-<id>` for worker-only ones (its leases' owner).
    pub name: String,
    pub api: SocketAddr,
    /// `None` for a worker-only node (not in the Raft group).
    pub cluster_port: Option<u16>,
    pub config: PathBuf,
    pub host: Host,
    mode: &'static str,
    log: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on a child this harness started and has not reaped.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub env: AcmeEnv,
    pub network: Network,
    pub nodes: Vec<Node>,
    pub backend: Backend,
    /// The MongoDB server (the harness's own: scenarios kill it) and each node's proxy to it.
    mongo: Option<MongoServer>,
    store_links: Option<StoreLinks>,
    location: StoreLocation,
    /// Opened at the first check and kept (reopened after a failure: the store may have been down).
    view: Mutex<Option<Arc<StoreView>>>,
    token: Option<String>,
    extra_env: Vec<(String, String)>,
    binary: PathBuf,
    /// The nodes' API and cluster ports, held (see `reserve_port`).
    held: Vec<PortReservation>,
}

impl Cluster {
    /// Starts Pebble, BIND, the store server (MongoDB), the proxies and `nodes` processes, forms
    /// the cluster with the CLI, sets the organization up, then starts the workers.
    pub fn start(options: Options) -> Cluster {
        let dir = tempfile::tempdir().expect("temporary directory");
        let env = AcmeEnv::start(
            &dir.path().join("acme"),
            AcmeEnvOptions { validity: Some(options.validity), ..AcmeEnvOptions::default() },
        );
        let ids: Vec<u64> = (1..=options.nodes).collect();
        let all_ids: Vec<u64> = (1..=options.nodes + options.workers).collect();
        assert!(options.binary.exists(), "the binary under test {} is missing", options.binary.display());
        let mut held = Vec::new();
        let backends: Vec<(u64, u16)> = ids.iter().map(|&id| (id, reserve_port(&mut held))).collect();
        let network = Network::start(&backends);
        let (mongo, store_links, location) = match options.backend {
            Backend::Sqlite => (None, None, StoreLocation::Sqlite(dir.path().join("store.db"))),
            Backend::Mongodb => {
                // The scenarios SIGKILL the server and expect acknowledged writes to survive, as they
                // do on mongod (see `sync_on_commit`).
                let server = MongoServer::start(
                    &dir.path().join("mongo"),
                    MongoServerOptions { sync_on_commit: true, ..MongoServerOptions::default() },
                );
                let links = StoreLinks::start(&all_ids, SocketAddr::from(([127, 0, 0, 1], server.port())));
                let location = StoreLocation::Mongodb { uri: server.uri(), database: DATABASE.into() };
                (Some(server), Some(links), location)
            }
        };
        let mut cluster = Cluster {
            dir,
            env,
            network,
            nodes: Vec::new(),
            backend: options.backend,
            mongo,
            store_links,
            location,
            view: Mutex::new(None),
            token: None,
            extra_env: options.env,
            binary: options.binary,
            held,
        };
        // The operator's workstation: the cluster CA and every node's certificate, from which each
        // host gets its own three files.
        let certs = cluster.dir.path().join("cluster-ca");
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        cluster.run_ok(None, &["cluster", "certs", "--out", certs.to_str().unwrap(), "--node", &list]);
        for &(id, port) in &backends {
            let node = cluster.write_node(id, Some(port), options.cluster_mode);
            for (from, to) in [
                ("ca.pem".to_owned(), "ca.pem"),
                (format!("node-{id}.pem"), "node.pem"),
                (format!("node-{id}.key"), "node.key"),
            ] {
                std::fs::copy(certs.join(from), node.host.tls(to)).expect("install the node's TLS files");
            }
            cluster.nodes.push(node);
        }
        for id in options.nodes + 1..=options.nodes + options.workers {
            let node = cluster.write_node(id, None, "worker");
            cluster.nodes.push(node);
        }
        cluster.run_ok(Some(1), &["kek", "init"]);
        for node in &cluster.nodes[1..] {
            std::fs::copy(cluster.nodes[0].host.kek(), node.host.kek()).expect("install the KEK on the host");
        }

        cluster.launch(1);
        cluster.wait_ready(1);
        cluster.run_ok(Some(1), &["cluster", "init"]);
        let setup =
            json!({ "org_name": "Acme", "email": "owner@acme.test", "password": "correct horse battery staple" });
        let mut client = ApiClient { addr: cluster.node(1).api, token: None };
        client.ok("POST", "/api/v1/setup", Some(setup), 201);
        client.login();
        cluster.token = client.token;
        let leader = cluster.network.front(1).to_string();
        for id in 2..=options.nodes {
            cluster.launch(id);
            cluster.wait_ready(id);
            cluster.run_ok(Some(id), &["cluster", "join", "--leader", &leader]);
        }
        cluster.wait_until("every node a voter", Duration::from_secs(30), |c| {
            c.status(1).is_some_and(|s| s["voters"].as_array().map(Vec::len) == Some(options.nodes as usize))
        });
        for id in options.nodes + 1..=options.nodes + options.workers {
            cluster.launch(id);
            cluster.wait_ready(id);
        }
        cluster
    }

    /// Node `id`'s host directory and configuration: a cluster member if it has a cluster port,
    /// else a worker-only node on the second host.
    fn write_node(&mut self, id: u64, cluster_port: Option<u16>, mode: &'static str) -> Node {
        let (name, ip) = match cluster_port {
            Some(_) => (format!("node-{id}"), IpAddr::V4(Ipv4Addr::LOCALHOST)),
            None => (format!("worker-{id}"), SECOND_HOST),
        };
        let api = SocketAddr::new(ip, reserve_port(&mut self.held));
        let host = Host::new(self.dir.path(), &format!("host-{id}"));
        let store = match (&self.location, &self.store_links) {
            (StoreLocation::Mongodb { database, .. }, Some(links)) => {
                NodeStore::Mongodb { front: links.front(id), database: database.clone() }
            }
            (StoreLocation::Sqlite(path), _) => NodeStore::Sqlite(path.clone()),
            (StoreLocation::Mongodb { .. }, None) => unreachable!("a MongoDB cluster has its store links"),
        };
        let cluster = cluster_port.map(|listen_port| NodeCluster {
            node_id: id,
            listen_port,
            advertise: self.network.front(id),
            source: source_address(id),
        });
        write_config(&host, &name, api, &store, cluster.as_ref());
        Node {
            id,
            name,
            api,
            cluster_port,
            config: host.config(),
            log: host.log(),
            host,
            mode,
            child: None,
            paused: false,
        }
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[(id - 1) as usize]
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[(id - 1) as usize]
    }

    fn command(&self, id: Option<u64>) -> Command {
        let mut cmd = Command::new(&self.binary);
        // A node's CLI runs on its host; the operator's commands at the top.
        cmd.current_dir(id.map_or(self.dir.path(), |id| self.node(id).host.root.as_path()));
        for (key, _) in std::env::vars() {
            if key.starts_with("CERTAUTOPILOT_") || key == "RUST_LOG" || key == "FAILPOINTS" {
                cmd.env_remove(key);
            }
        }
        if let Some(id) = id {
            cmd.arg("--config").arg(&self.node(id).config);
        }
        cmd
    }

    /// Runs a CLI command with node `id`'s configuration.
    pub fn run(&self, id: Option<u64>, args: &[&str]) -> Output {
        self.command(id).args(args).output().expect("run certautopilot")
    }

    pub fn run_ok(&self, id: Option<u64>, args: &[&str]) -> String {
        let out = self.run(id, args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "certautopilot {args:?} failed: {text}{}", String::from_utf8_lossy(&out.stderr));
        text
    }

    /// Starts node `id`'s process (again); its log appends to `node-<id>.log`.
    pub fn launch(&mut self, id: u64) {
        let node = self.node(id);
        assert!(node.child.is_none(), "node {id} is already running");
        let log = OpenOptions::new().create(true).append(true).open(&node.log).unwrap();
        let mut cmd = self.command(Some(id));
        cmd.args(["serve", "--log-format", "json", "--mode", node.mode])
            .envs(FAST.iter().copied())
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("start certautopilot serve");
        let node = self.node_mut(id);
        node.child = Some(child);
        node.paused = false;
    }

    /// Waits for `/readyz`; a process that exits meanwhile fails the test with its log.
    pub fn wait_ready(&mut self, id: u64) {
        let start = Instant::now();
        loop {
            if try_http_request(self.node(id).api, "GET", "/readyz", &[], None) == Some(200) {
                return;
            }
            let exited = self.node_mut(id).child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            assert!(exited.is_none(), "node {id} exited ({exited:?}) before it was ready\n{}", self.diagnostics());
            assert!(start.elapsed() < Duration::from_secs(30), "node {id} not ready in 30 s\n{}", self.diagnostics());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn restart(&mut self, id: u64) {
        self.launch(id);
        self.wait_ready(id);
    }

    /// SIGKILL: no shutdown, no lease released, no goodbye to the peers.
    pub fn kill(&mut self, id: u64) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            if node.paused {
                // SAFETY: as in `Node::signal`.
                unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    pub fn pause(&mut self, id: u64) {
        self.node(id).signal(libc::SIGSTOP);
        self.node_mut(id).paused = true;
    }

    pub fn resume(&mut self, id: u64) {
        self.node(id).signal(libc::SIGCONT);
        self.node_mut(id).paused = false;
    }

    /// Nodes the harness started that have exited on their own (not killed by the harness).
    pub fn exited_nodes(&mut self) -> Vec<u64> {
        let mut exited = Vec::new();
        for node in &mut self.nodes {
            if node.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some()) {
                exited.push(node.id);
            }
        }
        exited
    }

    pub fn running(&self) -> Vec<u64> {
        self.nodes.iter().filter(|n| n.child.is_some() && !n.paused).map(|n| n.id).collect()
    }

    /// A client of node `id`'s API, signed in as the owner.
    pub fn client(&self, id: u64) -> ApiClient {
        ApiClient { addr: self.node(id).api, token: self.token.clone() }
    }

    /// A client of any running node.
    pub fn any_client(&self) -> ApiClient {
        self.client(*self.running().first().expect("a running node"))
    }

    /// Node `id`'s view of the cluster, or `None` if it does not answer.
    pub fn status(&self, id: u64) -> Option<Value> {
        let node = self.node(id);
        if node.child.is_none() || node.paused {
            return None;
        }
        let (status, body) = self.client(id).try_call("GET", "/api/v1/cluster/status")?;
        (status == 200).then(|| body["status"].clone())
    }

    /// The running nodes whose scheduler is active, with their terms.
    pub fn active_schedulers(&self) -> Vec<(u64, u64)> {
        self.running()
            .into_iter()
            .filter_map(|id| self.status(id))
            .filter(|s| s["scheduler_active"] == true)
            .map(|s| (s["node_id"].as_u64().unwrap(), s["term"].as_u64().unwrap()))
            .collect()
    }

    /// Waits until exactly one running node schedules, in a term newer than `after`, and the store
    /// has accepted that term's claim. Returns (node, term).
    pub fn wait_for_scheduler(&self, after: u64, deadline: Duration) -> (u64, u64) {
        let mut found = None;
        self.wait_until("a new active scheduler", deadline, |c| {
            let active = c.active_schedulers();
            found = match active.as_slice() {
                [(id, term)]
                    if *term > after && c.try_fence_terms().is_some_and(|f| f.iter().any(|f| f.term == *term)) =>
                {
                    Some((*id, *term))
                }
                _ => None,
            };
            found.is_some()
        });
        found.unwrap()
    }

    pub fn wait_until(&self, what: &str, deadline: Duration, mut done: impl FnMut(&Cluster) -> bool) {
        let start = Instant::now();
        while !done(self) {
            assert!(start.elapsed() < deadline, "{what}: not within {deadline:?}\n{}", self.diagnostics());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Statuses of the running nodes and the tail of each log, for a failed assertion.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            out.push_str(&format!("node {} status: {:?}\n", node.id, self.status(node.id)));
            let log = std::fs::read_to_string(&node.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            for line in tail.into_iter().rev() {
                out.push_str(&format!("  {line}\n"));
            }
        }
        out
    }

    /// A project with an ACME account at Pebble and BIND as its DNS credential, then `count`
    /// certificates requested. Returns their ids.
    pub fn request_certificates(&self, count: usize) -> Vec<String> {
        let c = self.any_client();
        let project = c.ok("POST", "/api/v1/projects", Some(json!({ "name": "chaos" })), 201);
        let pid = project["id"].as_str().unwrap().to_owned();
        let account = c.ok(
            "POST",
            "/api/v1/acme-accounts",
            Some(json!({ "project_id": pid, "name": "pebble", "directory_url": self.env.pebble.directory_url(),
                "contact": ["mailto:ops@acme.test"], "tos_agreed": true,
                "ca_bundle_pem": self.env.pebble.https_ca_pem() })),
            201,
        );
        bind_zones(&c, &self.env, &pid, &[]);
        (0..count)
            .map(|i| {
                let body = json!({ "project_id": pid, "acme_account_id": account["id"], "common_name": format!("c{i}.{ZONE}"),
                    "key_type": "ecdsa-p256" });
                let created = c.ok("POST", "/api/v1/certificates", Some(body), 202);
                created["certificate"]["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    /// The harness's view of the store (opened once, reopened after a failure). `Err` while the
    /// store cannot be reached.
    pub fn try_view(&self) -> Result<Arc<StoreView>, String> {
        let mut view = self.view.lock().unwrap();
        if let Some(view) = view.as_ref() {
            return Ok(view.clone());
        }
        let opened = Arc::new(StoreView::open(&self.location)?);
        *view = Some(opened.clone());
        Ok(opened)
    }

    /// The view, for checks made while the store is up: a failure to reach it fails the test.
    pub fn view(&self) -> Arc<StoreView> {
        self.try_view().unwrap_or_else(|e| panic!("cannot open the store: {e}\n{}", self.diagnostics()))
    }

    /// The fence history, or `None` while the store cannot be read (for polling through faults).
    pub fn try_fence_terms(&self) -> Option<Vec<FenceRecord>> {
        let view = self.try_view().ok()?;
        view.fence_history().ok()
    }

    pub fn fence_terms(&self) -> Vec<FenceRecord> {
        self.view().fence_history().unwrap_or_else(|e| panic!("fence history: {e}\n{}", self.diagnostics()))
    }

    /// The files in node `id`'s data directory (names, sorted): what the node keeps on its host.
    pub fn data_files(&self, id: u64) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.node(id).host.data())
            .map(|dir| dir.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Each node's proxy to the store (MongoDB clusters only).
    pub fn store_links(&self) -> &StoreLinks {
        self.store_links.as_ref().expect("store links exist on a MongoDB cluster only")
    }

    /// SIGKILLs the store server (MongoDB clusters only): no shutdown, as a crash.
    pub fn kill_store(&mut self) {
        self.mongo.as_mut().expect("a MongoDB cluster").kill();
    }

    /// Starts the store server again on its port with its data.
    pub fn restart_store(&mut self) {
        self.mongo.as_mut().expect("a MongoDB cluster").restart();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        for id in ids {
            self.kill(id);
        }
        // The whole logs, for reading a failure after the temporary directory is gone.
        if let Ok(keep) = std::env::var("CAP_CHAOS_KEEP") {
            for node in &self.nodes {
                let _ = std::fs::copy(&node.log, format!("{keep}/node-{}.log", node.id));
            }
            let _ = std::fs::copy(self.dir.path().join("mongo/server.log"), format!("{keep}/mongo.log"));
        }
    }
}

/// BIND as the project's RFC 2136 credential (checking visibility at `nameservers`, or at the NS
/// records when empty) and both test zones on it.
pub fn bind_zones(c: &ApiClient, env: &AcmeEnv, pid: &str, nameservers: &[String]) {
    let key = env.bind.key();
    let credential = c.ok(
        "POST",
        "/api/v1/dns-credentials",
        Some(json!({ "project_id": pid, "name": "bind", "provider": "rfc2136", "config": {
            "server": env.bind.addr().to_string(), "key_name": key.name, "algorithm": key.algorithm, "secret": key.secret,
            "nameservers": nameservers } })),
        201,
    );
    for apex in [ZONE, DELEGATED_ZONE] {
        c.ok(
            "POST",
            "/api/v1/zones",
            Some(json!({ "project_id": pid, "apex": apex, "credential_id": credential["id"] })),
            201,
        );
    }
}
