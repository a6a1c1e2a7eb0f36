//! KEK rotation: re-wrap every sealed value's data key under a newer KEK version, in batches, while
//! the service keeps running. Only wrapped data keys change, never the data (ARCHITECTURE.md §5).
//!
//! Resumable without extra state: the version on each sealed row is the progress. A run first looks
//! at usage per version; if anything is still under a version older than the provider's current one,
//! it continues toward that version (a previous run was interrupted), otherwise it creates a version
//! numbered above every version in use anywhere (the store, this provider, a previous provider:
//! issue 15) and starts. Each batch is one transaction of compare-and-swap updates, so a value the
//! service rewrote meanwhile is left alone, and a kill between batches loses nothing.
//! `kek_migration` reuses the batch loop (`rewrap_below`) to move values between providers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::crypto::{CryptoError, Envelope, KekError};
use crate::model::SealedSecret;
use crate::store::{SealedRow, Store, StoreError};

#[derive(Debug, Clone)]
pub struct RotationProgress {
    pub target_version: u32,
    pub done: u64,
    pub total: u64,
    pub elapsed: Duration,
}

impl RotationProgress {
    /// Re-wraps per second so far.
    pub fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (rate > 0.0).then(|| Duration::from_secs_f64(self.total.saturating_sub(self.done) as f64 / rate))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub target_version: u32,
    /// Whether this run created the target version (false: it resumed an interrupted rotation).
    pub created_version: bool,
    pub rewrapped: u64,
    /// Values changed by someone else between read and write (already under a current version).
    pub skipped: u64,
    pub batches: u64,
    pub elapsed: Duration,
    pub usage_after: BTreeMap<u32, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kek(#[from] KekError),
    #[error("cannot re-wrap {table}/{record_id} field {field}: {source}")]
    Rewrap { table: String, record_id: String, field: String, source: Box<CryptoError> },
    #[error(
        "{count} data keys are still wrapped by the previous KEK ({previous}); finish the move with `certautopilot kek migrate` before rotating"
    )]
    MigrationPending { previous: String, count: u64 },
    #[error(
        "nothing to migrate from: name the KEK the store's values are sealed under in [kek.previous] (docs/envelope.md)"
    )]
    NoPrevious,
    #[error(
        "{failed} data keys do not open under the new KEK alone (first: {table}/{record_id} field {field}, KEK version {version}: {reason}); is a node still running with the old configuration? Run `certautopilot kek migrate` again"
    )]
    Unverified { failed: u64, table: String, record_id: String, field: String, version: u32, reason: String },
}

/// Values still wrapped by a version the previous provider (if any) holds: a migration is unfinished.
pub(crate) fn pending_on_previous(envelope: &Envelope, usage: &BTreeMap<u32, u64>) -> Option<(String, u64)> {
    let (previous, versions) = envelope.kek().previous()?;
    let count: u64 = usage.iter().filter(|(v, _)| versions.contains(v)).map(|(_, n)| *n).sum();
    (count > 0).then_some((previous, count))
}

/// Rotates: continues an interrupted rotation, or creates a version above every one in use and
/// re-wraps everything under it. `pause` is awaited after each batch (a failpoint in crash tests).
pub async fn rotate<F: std::future::Future<Output = ()>>(
    store: &dyn Store,
    envelope: &Envelope,
    batch: usize,
    progress: impl FnMut(&RotationProgress),
    pause: impl FnMut() -> F,
) -> Result<RotationReport, RotationError> {
    let started = Instant::now();
    let usage = store.kek_usage().await?;
    if let Some((previous, count)) = pending_on_previous(envelope, &usage) {
        return Err(RotationError::MigrationPending { previous, count });
    }
    let current = envelope.kek().current_version();
    let (target, created_version) = if usage.keys().any(|v| *v < current) {
        (current, false)
    } else {
        // Above every version the store uses, not only those this provider holds: a value sealed
        // under another provider's "version n+1" must never share its number (issue 15).
        let next = envelope.kek().create_version_above(usage.keys().max().copied().unwrap_or(0))?;
        tracing::info!(version = next, "created KEK version");
        (next, true)
    };
    let total: u64 = usage.iter().filter(|(v, _)| **v < target).map(|(_, n)| *n).sum();
    let moved = rewrap_below(store, envelope, target, total, batch, started, progress, pause).await?;
    let usage_after = store.kek_usage().await?;
    tracing::info!(
        target = "kek.rotated",
        version = target,
        rewrapped = moved.done,
        skipped = moved.skipped,
        "kek rotation complete"
    );
    Ok(RotationReport {
        target_version: target,
        created_version,
        rewrapped: moved.done,
        skipped: moved.skipped,
        batches: moved.batches,
        elapsed: started.elapsed(),
        usage_after,
    })
}

pub(crate) struct Moved {
    pub done: u64,
    pub skipped: u64,
    pub batches: u64,
}

/// Re-wraps every value under a version below `target` with the current version, one transaction
/// per batch, until none is left. The rows' versions are the progress, so a rerun continues.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn rewrap_below<F: std::future::Future<Output = ()>>(
    store: &dyn Store,
    envelope: &Envelope,
    target: u32,
    total: u64,
    batch: usize,
    started: Instant,
    mut progress: impl FnMut(&RotationProgress),
    mut pause: impl FnMut() -> F,
) -> Result<Moved, RotationError> {
    let (mut done, mut skipped, mut batches) = (0u64, 0u64, 0u64);
    loop {
        let rows = store.sealed_older_than(target, batch.max(1)).await?;
        if rows.is_empty() {
            break;
        }
        let read = rows.len() as u64;
        let env = envelope.clone();
        // Unwrapping and wrapping is CPU (or token) work: keep it off the async threads.
        let updates = tokio::task::spawn_blocking(move || rewrap_all(&env, rows))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))??;
        let applied = store.rewrap_sealed(updates).await?;
        done += applied;
        skipped += read - applied;
        batches += 1;
        progress(&RotationProgress {
            target_version: target,
            done,
            total: total.max(done),
            elapsed: started.elapsed(),
        });
        pause().await;
    }
    Ok(Moved { done, skipped, batches })
}

fn rewrap_all(envelope: &Envelope, rows: Vec<SealedRow>) -> Result<Vec<(SealedRow, SealedSecret)>, RotationError> {
    let items: Vec<_> =
        rows.iter().map(|row| (row.key.record_id.as_str(), row.key.field.as_str(), &row.secret)).collect();
    let results = envelope.rewrap_many(&items);
    rows.into_iter()
        .zip(results)
        .map(|(row, result)| match result {
            Ok(new) => Ok((row, new)),
            Err(source) => Err(RotationError::Rewrap {
                table: row.key.table.clone(),
                record_id: row.key.record_id.clone(),
                field: row.key.field.clone(),
                source: Box::new(source),
            }),
        })
        .collect()
}
