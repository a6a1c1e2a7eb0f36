//! Memory of the actor system at scale: N certificates in the store and M certificate actors active
//! at once (each registered, supervised and idle), measured as this process's resident memory.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_actors::ActorRegistry;
use certautopilot_actors::issuance::{AccountHub, CertificateHub, IssuanceConfig, IssuanceDeps, IssuanceSettings};
use certautopilot_actors::kek::KekService;
use certautopilot_core::crypto::{Envelope, LocalKek};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::store::{PageRequest, prelude::*};
use certautopilot_core::{SystemClock, SystemScope, Timestamp};

use super::issue::rss_kib;

pub async fn run(dir: &Path, certificates: usize, active: usize) -> anyhow::Result<()> {
    println!("bench actors: {certificates} certificates in the store, {active} certificate actors active");
    let path = dir.join(format!("bench-actors-{certificates}.db"));
    let options = SqliteOptions { synchronous: Synchronous::Normal, ..Default::default() };
    let store = Arc::new(SqliteStore::open(&path, options, Arc::new(SystemClock)).await?);
    let started = Instant::now();
    super::renewal_scan::load(store.as_ref(), certificates, 100, Timestamp::now()).await?;
    println!("  loaded in {:.1} s", started.elapsed().as_secs_f64());
    let pid = std::process::id();
    let before = rss_kib(pid).unwrap_or_default();

    let registry = ActorRegistry::new();
    let kek = KekService::start(&registry, "bench", Arc::new(LocalKek::ephemeral()), 10_000);
    let envelope = Envelope::new(Arc::new(kek.client()));
    let timings = IssuanceConfig { passivate_after: Duration::from_secs(3_600), ..Default::default() };
    let settings = IssuanceSettings { timings, ..Default::default() };
    let deps = IssuanceDeps::new(store.clone() as Arc<dyn Store>, envelope, registry.clone(), settings, "bench");
    let arbiter = actix_rt::Arbiter::new();
    let hub = CertificateHub::start(deps.clone(), AccountHub::new(deps, arbiter.handle()), arbiter.handle());

    let system = SystemScope::new("bench");
    let far = Timestamp::now().saturating_add(Duration::from_secs(3_650 * 86_400));
    let mut page = store.certificates_due(&system, far, &PageRequest::first(500)).await?;
    let started = Instant::now();
    let mut activated = 0;
    while activated < active {
        for cert in &page.items {
            if activated == active {
                break;
            }
            hub.actor(cert.id);
            activated += 1;
        }
        match page.next_cursor.clone() {
            Some(cursor) if activated < active => {
                page = store.certificates_due(&system, far, &PageRequest::after(500, cursor)).await?
            }
            _ => break,
        }
    }
    // Every actor has started once its probe left "starting".
    let deadline = Instant::now() + Duration::from_secs(60);
    while registry.list(Some("certificate")).iter().filter(|s| s.state == "idle").count() < activated {
        anyhow::ensure!(Instant::now() < deadline, "actors did not all start within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = rss_kib(pid).unwrap_or_default();
    println!(
        "  {activated} actors started in {:.2} s; live in the hub: {}",
        started.elapsed().as_secs_f64(),
        hub.live_count()
    );
    println!(
        "  resident memory: {:.1} MiB with the store open, {:.1} MiB with the actors ({:.1} KiB per actor)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / activated.max(1) as f64
    );
    hub.stop().await;
    arbiter.stop();
    kek.stop().await;
    Ok(())
}
