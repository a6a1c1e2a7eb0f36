//! What a job kind plugs into the pump: a handler that runs one job and says how it went.

use std::sync::Arc;

use async_trait::async_trait;
use certautopilot_core::model::{Job, JobKind, JobLease, LogLevel};
use certautopilot_core::store::{Store, StoreError};
use tokio::sync::watch;

/// Why a job attempt failed. `retryable` decides between another attempt (with backoff) and `dead`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct JobError {
    pub message: String,
    pub retryable: bool,
}

impl JobError {
    pub fn retryable(message: impl Into<String>) -> Self {
        JobError { message: message.into(), retryable: true }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        JobError { message: message.into(), retryable: false }
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError { retryable: e.is_retryable(), message: e.to_string() }
    }
}

/// What a running job may use: its lease (for logging into the job), the store, and a signal that
/// the pump wants it to stop (shutdown, or the lease was lost).
#[derive(Clone)]
pub struct JobContext {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) lease: Arc<tokio::sync::Mutex<JobLease>>,
    pub(crate) cancel: watch::Receiver<bool>,
}

impl JobContext {
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Appends a structured line to the job's own log.
    pub async fn log(&self, level: LogLevel, message: &str, fields: serde_json::Value) -> Result<(), StoreError> {
        let lease = self.lease.lock().await.clone();
        self.store.append_job_log(&lease, level, message, fields).await
    }

    pub fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once the pump asks the job to stop; handlers select on it around long waits.
    pub async fn cancelled(&mut self) {
        while !*self.cancel.borrow() {
            if self.cancel.changed().await.is_err() {
                return;
            }
        }
    }
}

#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    fn kind(&self) -> JobKind;
    /// Runs one attempt; the returned text ends the job's log on success.
    async fn run(&self, job: &Job, ctx: JobContext) -> Result<String, JobError>;
}
