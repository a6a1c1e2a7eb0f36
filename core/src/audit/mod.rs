//! The audit chain (ARCHITECTURE.md §6; format in docs/audit.md): each organization's entries are
//! chained by `hmac = HMAC-SHA256(org_audit_secret, prev_hmac ‖ canonical_bytes(entry))`.
//! Invariant: entry n's `prev_hmac` is entry n−1's `hmac`, `seq` is gap-free from 1, and both are
//! decided inside the store's write transaction, so concurrent writers (also in other processes)
//! cannot fork the chain.

mod canonical;
mod chain;
mod verify;

pub use canonical::canonical_bytes;
pub use chain::{AuditDraft, BrokenLink, ChainHead, LinkFault, Verifier, VerifySummary, entry_hmac, seal_entry};
pub use verify::{VerifyError, verify_chain};
