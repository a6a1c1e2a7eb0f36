//! The renewal scan at scale: N issued certificates spread over P projects, then the query the
//! scheduler runs ("due before T, oldest first, page of 500") timed at several T and page depths.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_core::model::{Certificate, KeyType, OrgRole, Organization, Project, User};
use certautopilot_core::store::mongodb::MongoStore;
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::store::{PageRequest, RecordStore, prelude::*};
use certautopilot_core::testsupport::{MongoServer, MongoServerOptions};
use certautopilot_core::{AcmeAccountId, OrgScope, ProjectScope, SystemClock, SystemScope, Timestamp};

use super::backend::BenchStore;
use super::{millis, percentile};

const DAY: Duration = Duration::from_secs(86_400);
const INSERT_BATCH: usize = 5_000;

pub async fn run(dir: &Path, certificates: usize, projects: usize, kind: BenchStore) -> anyhow::Result<()> {
    match kind {
        BenchStore::Sqlite => run_sqlite(dir, certificates, projects).await,
        BenchStore::Mongodb => run_mongodb(dir, certificates, projects).await,
    }
}

async fn run_sqlite(dir: &Path, certificates: usize, projects: usize) -> anyhow::Result<()> {
    let path = dir.join(format!("bench-scan-{certificates}.db"));
    let reuse = path.exists();
    // Loading is not what is measured: NORMAL skips an fsync per batch. The queries read either way.
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
    let store = Arc::new(SqliteStore::open(&path, options, Arc::new(SystemClock)).await?);
    let base = Timestamp::now();
    if reuse {
        println!("bench renewal-scan: reusing {}", path.display());
    } else {
        timed_load(store.as_ref(), certificates, projects, base).await?;
    }
    drop(store);
    let store = SqliteStore::open(&path, SqliteOptions::default(), Arc::new(SystemClock)).await?;

    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "  database size: {:.1} MiB = {:.0} bytes per certificate",
        size as f64 / 1_048_576.0,
        size as f64 / certificates as f64
    );
    measure(&store, base).await
}

/// The same load and queries on a MongoDB-protocol server of the bench's own (SecantusDB, a Python
/// server on WiredTiger: its absolute speed is not mongod's; the query plan and round trips are).
async fn run_mongodb(dir: &Path, certificates: usize, projects: usize) -> anyhow::Result<()> {
    let server = MongoServer::start(&dir.join("mongodb"), MongoServerOptions::default());
    let store = MongoStore::connect_with_defaults(&server.uri(), "bench_scan").await?;
    println!("bench renewal-scan: on MongoDB (SecantusDB on loopback; its speed is not mongod's)");
    let base = Timestamp::now();
    timed_load(&store, certificates, projects, base).await?;
    measure(&store, base).await
}

async fn timed_load(store: &dyn Store, certificates: usize, projects: usize, base: Timestamp) -> anyhow::Result<()> {
    println!("bench renewal-scan: loading {certificates} issued certificates into {projects} projects …");
    let started = Instant::now();
    load(store, certificates, projects.max(1), base).await?;
    println!(
        "  loaded in {:.1} s ({:.0} certificates/s)",
        started.elapsed().as_secs_f64(),
        certificates as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The scheduler's query at several instants and page depths.
async fn measure(store: &dyn Store, base: Timestamp) -> anyhow::Result<()> {
    let system = SystemScope::new("bench");
    // Windows are spread over 365 days from `base`: T at 1 %, 10 %, 50 % and 100 % of the year.
    for fraction in [0.01, 0.10, 0.50, 1.0] {
        let before = base.saturating_add(DAY.mul_f64(365.0 * fraction));
        let mut samples = Vec::new();
        let mut returned = 0;
        for _ in 0..30 {
            let start = Instant::now();
            let page = store.certificates_due(&system, before, &PageRequest::first(500)).await?;
            samples.push(start.elapsed());
            returned = page.items.len();
        }
        samples.sort();
        println!(
            "  due before +{:>3.0} days, first page: {returned} rows, p50 {} p99 {} max {}",
            365.0 * fraction,
            millis(percentile(&samples, 50.0)),
            millis(percentile(&samples, 99.0)),
            millis(*samples.last().unwrap_or(&Duration::ZERO))
        );
    }
    // A deep page: walk 20 pages in, then time the next ones.
    let before = base.saturating_add(DAY * 365);
    let mut page = store.certificates_due(&system, before, &PageRequest::first(500)).await?;
    for _ in 0..20 {
        let Some(cursor) = page.next_cursor.clone() else { break };
        page = store.certificates_due(&system, before, &PageRequest::after(500, cursor)).await?;
    }
    let mut samples = Vec::new();
    for _ in 0..30 {
        let Some(cursor) = page.next_cursor.clone() else { break };
        let start = Instant::now();
        page = store.certificates_due(&system, before, &PageRequest::after(500, cursor)).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "  deeper pages (cursor 21+): p50 {} p99 {}",
        millis(percentile(&samples, 50.0)),
        millis(percentile(&samples, 99.0))
    );
    Ok(())
}

pub(super) async fn load(
    store: &dyn Store,
    certificates: usize,
    projects: usize,
    base: Timestamp,
) -> anyhow::Result<()> {
    let org = Organization::new("bench", base);
    store.create_organization(&org).await?;
    let owner = User::new(org.id, "bench@example.com", OrgRole::Owner, base);
    let org_scope = OrgScope::for_user(&owner)?;
    store.insert(&org_scope, &owner).await?;
    let mut scopes = Vec::new();
    for p in 0..projects {
        let project = Project::new(org.id, format!("project-{p}"), base);
        store.insert(&org_scope, &project).await?;
        scopes.push(ProjectScope::for_owner(&owner, &project)?);
    }
    let account = AcmeAccountId::new();
    let per_project = certificates.div_ceil(projects);
    let mut made = 0;
    for (p, scope) in scopes.iter().enumerate() {
        let mut left = per_project.min(certificates - made);
        while left > 0 {
            let n = left.min(INSERT_BATCH);
            let batch: Vec<Certificate> = (0..n)
                .map(|i| {
                    let k = made + i;
                    let name = format!("host{k}.p{p}.example.com");
                    let mut cert = Certificate::new(
                        scope.project_id(),
                        &name,
                        vec![name.clone()],
                        KeyType::EcdsaP256,
                        account,
                        base,
                    );
                    // Renewal windows spread evenly over the next year (pseudo-random but reproducible).
                    let offset = DAY.mul_f64(((k as u64).wrapping_mul(2_654_435_761) % 365_000) as f64 / 1_000.0);
                    let not_before = base.saturating_add(offset).saturating_sub(DAY * 60);
                    cert.mark_issued(
                        format!("{k:032x}"),
                        not_before,
                        not_before.saturating_add(DAY * 90),
                        format!("{k:064x}"),
                    );
                    cert
                })
                .collect();
            store.insert_many(scope, &batch).await?;
            made += n;
            left -= n;
            if made % 100_000 < INSERT_BATCH {
                println!("  … {made} certificates");
            }
        }
    }
    Ok(())
}
