//! Audit-chain benchmarks, each beside the raw HMAC-SHA256 rate measured in the same run:
//! durable appends committed with their state change (concurrent writers, group commit) while a
//! chain writer (what the AuditActor runs) chains the outbox behind them, and verification of a
//! long chain read back from the store.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use certautopilot_core::audit::{AuditDraft, ChainWriter, verify_chain};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{OrgRole, Organization, Project, User};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::store::{AuditWrite, RecordStore, prelude::*};
use certautopilot_core::{OrgScope, Principal, SystemClock, Timestamp};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub async fn run(dir: &Path, entries: usize, changes: usize, writers: usize) -> anyhow::Result<()> {
    println!("bench audit: {changes} audited changes by {writers} writers; a {entries}-entry chain verified");
    let message = [0x5au8; 300];
    let start = Instant::now();
    let mut acc = 0u8;
    for _ in 0..entries {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[7u8; 32]).expect("any key length");
        mac.update(&message);
        acc ^= mac.finalize().into_bytes()[0];
    }
    let raw = start.elapsed();
    println!(
        "  raw HMAC-SHA256 of {entries} × 300 bytes: {:.3} s ({:.0}/s){}",
        raw.as_secs_f64(),
        entries as f64 / raw.as_secs_f64(),
        if acc == 1 { " " } else { "" }
    );

    let secret = Arc::new(SecretBytes::new(vec![9; 32]));
    let durable = Arc::new(
        SqliteStore::open(dir.join("bench-audit-durable.db"), SqliteOptions::default(), Arc::new(SystemClock)).await?,
    );
    let (org, owner) = organization(&durable).await?;
    let scope = OrgScope::for_user(&owner)?;
    let left = Arc::new(AtomicUsize::new(changes));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers.max(1) {
        let (store, left, scope, org_id) = (durable.clone(), left.clone(), scope.clone(), org.id);
        tasks.push(tokio::spawn(async move {
            while left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                let project = Project::new(org_id, format!("p-{w}-{}", left.load(Ordering::Relaxed)), Timestamp::now());
                store.insert_audited(&scope, &project, AuditWrite { draft: draft(org_id, "project.created") }).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    // The chain writer follows the writers, as the organization's AuditActor does in a service.
    let chainer = {
        let (store, secret, org_id) = (durable.clone(), secret.clone(), org.id);
        tokio::spawn(async move {
            let mut writer = ChainWriter::new(org_id, secret);
            let mut chained = 0;
            while chained < changes as u64 {
                chained += writer.drain(store.as_ref()).await?;
                tokio::task::yield_now().await;
            }
            Ok::<_, anyhow::Error>(writer.stats())
        })
    };
    for t in tasks {
        t.await??;
    }
    let committed = start.elapsed();
    let stats = chainer.await??;
    let chained = start.elapsed();
    println!(
        "  durable appends with their change (synchronous=FULL): {:.0} events/s ({changes} in {:.2} s)",
        changes as f64 / committed.as_secs_f64(),
        committed.as_secs_f64()
    );
    println!(
        "  chained behind them: all {changes} in {:.2} s ({:.0} events/s, {} transactions, {:.0} entries each)",
        chained.as_secs_f64(),
        changes as f64 / chained.as_secs_f64(),
        stats.transactions,
        stats.chained as f64 / stats.transactions.max(1) as f64
    );

    // A long chain: appended with group commit (NORMAL sync for the seeding only), then verified.
    let options = SqliteOptions { synchronous: Synchronous::Normal, max_write_batch: 1_000, ..Default::default() };
    let long = Arc::new(SqliteStore::open(dir.join("bench-audit-chain.db"), options, Arc::new(SystemClock)).await?);
    let (org, owner) = organization(&long).await?;
    let left = Arc::new(AtomicUsize::new(entries));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, left, org_id) = (long.clone(), left.clone(), org.id);
        tasks.push(tokio::spawn(async move {
            while left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                store.append_audit(AuditWrite { draft: draft(org_id, "cert.renewed") }).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let seeded = start.elapsed();
    let start = Instant::now();
    let mut writer = ChainWriter::new(org.id, secret.clone());
    writer.drain(long.as_ref()).await?;
    let took = start.elapsed();
    println!(
        "  seeded {entries} outbox rows in {:.1} s; chained them in {:.2} s ({:.0}/s)",
        seeded.as_secs_f64(),
        took.as_secs_f64(),
        entries as f64 / took.as_secs_f64()
    );
    let start = Instant::now();
    let summary = verify_chain(long.as_ref(), &OrgScope::for_user(&owner)?, &secret, |_| {}).await?;
    let took = start.elapsed();
    println!(
        "  verify {} entries read from the store: {:.2} s ({:.0}/s), {:.1}x the raw HMAC time",
        summary.entries,
        took.as_secs_f64(),
        summary.entries as f64 / took.as_secs_f64(),
        took.as_secs_f64() / raw.as_secs_f64()
    );
    Ok(())
}

async fn organization(store: &SqliteStore) -> anyhow::Result<(Organization, User)> {
    let org = Organization::new("bench", Timestamp::now());
    store.create_organization(&org).await?;
    let owner = User::new(org.id, "bench@example.com", OrgRole::Owner, Timestamp::now());
    store.insert(&OrgScope::for_user(&owner)?, &owner).await?;
    Ok((org, owner))
}

fn draft(org_id: certautopilot_core::OrgId, action: &str) -> AuditDraft {
    AuditDraft {
        org_id,
        actor: Principal::System("bench".into()),
        action: action.into(),
        object: Some(certautopilot_core::model::AuditObject {
            kind: "certificate".into(),
            id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        }),
        project_id: None,
        details: serde_json::json!({ "serial": "04:a3:5c:99:01:bb:7e:22", "not_after": "2027-02-22T10:00:00Z", "names": ["www.example.com", "api.example.com"] }),
    }
}
