//! `certautopilot kek rotate`, `kek status` and `kek retire`: rotation with a progress line (rate
//! and ETA), the versions in use, and destroying old keys. All work beside a running service
//! (SQLite admits several processes); `kek migrate` lives in `kek_migrate.rs`. The scheduled
//! rotation (job handler and timer) lives in the actors crate (`kek::rotation_job`, the Scheduler).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use certautopilot_config::Config;
use certautopilot_core::crypto::Envelope;
use certautopilot_core::kek_check::{SAMPLE_PER_VERSION, check_store_opens};
use certautopilot_core::kek_rotation::{RotationProgress, rotate};
use certautopilot_core::store::Store;

use crate::wiring::{open_envelope, open_store};
use certautopilot_actors::kek::KekClient;
use certautopilot_actors::kek::rotation_job::record_kek_event;

/// What to do: rotate (with this many data keys per transaction) or show the status.
pub enum Action {
    Rotate { batch: usize },
    Status,
    Retire { version: u32, settle: Duration },
    RetirePrevious { settle: Duration },
}

pub async fn run(config: &Config, action: Action) -> anyhow::Result<()> {
    let kek = open_envelope(config, &certautopilot_actors::ActorRegistry::new())?;
    let envelope = kek.envelope.clone();
    let store = open_store(config).await?;
    match action {
        Action::Status => {
            let usage = store.kek_usage().await?;
            println!("provider: {}", envelope.kek().describe());
            println!("current version: {}", envelope.kek().current_version());
            println!("versions held: {:?}", envelope.kek().versions());
            if let Some((previous, versions)) = envelope.kek().previous() {
                println!("previous provider: {previous}, versions {versions:?} (kept until `kek retire --previous`)");
            }
            if usage.is_empty() {
                println!("no sealed values yet");
            }
            for (version, count) in &usage {
                println!("version {version}: {count} data keys");
            }
            // The trap of issue 15 looked healthy here: say whether the values actually open.
            match check_store_opens(store.as_ref(), &envelope, SAMPLE_PER_VERSION).await {
                Ok(opened) => println!("check: the sampled values of every version open ({opened} opened)"),
                Err(e) => anyhow::bail!("{}", crate::kek_check::explain(config, &e)),
            }
        }
        Action::RetirePrevious { settle } => retire_previous(store.as_ref(), &envelope, settle).await?,
        Action::Retire { version, settle } => {
            if version == envelope.kek().current_version() {
                anyhow::bail!("KEK version {version} is the current one and cannot be retired");
            }
            let in_use = |usage: std::collections::BTreeMap<u32, u64>| usage.get(&version).copied().unwrap_or(0);
            let before = in_use(store.kek_usage().await?);
            if before > 0 {
                anyhow::bail!(
                    "KEK version {version} still wraps {before} data keys; run `certautopilot kek rotate` first"
                );
            }
            // Running services learn of a new version within seconds (file: on their next wrap;
            // PKCS#11: every 5 s); a write they began before that could still land an old wrap.
            // Wait that out and look again before destroying anything.
            eprintln!("waiting {settle:?} for running services to stop using KEK version {version} …");
            tokio::time::sleep(settle).await;
            let after = in_use(store.kek_usage().await?);
            if after > 0 {
                anyhow::bail!(
                    "KEK version {version} came back into use ({after} data keys) while settling; run `certautopilot kek rotate` again"
                );
            }
            envelope.kek().retire_version(version)?;
            record(store.as_ref(), "kek.retired", serde_json::json!({ "version": version })).await?;
            chain_recorded(store.as_ref(), &envelope).await;
            println!("KEK version {version} retired; versions held: {:?}", envelope.kek().versions());
        }
        Action::Rotate { batch } => {
            // Rotating a store this KEK cannot open would make a version that collides (issue 15).
            crate::kek_check::require_kek_opens_store(config, store.as_ref(), &envelope).await?;
            let client = kek.client();
            let report = rotate(
                store.as_ref(),
                &envelope,
                batch,
                progress_printer(&client),
                // Lets the crash test slow a rotation down enough to kill it mid-way on a busy machine.
                || certautopilot_actors::failpoint::hit("kek.after_batch"),
            )
            .await;
            client.report_rotation(None);
            let report = report?;
            if std::io::stderr().is_terminal() {
                eprintln!();
            }
            let details = serde_json::json!({
                "version": report.target_version,
                "new_version": report.created_version,
                "rewrapped": report.rewrapped,
                "usage_after": report.usage_after,
            });
            record(store.as_ref(), "kek.rotated", details).await?;
            chain_recorded(store.as_ref(), &envelope).await;
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

/// The progress line of `kek rotate` and `kek migrate` (done/total, rate, ETA), redrawn at most a few
/// times a second on a terminal and every couple of seconds in a log; also published to the actor.
pub(crate) fn progress_printer(client: &KekClient) -> impl FnMut(&RotationProgress) + use<> {
    let terminal = std::io::stderr().is_terminal();
    let mut last = Instant::now() - Duration::from_secs(10);
    let client = client.clone();
    move |p: &RotationProgress| {
        client.report_rotation(Some(p.into()));
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
    }
}

/// `kek retire --previous`: destroys the previous provider's keys once no data key is wrapped by a
/// version it holds, checked twice around a settle time as for a single version.
async fn retire_previous(store: &dyn Store, envelope: &Envelope, settle: Duration) -> anyhow::Result<()> {
    let Some((previous, versions)) = envelope.kek().previous() else {
        anyhow::bail!("no previous KEK is configured ([kek.previous]); nothing to retire");
    };
    let in_use = |usage: std::collections::BTreeMap<u32, u64>| -> u64 {
        usage.iter().filter(|(v, _)| versions.contains(v)).map(|(_, n)| *n).sum()
    };
    let before = in_use(store.kek_usage().await?);
    if before > 0 {
        anyhow::bail!(
            "the previous KEK ({previous}) still wraps {before} data keys; run `certautopilot kek migrate` first"
        );
    }
    eprintln!("waiting {settle:?} for running services to stop using the previous KEK …");
    tokio::time::sleep(settle).await;
    let after = in_use(store.kek_usage().await?);
    if after > 0 {
        anyhow::bail!(
            "the previous KEK ({previous}) came back into use ({after} data keys) while settling; is a node still running without [kek.previous] moved to [kek]? Run `certautopilot kek migrate` again"
        );
    }
    let destroyed = envelope.kek().retire_previous()?;
    record(store, "kek.retired", serde_json::json!({ "previous": previous, "versions": destroyed })).await?;
    chain_recorded(store, envelope).await;
    println!(
        "previous KEK {previous} destroyed (versions {destroyed:?}); remove [kek.previous] from the configuration of every node"
    );
    Ok(())
}

/// Writes a KEK event for every organization (the KEK is shared by all of them) to its outbox.
pub(crate) async fn record(store: &dyn Store, action: &str, details: serde_json::Value) -> anyhow::Result<()> {
    Ok(record_kek_event(store, action, details).await?)
}

/// Chains the event just recorded. The KEK work is done and recorded by now, so a failure here is a
/// warning, not the command's failure: a retried `kek rotate` would make yet another version.
pub(crate) async fn chain_recorded(store: &dyn Store, envelope: &Envelope) {
    if let Err(e) = crate::audit::chain_outbox(store, envelope).await {
        tracing::warn!(error = %e, "the event is recorded in the audit outbox but not chained yet; a running service chains it");
    }
}
