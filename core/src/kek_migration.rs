//! KEK migration: move every sealed value from the previous KEK provider (`[kek.previous]`) to the
//! configured one (`kek migrate`), in batches, beside a running service, then prove it by opening
//! every data key under the new provider alone. Only wrapped data keys change, never the data.
//!
//! Resumable without extra state, like rotation: the migration's target is a version of the new
//! provider numbered above every version the store or the previous provider uses, so rows below
//! it are the work left. A run finds that version if an earlier (killed) run made it, else makes it.
//! The previous provider keeps its keys until `kek retire --previous`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::crypto::{Envelope, WrappedDek, field_aad};
use crate::kek_rotation::{RotationError, RotationProgress, rewrap_below};
use crate::store::{SealedRow, Store, StoreError};

/// Data keys checked per call to the KEK provider during verification.
const VERIFY_BATCH: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The provider moved away from, and the one moved to (secret-free descriptions).
    pub from: String,
    pub to: String,
    pub target_version: u32,
    /// Whether this run created the target version (false: it resumed an interrupted migration).
    pub created_version: bool,
    pub rewrapped: u64,
    /// Values changed by someone else between read and write (already under the new provider).
    pub skipped: u64,
    /// Data keys opened under the new provider alone at the end: every sealed value in the store.
    pub verified: u64,
    pub elapsed: Duration,
    pub usage_after: BTreeMap<u32, u64>,
}

/// Migrates every sealed value to the current provider of `envelope`'s KEK ring; `pause` is awaited
/// after each batch (a failpoint in crash tests).
pub async fn migrate<F: std::future::Future<Output = ()>>(
    store: &dyn Store,
    envelope: &Envelope,
    batch: usize,
    progress: impl FnMut(&RotationProgress),
    pause: impl FnMut() -> F,
) -> Result<MigrationReport, RotationError> {
    let started = Instant::now();
    let kek = envelope.kek();
    let (from, previous_versions) = kek.previous().ok_or(RotationError::NoPrevious)?;
    let to = current_description(&kek.describe());
    let usage = store.kek_usage().await?;
    let highest_previous = previous_versions.iter().max().copied().unwrap_or(0);
    let current = kek.current_version();
    // A current version above everything the previous provider holds and the store uses was made
    // by an earlier run of this migration (or by a rotation after it): continue toward it.
    let (target, created_version) = if current > highest_previous && usage.keys().all(|v| *v <= current) {
        (current, false)
    } else {
        let floor = usage.keys().max().copied().unwrap_or(0).max(highest_previous);
        let next = kek.create_version_above(floor)?;
        tracing::info!(version = next, from = %from, to = %to, "created KEK version for the migration");
        (next, true)
    };
    let total: u64 = usage.iter().filter(|(v, _)| **v < target).map(|(_, n)| *n).sum();
    let moved = rewrap_below(store, envelope, target, total, batch, started, progress, pause).await?;
    let verified = verify_all(store, envelope).await?;
    let usage_after = store.kek_usage().await?;
    tracing::info!(
        target = "kek.migrated",
        version = target,
        rewrapped = moved.done,
        verified,
        "kek migration complete"
    );
    Ok(MigrationReport {
        from,
        to,
        target_version: target,
        created_version,
        rewrapped: moved.done,
        skipped: moved.skipped,
        verified,
        elapsed: started.elapsed(),
        usage_after,
    })
}

/// The ring describes itself as `current (previous: …)`; the report names the two apart.
fn current_description(ring: &str) -> String {
    ring.split(" (previous: ").next().unwrap_or(ring).to_owned()
}

/// Opens every data key in the store under the current provider alone, a page at a time; the
/// first failure is reported with the number that failed.
async fn verify_all(store: &dyn Store, envelope: &Envelope) -> Result<u64, RotationError> {
    let mut after = None;
    let (mut verified, mut failed) = (0u64, 0u64);
    let mut first_failure: Option<(SealedRow, String)> = None;
    loop {
        let rows = store.sealed_after(after.clone(), VERIFY_BATCH).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.key.clone());
        let kek = envelope.kek().clone();
        let checked = tokio::task::spawn_blocking(move || {
            let items: Vec<WrappedDek> = rows
                .iter()
                .map(|row| WrappedDek {
                    version: row.secret.kek_version,
                    wrapped: B64.decode(&row.secret.wrapped_dek).unwrap_or_default(),
                    aad: field_aad(&row.key.record_id, &row.key.field),
                })
                .collect();
            let results = kek.verify_many(items);
            rows.into_iter().zip(results).collect::<Vec<_>>()
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))?;
        for (row, result) in checked {
            match result {
                Ok(()) => verified += 1,
                Err(e) => {
                    failed += 1;
                    first_failure.get_or_insert((row, e.to_string()));
                }
            }
        }
    }
    match first_failure {
        None => Ok(verified),
        Some((row, reason)) => Err(RotationError::Unverified {
            failed,
            table: row.key.table,
            record_id: row.key.record_id,
            field: row.key.field,
            version: row.secret.kek_version,
            reason,
        }),
    }
}
