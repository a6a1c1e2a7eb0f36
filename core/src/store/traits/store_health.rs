//! The store's own health: its consistency check, and whether it can take writes right now.
//! Invariant: `write_health` costs no I/O (it reports what the last writes found, so probes and
//! scrapes may call it freely); only `probe_writable` touches storage, and readiness calls it only
//! while writes are being refused (issue 16, item 6).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;

use crate::store::{NotWritableReason, StoreError};

/// What the store's recent writes found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteHealth {
    /// False from a write refused for lack of storage until a write or a probe succeeds again.
    pub writable: bool,
    /// Writes refused because the storage was full, since the store was opened.
    pub full_failures: u64,
    /// Writes refused because the storage was read-only, since the store was opened.
    pub read_only_failures: u64,
}

#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// The backend's own consistency check (SQLite's `PRAGMA integrity_check`).
    async fn integrity_check(&self) -> Result<(), StoreError>;
    /// Whether the last write (or probe) found room to write, and how many writes storage refused.
    fn write_health(&self) -> WriteHealth;
    /// Tries a small write to the store's storage, never to its data: `Ok` once there is room
    /// again (the store is then reported writable), `NotWritable` while there is not.
    async fn probe_writable(&self) -> Result<(), StoreError>;
    /// How many times this store object has gone to its database since it opened, by operation
    /// (`store::RoundTrips`): SQLite statements by verb, MongoDB commands by name.
    fn round_trips(&self) -> std::collections::BTreeMap<String, u64>;
}

/// Write outcomes as a backend sees them, kept for `write_health`: lock-free, so every write can
/// report to it. A backend calls `observe` with the result of each write it commits or fails.
#[derive(Debug)]
pub struct WriteHealthTracker {
    writable: AtomicBool,
    full: AtomicU64,
    read_only: AtomicU64,
}

impl Default for WriteHealthTracker {
    fn default() -> Self {
        WriteHealthTracker { writable: AtomicBool::new(true), full: AtomicU64::new(0), read_only: AtomicU64::new(0) }
    }
}

impl WriteHealthTracker {
    /// Takes note of one write's result. Only storage refusals and successes say anything about
    /// writability; a conflict or a validation error leaves it as it was.
    pub fn observe<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.mark_writable(),
            Err(StoreError::NotWritable { reason, detail }) => {
                let counter = match reason {
                    NotWritableReason::Full => &self.full,
                    NotWritableReason::ReadOnly => &self.read_only,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if self.writable.swap(false, Ordering::SeqCst) {
                    // Once per outage, not once per refused write: the refusals are counted above.
                    tracing::error!(
                        reason = reason.as_str(),
                        detail = %detail,
                        "store cannot write: storage is full or read-only; reads go on, writes resume once it takes writes again"
                    );
                }
            }
            Err(_) => {}
        }
    }

    /// A write or a probe went through: storage takes writes again.
    pub fn mark_writable(&self) {
        if !self.writable.swap(true, Ordering::SeqCst) {
            tracing::info!("store writable again");
        }
    }

    pub fn snapshot(&self) -> WriteHealth {
        WriteHealth {
            writable: self.writable.load(Ordering::SeqCst),
            full_failures: self.full.load(Ordering::Relaxed),
            read_only_failures: self.read_only.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> StoreError {
        StoreError::NotWritable { reason: NotWritableReason::Full, detail: "database or disk is full".into() }
    }

    /// A refusal for lack of space makes the store unwritable and counts; a conflict changes
    /// nothing; the next success makes it writable again and keeps the count.
    #[test]
    fn refusals_count_and_a_success_recovers() {
        let tracker = WriteHealthTracker::default();
        assert!(tracker.snapshot().writable);
        tracker.observe::<()>(&Err(full()));
        tracker.observe::<()>(&Err(full()));
        assert_eq!(tracker.snapshot(), WriteHealth { writable: false, full_failures: 2, read_only_failures: 0 });
        tracker.observe::<()>(&Err(StoreError::Busy));
        assert!(!tracker.snapshot().writable, "a busy store says nothing about space");
        tracker.observe(&Ok(()));
        assert_eq!(tracker.snapshot(), WriteHealth { writable: true, full_failures: 2, read_only_failures: 0 });
    }
}
