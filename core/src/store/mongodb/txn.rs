//! Multi-document transactions with the driver's documented retry rules, bounded in time: the whole
//! transaction again on `TransientTransactionError`, the commit again on
//! `UnknownTransactionCommitResult` (the driver resends it with `w: majority`, and the server answers
//! a repeated commit of the same transaction without applying it twice).
//! Invariant: a body that fails with a store error (a conflict, a refusal) is aborted and never
//! retried here; only the deployment's transient answers (and a unique key lost to a concurrent
//! commit, `Fail::Raced`) are, until `transaction_timeout`.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use mongodb::ClientSession;
use mongodb::error::{Error, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::options::{Acknowledgment, ReadConcern, WriteConcern};

use crate::store::StoreError;
use crate::store::mongodb::MongoStore;

/// Why a transaction body stopped: the deployment's answer (maybe transient) or the store's verdict.
#[derive(Debug)]
pub(super) enum Fail {
    Driver(Error),
    Store(StoreError),
    /// A unique index refused a write because a transaction that committed after this one's
    /// snapshot wrote the same key (a dedupe key enqueued twice at once). The server may report that
    /// race as this refusal rather than as a `WriteConflict`; a fresh snapshot sees the winner, so
    /// the transaction is run again like a transient one.
    Raced(Error),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Driver(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Driver(e) | Fail::Raced(e) => e.into(),
            Fail::Store(e) => e,
        }
    }
}

/// The body of a transaction: called again from the start after a transient error, so it reads
/// what it needs inside the transaction and consumes nothing of `ctx`.
pub(super) type Body<'b, T> = BoxFuture<'b, Result<T, Fail>>;

impl MongoStore {
    /// Runs `body` in one transaction (snapshot reads, majority writes) and commits it.
    pub(super) async fn transact<C, T, F>(&self, ctx: C, mut body: F) -> Result<T, StoreError>
    where
        C: Send + Sync,
        T: Send,
        F: for<'b> FnMut(&'b mut ClientSession, &'b C) -> Body<'b, T> + Send,
    {
        let result = self.transact_inner(&ctx, &mut body).await;
        self.observed(result)
    }

    async fn transact_inner<C, T, F>(&self, ctx: &C, body: &mut F) -> Result<T, StoreError>
    where
        C: Send + Sync,
        T: Send,
        F: for<'b> FnMut(&'b mut ClientSession, &'b C) -> Body<'b, T> + Send,
    {
        let deadline = Instant::now() + self.options.transaction_timeout;
        let mut session = self.client.start_session().await?;
        let mut attempt = 0u32;
        'transaction: loop {
            attempt += 1;
            begin(&mut session).await?;
            let value = match body(&mut session, ctx).await {
                Ok(value) => value,
                Err(fail) => {
                    // The server may have aborted already; aborting again is harmless.
                    let _ = session.abort_transaction().await;
                    match fail {
                        Fail::Driver(e)
                            if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && Instant::now() < deadline =>
                        {
                            tracing::debug!(attempt, error = %super::error::describe(&e), "transaction retried");
                            tokio::time::sleep(backoff(attempt)).await;
                            continue 'transaction;
                        }
                        // A helper that answers `StoreError` turned the driver's transient answer
                        // into `Backend`: it is still the server's, and still transient.
                        Fail::Store(e) if is_transient(&e) && Instant::now() < deadline => {
                            tracing::debug!(attempt, error = %e, "transaction retried");
                            tokio::time::sleep(backoff(attempt)).await;
                            continue 'transaction;
                        }
                        Fail::Raced(e) if Instant::now() < deadline => {
                            tracing::debug!(attempt, error = %super::error::describe(&e), "transaction lost a race; retried");
                            tokio::time::sleep(backoff(attempt)).await;
                            continue 'transaction;
                        }
                        other => return Err(other.into()),
                    }
                }
            };
            loop {
                match session.commit_transaction().await {
                    Ok(()) => return Ok(value),
                    Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && Instant::now() < deadline => {
                        tracing::debug!(attempt, error = %super::error::describe(&e), "commit retried");
                        tokio::time::sleep(backoff(attempt)).await;
                    }
                    Err(e) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) && Instant::now() < deadline => {
                        tokio::time::sleep(backoff(attempt)).await;
                        continue 'transaction;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

impl MongoStore {
    /// Runs the reads of `body` in one snapshot transaction, so they see one point in time, with
    /// `transact`'s retries; not taken as a sign that the store is writable.
    pub(super) async fn read_snapshot<C, T, F>(&self, ctx: C, mut body: F) -> Result<T, StoreError>
    where
        C: Send + Sync,
        T: Send,
        F: for<'b> FnMut(&'b mut ClientSession, &'b C) -> Body<'b, T> + Send,
    {
        self.transact_inner(&ctx, &mut body).await
    }

    /// Runs `body` in one transaction, once, and commits it; `None` when another transaction holds
    /// a document it writes (a write conflict, reported at once inside a transaction).
    ///
    /// For writes that can meet a transaction nobody will finish: a node cut off from the store
    /// mid-transaction leaves it open, holding its documents, until the server expires it (60 s by
    /// default on mongod), and a plain write to such a document waits on the server all that time.
    /// The caller skips the document this round instead.
    pub(super) async fn transact_once<C, T, F>(&self, ctx: C, body: F) -> Result<Option<T>, StoreError>
    where
        C: Send + Sync,
        T: Send,
        F: for<'b> FnOnce(&'b mut ClientSession, &'b C) -> Body<'b, T> + Send,
    {
        let result = async {
            let mut session = self.client.start_session().await?;
            begin(&mut session).await?;
            let outcome = match body(&mut session, &ctx).await {
                Ok(value) => session.commit_transaction().await.map(|()| value).map_err(Fail::Driver),
                Err(fail) => {
                    let _ = session.abort_transaction().await;
                    Err(fail)
                }
            };
            match outcome {
                Ok(value) => Ok(Some(value)),
                Err(Fail::Driver(e)) if super::error::is_write_conflict(&e) => Ok(None),
                Err(Fail::Store(StoreError::Busy)) => Ok(None),
                Err(other) => Err(other.into()),
            }
        }
        .await;
        self.observed(result)
    }
}

/// Starts a transaction with snapshot reads and majority writes: every transaction of the store's.
async fn begin(session: &mut ClientSession) -> Result<(), Error> {
    session
        .start_transaction()
        .read_concern(ReadConcern::snapshot())
        .write_concern(WriteConcern::builder().w(Acknowledgment::Majority).build())
        .await
}

/// Whether a store error is the driver's transient transaction answer, carried as `Backend`, or a
/// write conflict (`Busy`).
fn is_transient(e: &StoreError) -> bool {
    match e {
        StoreError::Busy => true,
        StoreError::Backend { source } => {
            source.downcast_ref::<Error>().is_some_and(|e| e.contains_label(TRANSIENT_TRANSACTION_ERROR))
        }
        _ => false,
    }
}

/// Grows with the attempt, jittered so racing writers do not retry in step; capped at 500 ms.
fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let ceiling = (5u64 << attempt.min(7)).min(500);
    Duration::from_millis(rand::rng().random_range(1..=ceiling))
}
