//! Crash safety: a process SIGKILLed in the middle of a stream of writes leaves a database that opens,
//! migrates, passes SQLite's integrity check, and holds no half-written job.

use std::sync::Arc;
use std::time::Duration;

use certautopilot_core::model::{JobKind, JobStatus, NewJob};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::store::{ClaimRequest, JobFailure, prelude::*};
use certautopilot_core::{SystemClock, SystemScope};

use crate::child;

/// The child: enqueues, claims, logs, fails and completes jobs, and inserts certificates, forever,
/// from several tasks at once so batches of writes are in flight when the kill lands.
async fn write_forever(path: &std::path::Path) {
    let store = Arc::new(SqliteStore::open(path, SqliteOptions::default(), Arc::new(SystemClock)).await.unwrap());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let backoff =
                certautopilot_core::jobs::Backoff { base: Duration::from_millis(1), max: Duration::from_millis(1) };
            for i in 0u64.. {
                let payload = serde_json::json!({ "task": t, "i": i, "pad": "x".repeat(200) });
                store
                    .enqueue_job(NewJob::system(JobKind::Issue, 3).payload(payload).subject(format!("s{t}-{}", i % 7)))
                    .await
                    .unwrap();
                let claim = ClaimRequest {
                    node_id: format!("n{t}"),
                    incarnation: "only-start".into(),
                    kinds: vec![JobKind::Issue],
                    limit: 2,
                    lease: Duration::from_secs(600),
                };
                for job in store.claim_jobs(&claim).await.unwrap() {
                    let lease = job.lease().unwrap();
                    store
                        .append_job_log(
                            &lease,
                            certautopilot_core::model::LogLevel::Info,
                            "step",
                            serde_json::json!({"i": i}),
                        )
                        .await
                        .unwrap();
                    if i % 3 == 0 {
                        store
                            .fail_job(&lease, &JobFailure { error: "boom".into(), retryable: true, backoff })
                            .await
                            .unwrap();
                    } else {
                        store.complete_job(&lease, "done").await.unwrap();
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Kills the writer at a different moment in each of several rounds on the same file; after every
/// kill the file opens and migrates, passes `PRAGMA integrity_check`, and every job is whole: its
/// columns agree with its status, and its log starts with `queued` and has no gaps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_write_leaves_a_consistent_database() {
    if child::role().is_some() {
        write_forever(&child::env_path(child::DB_VAR)).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut seen_jobs = 0;
    for round in 0..4u32 {
        let mut writer = child::spawn(
            "crash::sigkill_mid_write_leaves_a_consistent_database",
            "writer",
            &path,
            &dir.path().join("out"),
        );
        // Let it get well into its stream (more jobs than after the last round), then kill it at a
        // moment that varies by round.
        let target = seen_jobs + 200 + 150 * round as usize;
        child::wait_for(Duration::from_secs(60), "the child to write jobs", || {
            let path = path.clone();
            async move { count_jobs(&path) >= target }
        })
        .await;
        std::thread::sleep(Duration::from_millis(u64::from(round) * 7));
        writer.kill().unwrap();
        writer.wait().unwrap();

        let store =
            SqliteStore::open(&path, SqliteOptions::default(), Arc::new(SystemClock)).await.expect("reopen after kill");
        store.integrity_check().await.expect("integrity check after kill");
        seen_jobs = check_every_job_is_whole(&path, &store).await;
        assert!(seen_jobs >= target, "round {round}: {seen_jobs} jobs, expected at least {target}");
    }
}

fn count_jobs(path: &std::path::Path) -> usize {
    let Ok(conn) = rusqlite_open(path) else { return 0 };
    conn.query_row("SELECT COUNT(*) FROM jobs", [], |r| r.get::<_, i64>(0)).map(|n| n as usize).unwrap_or(0)
}

fn rusqlite_open(path: &std::path::Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

async fn check_every_job_is_whole(path: &std::path::Path, store: &SqliteStore) -> usize {
    let conn = rusqlite_open(path).unwrap();
    let ids: Vec<String> =
        conn.prepare("SELECT id FROM jobs").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let system = SystemScope::new("crash-test");
    for id in &ids {
        let job = store.get_job(&system, id.parse().unwrap()).await.expect("job decodes");
        match job.status {
            JobStatus::Running => {
                assert!(job.lease_owner.is_some() && job.lease_expires_at.is_some() && job.started_at.is_some())
            }
            JobStatus::Succeeded | JobStatus::Dead => assert!(job.finished_at.is_some() && job.lease_owner.is_none()),
            JobStatus::Queued | JobStatus::Failed => assert!(job.lease_owner.is_none()),
        }
        assert!(job.attempts <= job.max_attempts, "{job:?}");
        let logs = store.job_logs(&system, job.id).await.unwrap();
        assert_eq!(logs.first().map(|l| l.message.as_str()), Some("queued"), "job {id} lost its first log line");
        assert!(logs.iter().enumerate().all(|(i, l)| l.seq == i as u64 + 1), "job {id} has a gap in its log");
        let claims = logs.iter().filter(|l| l.message == "claimed").count() as u32;
        assert_eq!(claims, job.attempts, "job {id}: every attempt has its claim logged");
    }
    ids.len()
}
