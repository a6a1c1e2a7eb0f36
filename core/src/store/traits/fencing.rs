//! Scheduler fencing: a scheduler's writes carry its (term, node), and the store refuses a term
//! older than one it has already accepted.
//! Beside it, each scheduler's heartbeat, so every node can tell whether a scheduler is ticking.
//! Invariant: once a term has written, no write under an older term lands; taking over is itself a
//! write, so the term that wins is the one that fences.

use async_trait::async_trait;

use crate::model::{Fence, FenceRecord, SchedulerBeat};
use crate::store::StoreError;

#[async_trait]
pub trait Fencing: Send + Sync + 'static {
    /// A scheduler's first write in its term: records it, or refuses with `Fenced` if a newer term
    /// has written. Taking over is a write, so the term that wins is the one that fences.
    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Every (term, node) whose scheduler writes were accepted, oldest term first.
    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError>;
    /// Records a scheduler's heartbeat (one per node; a later beat replaces an earlier one). Not
    /// fenced: it claims nothing but that the node's scheduler ticked.
    async fn scheduler_beat(&self, beat: &SchedulerBeat) -> Result<(), StoreError>;
    /// The newest heartbeat of any node, if a scheduler ever ticked.
    async fn last_scheduler_beat(&self) -> Result<Option<SchedulerBeat>, StoreError>;
}
