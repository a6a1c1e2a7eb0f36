//! Messages of the job pump actor: wakes, job outcomes reported by the job tasks, and the two
//! steps of a graceful shutdown (drain, then release what did not finish).

use actix::Message;
use certautopilot_core::JobId;
use tokio::sync::watch;

use super::ShutdownReport;

/// Claim now (an enqueue happened in this process, or a job slot freed up).
pub struct Wake;

impl Message for Wake {
    type Result = ();
}

/// How one job attempt ended, sent by its task once the outcome is recorded (or could not be).
pub struct JobFinished {
    pub id: JobId,
    pub outcome: Finished,
}

impl Message for JobFinished {
    type Result = ();
}

#[derive(Debug, Clone)]
pub enum Finished {
    Succeeded,
    Failed(String),
    /// Another worker holds the job now; nothing was recorded over its lease.
    LeaseLost,
    /// The store did not take the outcome; the lease expires and the job reruns.
    NotRecorded(String),
    /// The lease ran out with no heartbeat reaching the store and the job stopped: it was given
    /// back once the store answered, its attempt not counted.
    Released,
}

/// Stop claiming. Answers with the number of jobs still running, watched until it reaches zero.
pub struct Drain;

impl Message for Drain {
    type Result = watch::Receiver<usize>;
}

/// Cancel the jobs still running after the grace period and give their leases back.
pub struct ReleaseRemaining;

impl Message for ReleaseRemaining {
    type Result = ShutdownReport;
}
