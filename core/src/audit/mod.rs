//! The audit chain (ARCHITECTURE.md §6; format in docs/audit.md): each organization's entries are
//! chained by `hmac = HMAC-SHA256(org_audit_secret, prev_hmac ‖ canonical_bytes(entry))`.
//! Invariant: entry n's `prev_hmac` is entry n−1's `hmac` and `seq` is gap-free from 1. State
//! changes write their events to an outbox; `ChainWriter` (the AuditActor's) chains them, and the
//! store checks the head in the same transaction, so writers in several processes cannot fork it.

mod archive;
mod canonical;
mod chain;
mod mark;
mod verify;
mod writer;

pub use archive::{
    ArchiveBreak, ArchiveSummary, Checkpoint, SEGMENT_FORMAT, SegmentEnd, SegmentFooter, SegmentWriter, file_sha256,
    segment_name, segment_starting_at, verify_archives,
};
pub use canonical::canonical_bytes;
pub use chain::{AuditDraft, BrokenLink, ChainHead, LinkFault, Verifier, VerifySummary, entry_hmac, seal_entry};
pub use mark::VerifiedMark;
pub use verify::{FromMark, VerifyError, record_mark, verify_chain, verify_chain_links, verify_from_mark};
pub use writer::{
    ChainWriter, DRAIN_BATCH, PendingAudit, UNREADABLE_ACTION, UnreadableDraft, WriterStats, pending_count,
};
