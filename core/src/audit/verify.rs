//! Walking an organization's whole chain from the store, page by page, with progress.

use crate::audit::{BrokenLink, LinkFault, Verifier, VerifySummary};
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
    progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    walk(store, scope, Verifier::new(secret), progress).await
}

/// Verifies the order and linkage of the chain of `scope`'s organization without its secret
/// (`Verifier::links_only`): entries edited in place are not detected.
pub async fn verify_chain_links(
    store: &dyn Store,
    scope: &OrgScope,
    progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    walk(store, scope, Verifier::links_only(), progress).await
}

async fn walk(
    store: &dyn Store,
    scope: &OrgScope,
    mut verifier: Verifier<'_>,
    mut progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let mut checked = 0;
    let damaged = |e: StoreError| match e {
        StoreError::CorruptAuditEntry { seq, reason, .. } => {
            VerifyError::Broken(BrokenLink { seq, fault: LinkFault::Damaged { reason } })
        }
        other => VerifyError::Store(other),
    };
    let mut entries = store.list_audit_events(scope, 0, PAGE).await.map_err(damaged)?;
    while let Some(last) = entries.last() {
        // Read the next page while this one is checked: the store decodes on another thread.
        let next = store.list_audit_events(scope, last.seq, PAGE);
        let check = async {
            for entry in &entries {
                verifier.check(entry).map_err(VerifyError::Broken)?;
            }
            Ok::<_, VerifyError>(())
        };
        let (next, checked_page) = futures_join(next, check).await;
        checked_page?;
        checked += entries.len() as u64;
        progress(checked);
        entries = next.map_err(damaged)?;
    }
    Ok(verifier.finish())
}

/// Runs two futures to completion together (without pulling in the `futures` crate).
async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = Box::pin(a);
    let mut b = Box::pin(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    (ra.expect("first future finished"), rb.expect("second future finished"))
}
