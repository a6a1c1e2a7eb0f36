//! `certautopilot kek rotate` and `kek status`: rotation with a progress line (rate and ETA), and
//! the versions in use. Both work beside a running service (SQLite admits several processes).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use certautopilot_config::Config;
use certautopilot_core::kek_rotation::{RotationProgress, rotate};
use certautopilot_core::store::Store;

use crate::wiring::{open_envelope, open_store};

/// What to do: rotate (with this many data keys per transaction) or show the status.
pub enum Action {
    Rotate { batch: usize },
    Status,
    Retire { version: u32 },
}

pub async fn run(config: &Config, action: Action) -> anyhow::Result<()> {
    let envelope = open_envelope(config)?;
    let store = open_store(config).await? as Arc<dyn Store>;
    match action {
        Action::Status => {
            let usage = store.kek_usage().await?;
            println!("provider: {}", envelope.kek().describe());
            println!("current version: {}", envelope.kek().current_version());
            println!("versions held: {:?}", envelope.kek().versions());
            if usage.is_empty() {
                println!("no sealed values yet");
            }
            for (version, count) in &usage {
                println!("version {version}: {count} data keys");
            }
        }
        Action::Retire { version } => {
            let in_use = store.kek_usage().await?.get(&version).copied().unwrap_or(0);
            if in_use > 0 {
                anyhow::bail!(
                    "KEK version {version} still wraps {in_use} data keys; run `certautopilot kek rotate` first"
                );
            }
            envelope.kek().retire_version(version)?;
            record(store.as_ref(), &envelope, "kek.retired", serde_json::json!({ "version": version })).await?;
            println!("KEK version {version} retired; versions held: {:?}", envelope.kek().versions());
        }
        Action::Rotate { batch } => {
            let terminal = std::io::stderr().is_terminal();
            let mut last = Instant::now() - Duration::from_secs(10);
            let report = rotate(store.as_ref(), &envelope, batch, |p: &RotationProgress| {
                // Redraw at most a few times a second; one line every couple of seconds when logged.
                let every = if terminal { Duration::from_millis(200) } else { Duration::from_secs(2) };
                if last.elapsed() >= every || p.done >= p.total {
                    last = Instant::now();
                    let eta = p.eta().map(|e| format!("{:.0} s", e.as_secs_f64())).unwrap_or_else(|| "?".into());
                    let line = format!(
                        "re-wrapped {}/{} ({:.0} %) to KEK version {}, {:.0}/s, ETA {eta}",
                        p.done,
                        p.total,
                        100.0 * p.done as f64 / p.total.max(1) as f64,
                        p.target_version,
                        p.rate()
                    );
                    if terminal {
                        eprint!("\r{line}   ");
                    } else {
                        eprintln!("{line}");
                    }
                    let _ = std::io::stderr().flush();
                }
            })
            .await?;
            if terminal {
                eprintln!();
            }
            let details = serde_json::json!({
                "version": report.target_version,
                "new_version": report.created_version,
                "rewrapped": report.rewrapped,
                "usage_after": report.usage_after,
            });
            record(store.as_ref(), &envelope, "kek.rotated", details).await?;
            println!(
                "rotation to KEK version {} complete ({}): {} data keys re-wrapped in {:.2} s ({:.0}/s), {} changed meanwhile and left alone",
                report.target_version,
                if report.created_version { "new version" } else { "resumed" },
                report.rewrapped,
                report.elapsed.as_secs_f64(),
                report.rewrapped as f64 / report.elapsed.as_secs_f64().max(1e-9),
                report.skipped
            );
            for (version, count) in &report.usage_after {
                println!("version {version}: {count} data keys");
            }
        }
    }
    Ok(())
}

/// Appends a KEK event to every organization's chain: the KEK is shared by all of them.
async fn record(
    store: &dyn Store,
    envelope: &certautopilot_core::crypto::Envelope,
    action: &str,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    for org in store.list_organizations().await? {
        let Some(sealed) = &org.audit_secret else { continue };
        let secret = Arc::new(envelope.open(&org.id.to_string(), crate::api::AUDIT_SECRET_FIELD, sealed)?);
        let draft = certautopilot_core::audit::AuditDraft {
            org_id: org.id,
            actor: certautopilot_core::Principal::System("kek".into()),
            action: action.into(),
            object: None,
            project_id: None,
            details: details.clone(),
        };
        store.append_audit(certautopilot_core::store::AuditWrite { secret, draft }).await?;
    }
    Ok(())
}
