//! Walking an organization's chain from the store, page by page, with progress: the whole of it,
//! or from its verified-up-to mark (`VerifiedMark`), whose cost is the entries since the mark.
//! Invariant: a walk from a mark starts only once the mark is genuine and the entry it names still
//! carries its `hmac` and verifies itself; otherwise that is the broken link reported.

use crate::audit::{BrokenLink, Checkpoint, LinkFault, VerifiedMark, Verifier, VerifySummary};
use crate::crypto::SecretBytes;
use crate::scope::OrgScope;
use crate::store::{Store, StoreError};
use crate::timestamp::Timestamp;

/// Entries read per page while verifying.
const PAGE: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("chain broken at seq {}: {}", .0.seq, .0.fault)]
    Broken(BrokenLink),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies the live chain of `scope`'s organization from its first entry, or from its checkpoint
/// once entries were archived (the checkpoint must be genuine); `progress` gets the entries checked.
/// `entries` counts the archived ones too: the chain's length.
pub async fn verify_chain(
    store: &dyn Store,
    scope: &OrgScope,
    secret: &SecretBytes,
    progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let start = checkpoint_of(store, scope, Some(secret)).await?;
    let verifier = Verifier::resume(Some(secret), start.clone());
    from_start(walk(store, scope, start.as_ref().map_or(0, |s| s.0), verifier, progress).await?, start)
}

/// The live chain's start: (seq, hmac) of the last archived entry, if any. With `secret`, the
/// checkpoint must carry its tag; without (links only), it is taken as stored.
async fn checkpoint_of(
    store: &dyn Store,
    scope: &OrgScope,
    secret: Option<&SecretBytes>,
) -> Result<Option<(u64, String)>, VerifyError> {
    let Some(doc) = store.audit_checkpoint(scope.org_id()).await? else { return Ok(None) };
    let checkpoint =
        Checkpoint::from_json(&doc).filter(|c| secret.is_none_or(|secret| c.is_genuine(secret, scope.org_id())));
    match checkpoint {
        Some(c) => Ok(Some((c.seq, c.hmac))),
        None => Err(VerifyError::Broken(BrokenLink { seq: 0, fault: LinkFault::CheckpointNotGenuine })),
    }
}

/// A walk's summary counted from the chain's first entry.
fn from_start(mut summary: VerifySummary, start: Option<(u64, String)>) -> Result<VerifySummary, VerifyError> {
    if let Some((seq, hmac)) = start {
        summary.entries += seq;
        summary.head = summary.head.or(Some(hmac));
    }
    Ok(summary)
}

/// What a walk from the mark found: the chain's length, where the walk started and how many
/// entries it read, and the head it ended on (what the next mark names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromMark {
    /// Entries in the chain: the head's `seq`.
    pub entries: u64,
    /// The mark the walk started after (0: there was none, the whole chain was walked).
    pub from_seq: u64,
    /// When the chain up to `from_seq` had been verified.
    pub marked_at: Option<Timestamp>,
    /// Entries read and checked by this walk.
    pub checked: u64,
    /// The head's `seq` and `hmac`, if the chain has entries.
    pub head: Option<(u64, String)>,
}

impl From<VerifySummary> for FromMark {
    /// A walk from the first entry.
    fn from(summary: VerifySummary) -> Self {
        let head = summary.head.map(|h| (summary.entries, h));
        FromMark { entries: summary.entries, from_seq: 0, marked_at: None, checked: summary.entries, head }
    }
}

/// Verifies the chain from the organization's verified-up-to mark, or whole when it has none.
pub async fn verify_from_mark(
    store: &dyn Store,
    scope: &OrgScope,
    secret: &SecretBytes,
    progress: impl FnMut(u64),
) -> Result<FromMark, VerifyError> {
    let org = scope.org_id();
    let mark = match store.audit_mark(org).await? {
        Some(doc) => {
            let mark = VerifiedMark::from_json(&doc).filter(|m| m.is_genuine(secret, org));
            let Some(mark) = mark else {
                return Err(VerifyError::Broken(BrokenLink { seq: 0, fault: LinkFault::MarkNotGenuine }));
            };
            Some(mark)
        }
        None => None,
    };
    // A mark before the first entry (or before the checkpoint) vouches for nothing new: walk the
    // whole live chain.
    let start = checkpoint_of(store, scope, Some(secret)).await?;
    let past_start = |m: &VerifiedMark| m.seq > start.as_ref().map_or(0, |s| s.0);
    let Some(mark) = mark.filter(past_start) else {
        return Ok(verify_chain(store, scope, secret, progress).await?.into());
    };
    // The entry the mark names must still be the one verified then.
    let named = store.list_audit_events(scope, mark.seq - 1, 1).await.map_err(damaged)?;
    match named.first() {
        Some(entry) if entry.seq == mark.seq => {
            if entry.hmac != mark.hmac || crate::audit::entry_hmac(secret, entry) != entry.hmac {
                return Err(VerifyError::Broken(BrokenLink { seq: mark.seq, fault: LinkFault::ContentChanged }));
            }
        }
        _ => {
            let fault = LinkFault::EntryMissing { expected: mark.seq };
            return Err(VerifyError::Broken(BrokenLink { seq: mark.seq, fault }));
        }
    }
    let verifier = Verifier::resume(Some(secret), Some((mark.seq, mark.hmac.clone())));
    let summary = walk(store, scope, mark.seq, verifier, progress).await?;
    let entries = mark.seq + summary.entries;
    let head = Some((entries, summary.head.unwrap_or(mark.hmac)));
    Ok(FromMark { entries, from_seq: mark.seq, marked_at: Some(mark.at), checked: summary.entries, head })
}

/// Records that the chain of `scope`'s organization is verified up to `head` (seq, hmac), at `at`.
pub async fn record_mark(
    store: &dyn Store,
    scope: &OrgScope,
    secret: &SecretBytes,
    (seq, hmac): (u64, &str),
    at: Timestamp,
) -> Result<(), StoreError> {
    let mark = VerifiedMark::seal(secret, scope.org_id(), seq, hmac, at);
    store.advance_audit_mark(scope.org_id(), seq, &mark.to_json()).await
}

fn damaged(e: StoreError) -> VerifyError {
    match e {
        StoreError::CorruptAuditEntry { seq, reason, .. } => {
            VerifyError::Broken(BrokenLink { seq, fault: LinkFault::Damaged { reason } })
        }
        other => VerifyError::Store(other),
    }
}

/// Verifies the order and linkage of the chain of `scope`'s organization without its secret
/// (`Verifier::links_only`): entries edited in place are not detected.
pub async fn verify_chain_links(
    store: &dyn Store,
    scope: &OrgScope,
    progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let start = checkpoint_of(store, scope, None).await?;
    let verifier = Verifier::resume(None, start.clone());
    from_start(walk(store, scope, start.as_ref().map_or(0, |s| s.0), verifier, progress).await?, start)
}

/// Checks every entry after `after_seq` with `verifier` (positioned at `after_seq`).
async fn walk(
    store: &dyn Store,
    scope: &OrgScope,
    after_seq: u64,
    mut verifier: Verifier<'_>,
    mut progress: impl FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let mut checked = 0;
    let mut entries = store.list_audit_events(scope, after_seq, PAGE).await.map_err(damaged)?;
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
