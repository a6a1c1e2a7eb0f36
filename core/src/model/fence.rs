//! Fencing tokens for the single-active scheduler (ARCHITECTURE.md §7). The cluster's Raft term is
//! the token: the store accepts a scheduler write only if its term is at least the newest term it
//! has accepted, so a paused or cut-off old leader that wakes up changes nothing.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The term a scheduler write was made under, and the node that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fence {
    pub term: u64,
    pub node: String,
}

impl Fence {
    pub fn new(term: u64, node: impl Into<String>) -> Self {
        Fence { term, node: node.into() }
    }
}

/// What the store has accepted from one node in one term: the record the chaos tests read to prove
/// there never were two schedulers in a term, and the failover benchmark reads for its timings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceRecord {
    pub term: u64,
    pub node: String,
    pub first_write_at: Timestamp,
    pub last_write_at: Timestamp,
    pub writes: u64,
}

/// A scheduler's heartbeat: the node whose scheduler ticked, under which term (`None`: a process
/// scheduling alone), and when. Every API node compares the newest with its threshold to tell
/// whether anything is scheduling renewals at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerBeat {
    pub node: String,
    pub term: Option<u64>,
    pub at: Timestamp,
}
