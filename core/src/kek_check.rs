//! The KEK check: does this node's KEK open the values the store holds? A few values per KEK version
//! in use are opened in full (data key and ciphertext), so a node started with the wrong KEK refuses
//! to start, and `/readyz` turns 503, instead of every login answering 500 (issue 15).
//! Invariant: reads only; errors carry versions, providers and record keys, never plaintexts or keys.

use crate::crypto::{CryptoError, Envelope};
use crate::store::{SealedKey, SealedRow, Store, StoreError};

/// Values opened per KEK version: enough to catch a wrong key, cheap enough for every start.
pub const SAMPLE_PER_VERSION: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum KekCheckError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the store holds {count} values sealed under KEK version {version}, which this node's KEK ({provider}) does not have"
    )]
    MissingVersion { version: u32, count: u64, provider: String, sample: Box<SealedRow> },
    #[error(
        "the store's {count} values sealed under KEK version {version} do not open with this node's KEK ({provider}): its version {version} is a different key, so they were sealed under another KEK (first: {})",
        describe_key(&sample.key)
    )]
    WrongKey { version: u32, count: u64, provider: String, sample: Box<SealedRow> },
    #[error("cannot check the values sealed under KEK version {version} with this node's KEK ({provider}): {reason}")]
    Unavailable { version: u32, provider: String, reason: String },
}

impl KekCheckError {
    /// The value that failed to open, to try other keys on (none for store or token failures).
    pub fn sample(&self) -> Option<&SealedRow> {
        match self {
            KekCheckError::MissingVersion { sample, .. } | KekCheckError::WrongKey { sample, .. } => Some(sample),
            _ => None,
        }
    }
}

fn describe_key(key: &SealedKey) -> String {
    format!("{}/{} field {}", key.table, key.record_id, key.field)
}

/// Opens each of `rows` (whether it opens, row by row). Opening goes through the KEK actor, which
/// blocks the caller: not on an async thread.
pub async fn open_rows(
    envelope: &Envelope,
    rows: Vec<SealedRow>,
) -> Result<Vec<(SealedRow, Result<(), CryptoError>)>, StoreError> {
    let env = envelope.clone();
    tokio::task::spawn_blocking(move || {
        rows.into_iter()
            .map(|row| {
                let result = env.open(&row.key.record_id, &row.key.field, &row.secret).map(drop);
                (row, result)
            })
            .collect()
    })
    .await
    .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))
}

/// Opens up to `sample` values of every KEK version the store uses; returns how many it opened.
pub async fn check_store_opens(store: &dyn Store, envelope: &Envelope, sample: usize) -> Result<u64, KekCheckError> {
    let usage = store.kek_usage().await?;
    let provider = envelope.kek().describe();
    let mut opened = 0;
    for (version, count) in usage {
        let rows = store.sealed_with_version(version, sample.max(1)).await?;
        for (row, result) in open_rows(envelope, rows).await? {
            let sample = Box::new(row);
            match result {
                Ok(()) => opened += 1,
                Err(CryptoError::MissingKekVersion { .. }) => {
                    return Err(KekCheckError::MissingVersion { version, count, provider, sample });
                }
                Err(CryptoError::Integrity | CryptoError::Malformed(_)) => {
                    return Err(KekCheckError::WrongKey { version, count, provider, sample });
                }
                Err(CryptoError::Kek(e)) => {
                    return Err(KekCheckError::Unavailable { version, provider, reason: e.to_string() });
                }
            }
        }
    }
    Ok(opened)
}
