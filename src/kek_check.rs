//! Refusing to run with a KEK that cannot open the store (issue 15): `serve` and the commands that
//! open sealed values check a sample per KEK version first, and say which KEK and version is missing
//! and what to do, instead of failing every login with 500. When the dev KEK beside the data opens
//! the values, the message gives the exact `[kek.previous]` + `kek migrate` steps.

use std::sync::Arc;

use certautopilot_config::{Config, KekConfig};
use certautopilot_core::crypto::{Envelope, LocalKek, LocalKekKind};
use certautopilot_core::kek_check::{KekCheckError, SAMPLE_PER_VERSION, check_store_opens};
use certautopilot_core::store::Store;

/// Fails, with the cause and the way out, when the configured KEK cannot open the store's values.
pub async fn require_kek_opens_store(config: &Config, store: &dyn Store, envelope: &Envelope) -> anyhow::Result<()> {
    match check_store_opens(store, envelope, SAMPLE_PER_VERSION).await {
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!("{}", explain(config, &e))),
    }
}

/// The check's finding followed by what the operator can do about it.
pub fn explain(config: &Config, e: &KekCheckError) -> String {
    let to = crate::wiring::provider_name(&config.kek);
    let hint = match e {
        _ if dev_kek_opens(config, e) => format!(
            "they open with the dev KEK at {}: this installation ran with the dev KEK. Move them to the \
             configured KEK: add `[kek.previous]` with `provider = \"dev\"` to the configuration and run \
             `certautopilot kek migrate --to {to}` (docs/envelope.md, \"Moving between providers\")",
            config.node.data_dir.join("dev-kek.json").display()
        ),
        KekCheckError::MissingVersion { .. } => format!(
            "if another node rotated the KEK, give this node the same key file or token; if the values were \
             sealed under another KEK provider, name it in [kek.previous] and run \
             `certautopilot kek migrate --to {to}` (docs/envelope.md)"
        ),
        KekCheckError::WrongKey { .. } => format!(
            "name the KEK they were sealed under in [kek.previous] and run `certautopilot kek migrate --to {to}` \
             (docs/envelope.md)"
        ),
        KekCheckError::Unavailable { .. } | KekCheckError::Store(_) => return e.to_string(),
    };
    format!("{e}; {hint}")
}

/// Whether the dev KEK under the data directory (if there is one, and it is not already in use)
/// opens the value the check could not: the trap of issue 15.
fn dev_kek_opens(config: &Config, e: &KekCheckError) -> bool {
    let Some(row) = e.sample() else { return false };
    let uses_dev = |k: &KekConfig| matches!(k, KekConfig::Dev { .. });
    if uses_dev(&config.kek) || config.kek_previous.as_ref().is_some_and(uses_dev) {
        return false;
    }
    let path = config.node.data_dir.join("dev-kek.json");
    let Ok(dev) = LocalKek::load(&path, LocalKekKind::Dev) else { return false };
    Envelope::new(Arc::new(dev)).open(&row.key.record_id, &row.key.field, &row.secret).is_ok()
}
