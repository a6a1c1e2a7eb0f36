//! A node's "host": a directory of its own holding its configuration, its KEK file, its cluster TLS
//! files, its data directory (Raft log) and its log, written the way an operator would lay out a
//! machine. Invariant: a node's configuration names no file outside its own host directory, except
//! the SQLite store file (the single-host backend, shared by definition); on MongoDB the nodes
//! share nothing but the store's address and the cluster CA (a copy in each host).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// The paths of one host directory.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
}

impl Host {
    pub fn new(cluster_dir: &Path, name: &str) -> Host {
        let root = cluster_dir.join(name);
        std::fs::create_dir_all(root.join("tls")).expect("host directory");
        Host { root }
    }

    pub fn config(&self) -> PathBuf {
        self.root.join("node.toml")
    }

    pub fn log(&self) -> PathBuf {
        self.root.join("node.log")
    }

    /// The KEK file. Every node needs the same key material to open what another node sealed, and
    /// the file is per-node configuration (like a PKCS#11 token on each machine): the operator
    /// installs a copy on each host, so each node reads its own copy and no file is shared.
    pub fn kek(&self) -> PathBuf {
        self.root.join("kek.json")
    }

    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn tls(&self, file: &str) -> PathBuf {
        self.root.join("tls").join(file)
    }
}

/// Where a node's store is, as its configuration says.
#[derive(Debug, Clone)]
pub enum NodeStore {
    Sqlite(PathBuf),
    /// The node's own proxy to the server: `directConnection=true`, so the driver stays on the
    /// address it was given instead of discovering the replica set member's real address (which
    /// would bypass the proxy and make a cut link impossible).
    Mongodb {
        front: SocketAddr,
        database: String,
    },
}

/// A node's part in the Raft group, if it has one (a worker-only node has none).
#[derive(Debug, Clone)]
pub struct NodeCluster {
    pub node_id: u64,
    pub listen_port: u16,
    pub advertise: SocketAddr,
    pub source: IpAddr,
}

/// Writes `host`'s configuration: node `name`, its API on `api`, its store, and `[cluster]` if any.
pub fn write_config(host: &Host, name: &str, api: SocketAddr, store: &NodeStore, cluster: Option<&NodeCluster>) {
    let store = match store {
        NodeStore::Sqlite(path) => format!("[store.sqlite]\npath = \"{}\"\n", path.display()),
        NodeStore::Mongodb { front, database } => format!(
            "[store]\nbackend = \"mongodb\"\n\n[store.mongodb]\nuri = \"mongodb://{front}/?directConnection=true\"\n\
             database = \"{database}\"\n"
        ),
    };
    let cluster = cluster.map_or(String::new(), |c| {
        format!(
            r#"
[cluster]
node_id = {id}
listen = "127.0.0.1:{port}"
advertise = "{advertise}"
source_address = "{source}"
ca_path = "{ca}"
cert_path = "{cert}"
key_path = "{key}"
"#,
            id = c.node_id,
            port = c.listen_port,
            advertise = c.advertise,
            source = c.source,
            ca = host.tls("ca.pem").display(),
            cert = host.tls("node.pem").display(),
            key = host.tls("node.key").display(),
        )
    });
    let text = format!(
        r#"[node]
id = "{name}"
data_dir = "{data}"

[api]
listen = "{api}"

[metrics]
enabled = false

{store}
[kek]
provider = "file"
file_path = "{kek}"

# Pebble, BIND and the receivers run on loopback; the service refuses loopback unless told.
[egress]
allow_loopback = true
{cluster}"#,
        data = host.data().display(),
        kek = host.kek().display(),
    );
    std::fs::write(host.config(), text).expect("write the node's configuration");
}
