//! Walking an organization's whole chain from the store, page by page, with progress.

use crate::audit::{BrokenLink, Verifier, VerifySummary};
use crate::crypto::SecretBytes;
use crate::scope::OrgScope;
use crate::store::{Store, StoreError};

/// Entries read per page while verifying.
const PAGE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("chain broken at seq {}: {}", .0.seq, .0.fault)]
    Broken(BrokenLink),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the chain of `scope`'s organization; `progress` gets the number of entries checked.
pub async fn verify_chain(
    store: &dyn Store,
    scope: &OrgScope,
    secret: &SecretBytes,
    mut progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let mut verifier = Verifier::new(secret);
    let mut after = 0;
    let mut checked = 0;
    loop {
        let entries = store.list_audit_events(scope, after, PAGE).await?;
        let Some(last) = entries.last() else { break };
        after = last.seq;
        for entry in &entries {
            verifier.check(entry).map_err(VerifyError::Broken)?;
        }
        checked += entries.len() as u64;
        progress(checked);
    }
    Ok(verifier.finish())
}
