//! `certautopilot kek migrate --to file|pkcs11`: moves the store's sealed values from the KEK named
//! in `[kek.previous]` to the configured one, with the same progress line as `kek rotate`, verifies
//! that every data key opens under the new KEK alone, and writes `kek.migrated` to every
//! organization's audit chain. Every refusal (wrong target, nothing to migrate from, a KEK that does
//! not open) happens before anything changes.

use certautopilot_config::Config;
use certautopilot_core::kek_migration::migrate;

use crate::cli::MigrateTarget;
use crate::kek::{chain_recorded, progress_printer, record};
use crate::wiring::{open_envelope, open_store};

pub async fn run(config: &Config, to: MigrateTarget, batch: usize) -> anyhow::Result<()> {
    let configured = crate::wiring::provider_name(&config.kek);
    if configured != to.as_str() {
        let settings = match to {
            MigrateTarget::File => "kek.file_path, made by `certautopilot kek init`",
            MigrateTarget::Pkcs11 => "[kek.pkcs11] module, token_label and pin_env or pin_file",
        };
        anyhow::bail!(
            "--to {}: the configuration has kek.provider = \"{configured}\"; set kek.provider = \"{}\" with its \
             settings ({settings}) and name the KEK the values are sealed under now in [kek.previous] \
             (docs/envelope.md, \"Moving between providers\"); nothing was changed",
            to.as_str(),
            to.as_str()
        );
    }
    if config.kek_previous.is_none() {
        anyhow::bail!(
            "nothing to migrate from: name the KEK the store's values are sealed under now in [kek.previous] \
             (for the development KEK: `[kek.previous]` with `provider = \"dev\"`; docs/envelope.md); \
             nothing was changed"
        );
    }
    let kek = open_envelope(config, &certautopilot_actors::ActorRegistry::new())?;
    let envelope = kek.envelope.clone();
    let store = open_store(config).await?;
    // Every version in use must open with the new or the previous KEK before anything moves: a
    // wrong [kek.previous] is reported here, not half-way through.
    crate::kek_check::require_kek_opens_store(config, store.as_ref(), &envelope).await?;
    let client = kek.client();
    let report = migrate(
        store.as_ref(),
        &envelope,
        batch,
        progress_printer(&client),
        // Lets the crash test slow a migration down enough to kill it mid-way.
        || certautopilot_actors::failpoint::hit("kek.after_batch"),
    )
    .await;
    client.report_rotation(None);
    let report = report?;
    let details = serde_json::json!({
        "from": report.from,
        "to": report.to,
        "version": report.target_version,
        "new_version": report.created_version,
        "rewrapped": report.rewrapped,
        "verified": report.verified,
        "usage_after": report.usage_after,
    });
    record(store.as_ref(), "kek.migrated", details).await?;
    chain_recorded(store.as_ref(), &envelope).await;
    println!(
        "migration to {} complete ({}): {} data keys re-wrapped to KEK version {} in {:.2} s, {} changed meanwhile and left alone; all {} data keys open under {}",
        report.to,
        if report.created_version { "new version" } else { "resumed" },
        report.rewrapped,
        report.target_version,
        report.elapsed.as_secs_f64(),
        report.skipped,
        report.verified,
        report.to
    );
    for (version, count) in &report.usage_after {
        println!("version {version}: {count} data keys");
    }
    println!(
        "the previous KEK ({}) is kept: once every node runs with this configuration, destroy it with \
         `certautopilot kek retire --previous`",
        report.from
    );
    Ok(())
}
