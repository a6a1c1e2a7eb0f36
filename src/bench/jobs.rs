//! Job-queue throughput with `synchronous=FULL` (every acknowledged commit fsynced), one process.
//! Prints the fsync floor of this disk beside it, so the figure can be read against the hardware.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use certautopilot_core::SystemClock;
use certautopilot_core::model::{JobKind, NewJob};
use certautopilot_core::store::mongodb::MongoStore;
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};

use super::backend::BenchStore;
use certautopilot_core::store::{ClaimRequest, prelude::*};

pub async fn run(dir: &Path, total: usize, concurrency: usize, kind: BenchStore) -> anyhow::Result<()> {
    let concurrency = concurrency.max(1);
    let durability = match kind {
        BenchStore::Sqlite => "SQLite, synchronous=FULL",
        BenchStore::Mongodb => "MongoDB (SecantusDB on loopback, its speed is not mongod's), w: majority",
    };
    println!("bench jobs: {total} jobs, {concurrency} concurrent loops of enqueue → claim → complete, {durability}");
    println!("  fsync floor of this disk: {:.0} fdatasync/s (300-byte appends)", fsync_rate(dir)?);
    let server =
        (kind == BenchStore::Mongodb).then(|| MongoServer::start(&dir.join("mongodb"), MongoServerOptions::default()));

    for (label, loops) in [("1 loop", 1), ("concurrent", concurrency)] {
        let store: Arc<dyn Store> = match &server {
            None => {
                let path = dir.join(format!("bench-jobs-{loops}.db"));
                Arc::new(SqliteStore::open(&path, SqliteOptions::default(), Arc::new(SystemClock)).await?)
            }
            Some(server) => {
                Arc::new(MongoStore::connect_with_defaults(&server.uri(), &format!("bench_jobs_{loops}")).await?)
            }
        };
        // One loop is measured over fewer jobs: it is fsync-bound and slow by design.
        let jobs = if loops == 1 { (total / 10).max(100) } else { total };
        let remaining = Arc::new(AtomicUsize::new(jobs));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..loops {
            let (store, remaining) = (Arc::clone(&store), Arc::clone(&remaining));
            tasks.push(tokio::spawn(async move {
                let claim = ClaimRequest {
                    node_id: format!("bench-{n}"),
                    incarnation: "bench".into(),
                    kinds: vec![JobKind::Issue],
                    limit: 1,
                    lease: Duration::from_secs(60),
                };
                let mut done = 0usize;
                while remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1)).is_ok() {
                    store.enqueue_job(NewJob::system(JobKind::Issue, 3)).await?;
                    for job in store.claim_jobs(&claim).await? {
                        store.complete_job(&job.lease().expect("claimed"), "done").await?;
                        done += 1;
                    }
                }
                Ok::<usize, anyhow::Error>(done)
            }));
        }
        let mut completed = 0;
        for task in tasks {
            completed += task.await??;
        }
        // Loops may have claimed each other's jobs; finish any stragglers so the count is exact.
        let claim = ClaimRequest {
            node_id: "bench-tail".into(),
            incarnation: "bench".into(),
            kinds: vec![JobKind::Issue],
            limit: 100,
            lease: Duration::from_secs(60),
        };
        loop {
            let jobs = store.claim_jobs(&claim).await?;
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                store.complete_job(&job.lease().expect("claimed"), "done").await?;
                completed += 1;
            }
        }
        let elapsed = start.elapsed();
        println!(
            "  {label:>10}: {completed} jobs in {:.2} s = {:.0} jobs/s (3 durable transactions per job)",
            elapsed.as_secs_f64(),
            completed as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// Appends 300 bytes and fdatasyncs, 500 times: the ceiling for one-commit-at-a-time writers.
fn fsync_rate(dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let line = [b'x'; 300];
    let start = Instant::now();
    for _ in 0..500 {
        file.write_all(&line)?;
        file.sync_data()?;
    }
    let rate = 500.0 / start.elapsed().as_secs_f64();
    std::fs::remove_file(path)?;
    Ok(rate)
}
