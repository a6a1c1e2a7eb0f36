//! KEK benchmarks. `rewrap`: the envelope's re-wrap of one data key (unwrap under v1, wrap under v2,
//! base64 in and out) on one core, beside the raw bound measured in the same run: a loop over the
//! same AES-256-GCM implementation doing unwrap + wrap of a 32-byte key with a fresh random nonce.
//! `rotate`: `kek rotate` end to end over N secrets stored in SQLite, batched transactions included.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use certautopilot_config::{Config, KekConfig};
use certautopilot_core::crypto::{Envelope, KekProvider, LocalKek, SecretBytes, field_aad};
use certautopilot_core::kek_rotation::rotate;
use certautopilot_core::model::{DnsCredential, OrgRole, Organization, Project, Rfc2136Config, SealedSecret, User};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::store::{RecordStore, prelude::*};
use certautopilot_core::{OrgScope, ProjectScope, SystemClock, Timestamp};

pub fn rewrap(count: usize) -> anyhow::Result<()> {
    println!("bench kek rewrap: {count} data keys, one thread");
    // The raw bound: the cipher alone, same crate, same nonce generation.
    let (k1, k2) = (Aes256Gcm::new(&Default::default()), Aes256Gcm::new(&[7u8; 32].into()));
    let aad = field_aad("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "secret");
    let nonce = Nonce::generate();
    let wrapped = k1.encrypt(&nonce, Payload { msg: &[1u8; 32], aad: &aad }).map_err(|_| anyhow::anyhow!("encrypt"))?;
    let start = Instant::now();
    let mut sink = 0u8;
    for _ in 0..count {
        let dek = k1.decrypt(&nonce, Payload { msg: &wrapped, aad: &aad }).map_err(|_| anyhow::anyhow!("decrypt"))?;
        let fresh = Nonce::generate();
        let again = k2.encrypt(&fresh, Payload { msg: &dek, aad: &aad }).map_err(|_| anyhow::anyhow!("encrypt"))?;
        sink ^= again[0];
    }
    let raw = start.elapsed();
    let raw_rate = count as f64 / raw.as_secs_f64();
    println!(
        "  raw AES-256-GCM unwrap + wrap: {raw_rate:.0}/s ({:.2} s){}",
        raw.as_secs_f64(),
        if sink == 255 { " " } else { "" }
    );

    let kek = Arc::new(LocalKek::ephemeral());
    let envelope = Envelope::new(kek.clone());
    let sealed: SealedSecret =
        envelope.seal("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "secret", &SecretBytes::from_text("tsig"))?;
    kek.create_version()?;
    let start = Instant::now();
    for _ in 0..count {
        let again = envelope.rewrap("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "secret", &sealed)?;
        sink ^= again.wrapped_dek.as_bytes()[0];
    }
    let env = start.elapsed();
    let env_rate = count as f64 / env.as_secs_f64();
    println!("  envelope re-wrap (incl. AAD, base64): {env_rate:.0}/s ({:.2} s)", env.as_secs_f64());
    println!("  envelope / raw: {:.2}x slower{}", raw_rate / env_rate, if sink == 255 { " " } else { "" });
    Ok(())
}

pub async fn rotate_end_to_end(dir: &Path, config: &Config, secrets: usize, batch: usize) -> anyhow::Result<()> {
    let provider: Arc<dyn KekProvider> = match &config.kek {
        KekConfig::Pkcs11 { .. } => crate::wiring::open_kek(config)?,
        _ => Arc::new(LocalKek::init(&dir.join("bench-kek.json"))?),
    };
    // Through the KEK actor, as `kek rotate` and the service run it.
    let kek =
        certautopilot_actors::kek::KekService::start(&certautopilot_actors::ActorRegistry::new(), "bench", provider, 0);
    let envelope = Envelope::new(Arc::new(kek.client()));
    println!(
        "bench kek rotate: {secrets} secrets in SQLite, provider {}, batches of {batch}",
        envelope.kek().describe()
    );
    let path = dir.join(format!("bench-kek-{secrets}.db"));
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
    let store = SqliteStore::open(&path, options, Arc::new(SystemClock)).await?;
    let now = Timestamp::now();
    let org = Organization::new("bench", now);
    store.create_organization(&org).await?;
    let owner = User::new(org.id, "bench@example.com", OrgRole::Owner, now);
    let org_scope = OrgScope::for_user(&owner)?;
    store.insert(&org_scope, &owner).await?;
    let project = Project::new(org.id, "p", now);
    store.insert(&org_scope, &project).await?;
    let scope = ProjectScope::for_owner(&owner, &project)?;
    let started = Instant::now();
    let mut made = 0;
    while made < secrets {
        let n = (secrets - made).min(5_000);
        let env = envelope.clone();
        let project_id = project.id;
        let chunk = tokio::task::spawn_blocking(move || {
            (0..n)
                .map(|i| {
                    let mut c = DnsCredential::new(project_id, format!("c{}", made + i), Rfc2136Config::default(), now);
                    c.secret = env.seal(&c.id.to_string(), "secret", &SecretBytes::from_text("s")).ok();
                    c
                })
                .collect::<Vec<_>>()
        })
        .await?;
        store.insert_many(&scope, &chunk).await?;
        made += n;
    }
    println!("  seeded in {:.1} s", started.elapsed().as_secs_f64());
    drop(store);
    // Rotation itself runs with the default durable commits, one transaction per batch.
    let store = SqliteStore::open(&path, SqliteOptions::default(), Arc::new(SystemClock)).await?;
    let calls_before = envelope.kek().token_calls();
    let report = rotate(&store, &envelope, batch, |_| {}, || async {}).await?;
    println!(
        "  kek rotate: {} re-wrapped in {:.2} s = {:.0}/s in {} transactions",
        report.rewrapped,
        report.elapsed.as_secs_f64(),
        report.rewrapped as f64 / report.elapsed.as_secs_f64(),
        report.batches
    );
    if let (Some(before), Some(after)) = (calls_before, envelope.kek().token_calls()) {
        println!(
            "  token calls during the rotation: {} ({:.1} per data key)",
            after - before,
            (after - before) as f64 / report.rewrapped.max(1) as f64
        );
    }
    Ok(())
}
