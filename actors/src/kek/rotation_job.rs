//! The scheduled KEK rotation: the job the Scheduler enqueues once per period (`rotate_kek`), and
//! the handler a worker runs it with. Also the KEK audit record every rotation or retirement writes.
//! Invariant: one job per period window (counted from the Unix epoch), whatever the number of
//! ticks, restarts or schedulers: the dedupe key `kek-rotation:{period_ms}:{window}` names it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use certautopilot_core::Timestamp;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::Envelope;
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::kek_rotation::{RotationProgress, rotate};
use certautopilot_core::model::{Job, JobKind, LogLevel, NewJob};
use certautopilot_core::store::{AuditWrite, Store, StoreError};

use super::{KekClient, RotationStatus};
use crate::job_pump::{JobContext, JobError, JobHandler};

/// Data keys re-wrapped per transaction by a scheduled rotation.
const SCHEDULED_BATCH: usize = 1_000;

impl From<&RotationProgress> for RotationStatus {
    fn from(p: &RotationProgress) -> Self {
        RotationStatus { target_version: p.target_version, done: p.done, total: p.total }
    }
}

/// The `rotate_kek` job of the period window `now` falls in.
pub fn rotation_job(period: Duration, now: Timestamp, max_attempts: u32) -> NewJob {
    let period_ms = period.as_millis().max(1) as i64;
    let window = now.as_unix_millis() / period_ms;
    JobSpec::RotateKek { period_ms, window }.into_system_job(max_attempts)
}

/// How often the Scheduler looks whether the period's rotation is queued: often enough to start
/// within a small part of the period, never busier than once a minute.
pub fn rotation_check_every(period: Duration) -> Duration {
    (period / 24).clamp(Duration::from_secs(60), Duration::from_secs(3_600))
}

/// Enqueues this period's rotation unless it exists; true when this call created it.
pub async fn enqueue_rotation(store: &dyn Store, period: Duration, max_attempts: u32) -> bool {
    match store.enqueue_job(rotation_job(period, Timestamp::now(), max_attempts)).await {
        Ok(enqueued) if enqueued.created => {
            tracing::info!(job_id = %enqueued.job.id, "scheduled KEK rotation enqueued");
            true
        }
        Ok(existing) => {
            tracing::info!(job_id = %existing.job.id, status = ?existing.job.status, "kek rotation for this period already scheduled");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not enqueue the scheduled KEK rotation; will try again");
            false
        }
    }
}

/// Writes a KEK event for every organization (the KEK is shared by all of them) to its outbox.
pub async fn record_kek_event(store: &dyn Store, action: &str, details: serde_json::Value) -> Result<(), StoreError> {
    for org in store.list_organizations().await? {
        if org.audit_secret.is_none() {
            continue;
        }
        let draft = AuditDraft {
            org_id: org.id,
            actor: certautopilot_core::Principal::System("kek".into()),
            action: action.into(),
            object: None,
            project_id: None,
            details: details.clone(),
        };
        store.append_audit(AuditWrite { draft }).await?;
    }
    Ok(())
}

/// Runs a KEK rotation as a job (`rotate_kek`), enqueued by the Scheduler once per period.
pub struct RotateKekHandler {
    pub store: Arc<dyn Store>,
    pub envelope: Envelope,
    pub kek: KekClient,
}

#[async_trait]
impl JobHandler for RotateKekHandler {
    fn kind(&self) -> JobKind {
        JobKind::RotateKek
    }

    async fn run(&self, _job: &Job, ctx: JobContext) -> Result<String, JobError> {
        let report = rotate(
            self.store.as_ref(),
            &self.envelope,
            SCHEDULED_BATCH,
            |p| self.kek.report_rotation(Some(p.into())),
            // Lets the crash test kill the service in the middle of a scheduled rotation.
            || crate::failpoint::hit("kek.after_batch"),
        )
        .await;
        self.kek.report_rotation(None);
        let report = report.map_err(|e| JobError::retryable(format!("kek rotation failed: {e}")))?;
        // The rotation is done: failing the job now would make a retry create yet another version.
        let details = serde_json::json!({
            "version": report.target_version,
            "new_version": report.created_version,
            "rewrapped": report.rewrapped,
            "usage_after": report.usage_after,
        });
        let _ = ctx.log(LogLevel::Info, "rotation finished", details.clone()).await;
        if let Err(e) = record_kek_event(self.store.as_ref(), "kek.rotated", details).await {
            tracing::error!(error = %e, "kek rotation done but not recorded in every audit chain");
        }
        Ok(format!("re-wrapped {} data keys to KEK version {}", report.rewrapped, report.target_version))
    }
}

#[cfg(test)]
mod tests {
    use certautopilot_core::store::sqlite::SqliteStore;

    use super::*;

    /// The dedupe key names the period and its window, as before the move (so a job queued by an
    /// older version still dedupes), and a second enqueue in one window is a no-op.
    #[actix_rt::test]
    async fn one_rotation_job_per_period_window() {
        let day = Duration::from_secs(86_400);
        let period = day * 30;
        let now = Timestamp::from_unix_millis(period.as_millis() as i64 * 7 + 5);
        let job = rotation_job(period, now, 3);
        assert_eq!(job.dedupe_key.as_deref(), Some(format!("kek-rotation:{}:7", period.as_millis()).as_str()));
        assert_eq!(rotation_check_every(period), Duration::from_secs(3_600));
        assert_eq!(rotation_check_every(Duration::from_secs(600)), Duration::from_secs(60));

        let fixture = SqliteStore::for_test().await;
        assert!(enqueue_rotation(&fixture.store, period, 3).await, "the first enqueue creates the job");
        assert!(!enqueue_rotation(&fixture.store, period, 3).await, "the second finds it");
    }
}
