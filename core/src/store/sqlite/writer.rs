//! The single writer of one process, with group commit.
//!
//! Constraints: SQLite admits one writer at a time per database file (across processes, by its lock),
//! and with `synchronous=FULL` every commit costs an fsync (≈ 1,700–4,700 per second on these
//! machines). Design: one thread owns the write connection; callers send it tasks; it takes every task
//! already waiting (up to `max_batch`), runs each inside its own SAVEPOINT in one `BEGIN IMMEDIATE`
//! transaction, commits once, and only then answers each caller.
//! Invariants: a caller is told `Ok` only after the commit that contains its write is durable; a task
//! that fails is rolled back to its savepoint and does not affect the others; a panicking task is
//! contained and reported as an error, so the writer thread never dies while the store is open.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::sqlite::error::not_writable_reason;
use crate::store::{NotWritableReason, StoreError};

trait WriteTask: Send {
    /// Runs the task's statements; `true` if they succeeded and should be kept.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's fate is known.
    fn finish(self: Box<Self>, batch: Result<(), BatchError>);
}

/// Why a whole batch was not committed. Cloneable, because every task in the batch gets it.
#[derive(Debug, Clone)]
pub(crate) enum BatchError {
    Busy,
    /// Storage refused the transaction (full, read-only): the callers hear `NotWritable`, not a
    /// generic failure, so the API and readiness can say what it is (issue 16, item 6).
    NotWritable(NotWritableReason, String),
    Failed(String),
}

impl BatchError {
    fn of(e: &rusqlite::Error) -> BatchError {
        if is_busy(e) {
            BatchError::Busy
        } else if let Some(reason) = not_writable_reason(e) {
            BatchError::NotWritable(reason, e.to_string())
        } else {
            BatchError::Failed(e.to_string())
        }
    }
}

impl From<BatchError> for StoreError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Busy => StoreError::Busy,
            BatchError::NotWritable(reason, detail) => {
                StoreError::NotWritable { reason, detail: format!("commit failed: {detail}") }
            }
            BatchError::Failed(message) => StoreError::backend(format!("commit failed: {message}")),
        }
    }
}

struct Task<T, F> {
    work: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> WriteTask for Task<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Integrity("write task panicked; its changes were rolled back".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, batch: Result<(), BatchError>) {
        let outcome = match (batch, self.result) {
            (Err(e), Some(Err(own))) => Err(if matches!(e, BatchError::Busy) { StoreError::Busy } else { own }),
            (Err(e), _) => Err(e.into()),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Closed),
        };
        // The caller may have gone away (a cancelled request); nothing to do then.
        let _ = self.reply.send(outcome);
    }
}

pub(crate) struct Writer {
    sender: Option<mpsc::Sender<Box<dyn WriteTask>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, max_batch: usize) -> Writer {
        let (sender, receiver) = mpsc::channel::<Box<dyn WriteTask>>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, receiver, max_batch.max(1)))
            .expect("spawn the sqlite writer thread");
        Writer { sender: Some(sender), thread: Some(thread) }
    }

    /// Queues `work` for the next batch and waits for the commit that makes it durable.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task = Box::new(Task { work: Some(work), result: None, reply });
        self.sender.as_ref().ok_or(StoreError::Closed)?.send(task).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after it has committed what is queued.
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: Connection, receiver: mpsc::Receiver<Box<dyn WriteTask>>, max_batch: usize) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(task) => batch.push(task),
                Err(_) => break,
            }
        }
        let outcome = run_batch(&conn, &mut batch);
        for task in batch {
            task.finish(outcome.clone());
        }
    }
}

/// Extra tries at taking the write lock when another process held it past the busy timeout. No task
/// has run before the lock is taken, so trying again is always safe.
const BEGIN_RETRIES: u32 = 3;

fn begin(conn: &Connection) -> Result<(), BatchError> {
    let mut tries = 0;
    loop {
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(e) if is_busy(&e) && tries < BEGIN_RETRIES => {
                tries += 1;
                tracing::warn!(tries, "database write lock busy beyond the busy timeout; trying again");
                std::thread::sleep(std::time::Duration::from_millis(50 << tries));
            }
            Err(e) => return Err(BatchError::of(&e)),
        }
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteTask>]) -> Result<(), BatchError> {
    begin(conn)?;
    for task in batch.iter_mut() {
        if let Err(e) = conn.execute_batch("SAVEPOINT task") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(BatchError::of(&e));
        }
        let keep = task.run(conn);
        let end = if keep { "RELEASE task" } else { "ROLLBACK TO task; RELEASE task" };
        if let Err(e) = conn.execute_batch(end) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(BatchError::of(&e));
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(BatchError::of(&e))
        }
    }
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}
