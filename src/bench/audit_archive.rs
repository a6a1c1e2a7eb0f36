//! Audit retention at scale: a chain of `entries` (chained straight into the store), all but `live`
//! of them moved into archive segments by the archiver the scheduler runs, with the time and the
//! peak memory of that; then verification from the checkpoint and the mark (what `audit verify`
//! does by default), and the full walk of the archives in entries per second.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use certautopilot_actors::audit_archive::{ArchiveSettings, archive_once};
use certautopilot_core::audit::{
    AuditDraft, ChainHead, Checkpoint, record_mark, seal_entry, verify_archives, verify_from_mark,
};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::Organization;
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::{OrgScope, Principal, Store, SystemClock, Timestamp};

/// Entries chained per store transaction while seeding.
const SEED_BATCH: usize = 10_000;

pub async fn run(dir: &Path, entries: u64, live: u64, segment: u64) -> anyhow::Result<()> {
    anyhow::ensure!(live >= 1 && live < entries, "--live must be at least 1 and below --entries");
    println!("bench audit-archive: a {entries}-entry chain, all but {live} archived in segments of {segment}");
    let options = SqliteOptions { synchronous: Synchronous::Normal, max_write_batch: 1_000, ..Default::default() };
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.join("bench-audit-archive.db"), options, Arc::new(SystemClock)).await?);
    let secret = SecretBytes::new(vec![9; 32]);
    let mut org = Organization::new("bench", Timestamp::now());
    org.audit_retention_days = Some(0);
    store.create_organization(&org).await?;
    let scope = OrgScope::for_system("bench", &org);

    let start = Instant::now();
    let mut head: Option<ChainHead> = None;
    let mut seq = 0;
    let old = Timestamp::from_unix_millis(Timestamp::now().as_unix_millis() - 86_400_000);
    while seq < entries {
        let mut batch = Vec::with_capacity(SEED_BATCH);
        while batch.len() < SEED_BATCH && seq < entries {
            let entry = seal_entry(&secret, head.as_ref(), draft(&org), old);
            head = Some(ChainHead { seq: entry.seq, hmac: entry.hmac.clone() });
            seq = entry.seq;
            batch.push(entry);
        }
        store.chain_audit(batch, Vec::new()).await?;
    }
    println!("  seeded {entries} chained entries in {:.1} s", start.elapsed().as_secs_f64());
    let head = head.expect("entries were seeded");
    record_mark(store.as_ref(), &scope, &secret, (head.seq, &head.hmac), Timestamp::now()).await?;

    // --- archiving: what the verifier's archiver does, step after step, until only `live` remain.
    let archive = dir.join("audit-archive");
    let settings = ArchiveSettings { dir: archive.clone(), siem_destinations: Vec::new(), max_entries: segment };
    let through = entries - live;
    reset_peak_memory();
    let rss_before = memory_kib("VmRSS:");
    let start = Instant::now();
    let mut archived = 0;
    while archived < through {
        let limit = archived + segment.min(through - archived);
        let done = archive_once(&store, &org, &secret, limit, &settings, Timestamp::now()).await?;
        anyhow::ensure!(done.entries > 0, "the archiver stopped at {archived} of {through}");
        archived += done.entries;
    }
    let took = start.elapsed();
    println!(
        "  archived {archived} entries in {:.1} s ({:.0} entries/s), peak memory {} MiB (RSS {} MiB before)",
        took.as_secs_f64(),
        archived as f64 / took.as_secs_f64(),
        memory_kib("VmHWM:") / 1024,
        rss_before / 1024
    );
    // The verifier chains its own `audit.archived` entries past the head in a service; here they wait
    // in the outbox, and the live chain is the `live` entries after the checkpoint.

    // --- verify from the checkpoint and the mark (the default), then the whole archive.
    let start = Instant::now();
    let found = verify_from_mark(store.as_ref(), &scope, &secret, |_| {}).await?;
    println!(
        "  audit verify (from the checkpoint and the mark): {:.1} ms, {} entries read of {}",
        start.elapsed().as_secs_f64() * 1_000.0,
        found.checked,
        found.entries
    );
    let checkpoint = store.audit_checkpoint(org.id).await?.and_then(|doc| Checkpoint::from_json(&doc));
    let start = Instant::now();
    let walked = verify_archives(&archive, org.id, &secret, checkpoint.as_ref(), |_| {})
        .map_err(|e| anyhow::anyhow!("archives: {e}"))?;
    let took = start.elapsed();
    println!(
        "  audit verify --archives: {} segments, {} entries in {:.1} s ({:.0} entries/s)",
        walked.segments,
        walked.entries,
        took.as_secs_f64(),
        walked.entries as f64 / took.as_secs_f64()
    );
    Ok(())
}

fn draft(org: &Organization) -> AuditDraft {
    AuditDraft {
        org_id: org.id,
        actor: Principal::System("bench".into()),
        action: "cert.renewed".into(),
        object: Some(certautopilot_core::model::AuditObject {
            kind: "certificate".into(),
            id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        }),
        project_id: None,
        details: serde_json::json!({ "serial": "04:a3:5c:99:01:bb:7e:22", "not_after": "2027-02-22T10:00:00Z" }),
    }
}

/// A line of /proc/self/status in KiB (0 where there is none).
fn memory_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Starts the peak-memory count (VmHWM) over from the current RSS, so the archiving step's peak is
/// measured apart from the seeding's.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
