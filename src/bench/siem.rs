//! SIEM forwarding throughput: N audit events committed first, then the time for one forwarder to
//! deliver them all to a running receiver (start rsyslog yourself; see docs/audit.md).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_actors::siem_forwarder::{SiemDestination, SiemForwarder};
use certautopilot_connectors::siem::{SiemFormat, SiemTransport};
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AuditObject, Organization};
use certautopilot_core::store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use certautopilot_core::store::{AuditWrite, prelude::*};
use certautopilot_core::{Principal, SystemClock, Timestamp};

pub async fn run(dir: &Path, address: SocketAddr, transport: &str, events: usize, batch: usize) -> anyhow::Result<()> {
    let transport = match transport {
        "udp" => SiemTransport::Udp(address),
        "tcp" => SiemTransport::Tcp(address),
        "relp" => SiemTransport::Relp(address),
        other => anyhow::bail!("--transport must be udp, tcp or relp, not {other:?}"),
    };
    let options = SqliteOptions { synchronous: Synchronous::Normal, max_write_batch: 1_000, ..Default::default() };
    let store = Arc::new(SqliteStore::open(dir.join("bench-siem.db"), options, Arc::new(SystemClock)).await?);
    let org = Organization::new("bench", Timestamp::now());
    store.create_organization(&org).await?;
    let secret = Arc::new(SecretBytes::new(vec![1; 32]));
    let mut tasks = Vec::new();
    for t in 0..32 {
        let (store, org_id) = (store.clone(), org.id);
        let share = events / 32 + usize::from(t < events % 32);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let draft = AuditDraft {
                    org_id,
                    actor: Principal::System("bench".into()),
                    action: "cert.renewed".into(),
                    object: Some(AuditObject { kind: "certificate".into(), id: format!("c{t}-{i}") }),
                    project_id: None,
                    details: serde_json::json!({ "serial": "04:a3:5c:99:01:bb:7e:22", "names": ["www.example.com"] }),
                };
                store.append_audit(AuditWrite { draft }).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    certautopilot_core::audit::ChainWriter::new(org.id, secret).drain(store.as_ref()).await?;
    println!("bench siem: {events} events to {address} over {transport:?}, batches of {batch}");
    let destination =
        SiemDestination { name: "bench".into(), format: SiemFormat::Rfc5424, transport, batch, backlog_warn: u64::MAX };
    let started = Instant::now();
    let forwarder = SiemForwarder::new(store.clone(), destination, "bench")
        .start(&certautopilot_actors::ActorRegistry::new(), &actix_rt::Arbiter::current());
    while forwarder.snapshot().sent < events as u64 {
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("not delivered within 10 minutes: {:?}", forwarder.snapshot());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    let snapshot = forwarder.snapshot();
    forwarder.shutdown().await;
    println!(
        "  delivered {} in {:.2} s = {:.0} events/s ({} failed batches)",
        snapshot.sent,
        took.as_secs_f64(),
        snapshot.sent as f64 / took.as_secs_f64(),
        snapshot.failed_batches
    );
    Ok(())
}
