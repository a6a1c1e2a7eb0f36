//! Copying a whole store into an empty one, part by part, in pages (`certautopilot store copy`):
//! backend-neutral, over `StoreTransfer` on both sides.
//! Invariant: nothing is written unless the target was empty when the copy began, and a copy that
//! returns `Ok` left every part with as many rows in the target as the source holds.

use crate::scope::SystemScope;
use crate::store::{StoreError, StoreTransfer, TransferPart};

/// Rows per page read and per transaction written: small enough for MongoDB's 16 MB transaction
/// and a short SQLite write lock, large enough that round trips do not dominate.
pub const COPY_BATCH: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The target holds data: a copy only ever fills an empty store, so nothing was written.
    #[error("the target store is not empty ({detail}): store copy fills an empty store only; nothing was written")]
    TargetNotEmpty { detail: String },
    #[error("cannot read the source store: {0}")]
    Source(#[source] StoreError),
    #[error("cannot write the target store at {part} ({copied} rows of it copied): {source}")]
    Target {
        part: String,
        copied: u64,
        #[source]
        source: StoreError,
    },
    /// The stores disagree after the copy: the source changed meanwhile (a service still running on
    /// it), or a row was lost. The target is incomplete and must be emptied before another try.
    #[error("{part}: the source holds {source_rows} rows, the target {target_rows}")]
    CountMismatch { part: String, source_rows: u64, target_rows: u64 },
}

/// How far the copy of one part has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    pub part: TransferPart,
    pub copied: u64,
    /// The source's count when the part began.
    pub total: u64,
}

/// What was copied: each part's row count, equal in both stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub parts: Vec<(TransferPart, u64)>,
}

impl CopyReport {
    pub fn total(&self) -> u64 {
        self.parts.iter().map(|(_, n)| n).sum()
    }
}

/// Copies every part of `source` into the empty `target`, `batch` rows per transaction, telling
/// `progress` after each batch; then compares each part's counts.
pub async fn copy_store(
    source: &dyn StoreTransfer,
    target: &dyn StoreTransfer,
    batch: usize,
    mut progress: impl FnMut(CopyProgress),
) -> Result<CopyReport, CopyError> {
    let scope = SystemScope::new("store-copy");
    let batch = batch.max(1);
    refuse_non_empty(target, &scope).await?;
    for part in TransferPart::all() {
        let total = source.transfer_count(&scope, part).await.map_err(CopyError::Source)?;
        let mut copied = 0;
        progress(CopyProgress { part, copied, total });
        let mut after = None;
        loop {
            let page = source.export_rows(&scope, part, after.take(), batch).await.map_err(CopyError::Source)?;
            let rows = page.rows.len() as u64;
            if rows > 0 {
                target.import_rows(&scope, page.rows).await.map_err(|source| CopyError::Target {
                    part: part.name(),
                    copied,
                    source,
                })?;
                copied += rows;
                progress(CopyProgress { part, copied, total });
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    compare_counts(source, target, &scope).await
}

async fn refuse_non_empty(target: &dyn StoreTransfer, scope: &SystemScope) -> Result<(), CopyError> {
    let failed = |source| CopyError::Target { part: "the emptiness check".into(), copied: 0, source };
    for part in TransferPart::all() {
        let rows = target.transfer_count(scope, part).await.map_err(failed)?;
        if rows > 0 {
            return Err(CopyError::TargetNotEmpty { detail: format!("{} holds {rows} rows", part.name()) });
        }
    }
    if !target.is_empty(scope).await.map_err(failed)? {
        return Err(CopyError::TargetNotEmpty { detail: "first-run setup has been done on it".into() });
    }
    Ok(())
}

async fn compare_counts(
    source: &dyn StoreTransfer,
    target: &dyn StoreTransfer,
    scope: &SystemScope,
) -> Result<CopyReport, CopyError> {
    let mut parts = Vec::new();
    for part in TransferPart::all() {
        let source_rows = source.transfer_count(scope, part).await.map_err(CopyError::Source)?;
        let target_rows = target.transfer_count(scope, part).await.map_err(|source| CopyError::Target {
            part: part.name(),
            copied: 0,
            source,
        })?;
        if source_rows != target_rows {
            return Err(CopyError::CountMismatch { part: part.name(), source_rows, target_rows });
        }
        parts.push((part, source_rows));
    }
    Ok(CopyReport { parts })
}
