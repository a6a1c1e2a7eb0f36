//! The Raft type configuration and the tiny replicated state: membership (kept by openraft itself)
//! and the fencing epoch, the term in which the current leader confirmed itself to a quorum.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

pub type NodeId = u64;
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// CertAutoPilot's Raft: node ids are numbers, nodes are addresses, commands are [`Command`].
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = Node,
        SnapshotData = Cursor<Vec<u8>>,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
pub type StorageError = openraft::StorageError<NodeId>;

/// What the state machine applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A new leader's first entry: once committed, a quorum has seen `node` lead in `term`, and
    /// only then does that node start its scheduler.
    Lead { node: NodeId, term: u64 },
}

/// The epoch the state machine holds after applying an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse {
    pub epoch: Option<Epoch>,
}

/// The fencing epoch: which node leads and in which term, as committed by a quorum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Epoch {
    pub term: u64,
    pub node: NodeId,
}
