//! The cluster: an openraft group whose leader runs the single-active scheduler (ARCHITECTURE.md §7).
//! It elects, fences and keeps membership; it knows nothing of certificates. The rest of the system
//! sees a [`Leadership`] watch and puts its term on every scheduler write as the fencing token.

// openraft's StorageError (over 200 bytes) is what its storage traits return; our helpers return it
// unboxed too rather than box and unbox it at every trait boundary.
#![allow(clippy::result_large_err)]

pub mod admin;
pub mod certs;
mod node;
pub mod storage;
pub mod transport;
pub mod types;

pub use admin::{AdminError, AdminRequest, AdminResponse, ClusterStatus};
pub use node::{ClusterNode, Leadership};
pub use transport::{Connector, TlsIdentity, TransportError, TransportStats};
pub use types::{Epoch, NodeId};

/// Everything a node needs to take part: the validated `[cluster]` section.
pub use certautopilot_config::ClusterConfig as ClusterSettings;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster request: {0}")]
    Invalid(String),
    #[error("cluster TLS: {0}")]
    Tls(String),
    #[error("raft storage: {0}")]
    Storage(Box<types::StorageError>),
    #[error("raft database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cluster transport: {0}")]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Admin(AdminError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}
