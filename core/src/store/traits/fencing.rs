//! Scheduler fencing: a scheduler's writes carry its (term, node), and the store refuses a term
//! older than one it has already accepted.
//! Invariant: once a term has written, no write under an older term lands; taking over is itself a
//! write, so the term that wins is the one that fences.

use async_trait::async_trait;

use crate::model::{Fence, FenceRecord};
use crate::store::StoreError;

#[async_trait]
pub trait Fencing: Send + Sync + 'static {
    /// A scheduler's first write in its term: records it, or refuses with `Fenced` if a newer term
    /// has written. Taking over is a write, so the term that wins is the one that fences.
    async fn fence_claim(&self, fence: &Fence) -> Result<(), StoreError>;
    /// Every (term, node) whose scheduler writes were accepted, oldest term first.
    async fn fence_history(&self) -> Result<Vec<FenceRecord>, StoreError>;
}
