//! `[kek]`: the KEK provider, its rotation and cache, and `[kek.previous]`, the provider the store's
//! values are sealed under while `kek migrate` moves them to the one `[kek]` configures (kept until
//! `kek retire --previous`). Both provider settings are validated by one function under their prefix.
//! Invariant: a validated provider setting is complete, and a previous provider is never the same
//! key as the current one (a migration onto itself would "verify" without moving anything).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::{Section, in_range};
use crate::error::ConfigError;
use crate::raw::{KekProviderKind, RawKek, RawKekPrevious, RawPkcs11};

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum KekConfig {
    Dev { path: PathBuf },
    File { path: PathBuf },
    Pkcs11 { module: PathBuf, token_label: String, pin: PinSource },
}

/// Where the PKCS#11 user PIN is read from at start.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinSource {
    Env(String),
    File(PathBuf),
}

impl From<&KekConfig> for RawKekPrevious {
    fn from(kek: &KekConfig) -> Self {
        match kek {
            KekConfig::Dev { .. } => {
                RawKekPrevious { provider: KekProviderKind::Dev, file_path: None, pkcs11: RawPkcs11::default() }
            }
            KekConfig::File { path } => RawKekPrevious {
                provider: KekProviderKind::File,
                file_path: Some(path.display().to_string()),
                pkcs11: RawPkcs11::default(),
            },
            KekConfig::Pkcs11 { module, token_label, pin } => RawKekPrevious {
                provider: KekProviderKind::Pkcs11,
                file_path: None,
                pkcs11: RawPkcs11 {
                    module: Some(module.display().to_string()),
                    token_label: Some(token_label.clone()),
                    pin_env: match pin {
                        PinSource::Env(v) => Some(v.clone()),
                        PinSource::File(_) => None,
                    },
                    pin_file: match pin {
                        PinSource::File(f) => Some(f.display().to_string()),
                        PinSource::Env(_) => None,
                    },
                },
            },
        }
    }
}

/// `[kek]` validated: the provider, and the settings around it.
pub(crate) struct KekSection {
    pub kek: KekConfig,
    /// `[kek.previous]`, while `kek migrate` moves values away from it.
    pub previous: Option<KekConfig>,
    pub rotate_every: Option<Duration>,
    pub cache_entries: usize,
}

impl RawKek {
    pub(crate) fn validate(self, prefix: Section<'_>, data_dir: &Path) -> Result<KekSection, ConfigError> {
        let rotate_every = match in_range(prefix.key("rotate_every_days"), u64::from(self.rotate_every_days), 0, 3_650)?
        {
            0 => None,
            days => Some(Duration::from_secs(days * 86_400)),
        };
        let cache_entries =
            in_range(prefix.key("cache_entries"), u64::from(self.cache_entries), 0, 10_000_000)? as usize;
        let kek = validate_provider(prefix, self.provider, self.file_path, self.pkcs11, data_dir)?;
        let previous_key = prefix.key("previous");
        let previous = validate_previous(self.previous, Section(&previous_key), data_dir, &kek)?;
        Ok(KekSection { kek, previous, rotate_every, cache_entries })
    }
}

/// One provider setting (`[kek]` or `[kek.previous]`, named by `prefix`): the settings of the chosen
/// provider are complete, and those of the others are absent.
fn validate_provider(
    prefix: Section<'_>,
    provider: KekProviderKind,
    file_path: Option<String>,
    p: RawPkcs11,
    data_dir: &Path,
) -> Result<KekConfig, ConfigError> {
    let with = |kind: &str| format!("{} = \"{kind}\"", prefix.key("provider"));
    let pkcs11_set = p.module.is_some() || p.token_label.is_some() || p.pin_env.is_some() || p.pin_file.is_some();
    if provider != KekProviderKind::Pkcs11 && pkcs11_set {
        return Err(ConfigError::invalid(prefix.key("pkcs11"), "…", format!("only applies with {}", with("pkcs11"))));
    }
    Ok(match (provider, file_path) {
        (KekProviderKind::Dev, None) => KekConfig::Dev { path: data_dir.join("dev-kek.json") },
        (KekProviderKind::File, Some(path)) if !path.trim().is_empty() => KekConfig::File { path: PathBuf::from(path) },
        (KekProviderKind::File, _) => {
            return Err(ConfigError::invalid(
                prefix.key("file_path"),
                "\"\"",
                format!("is required with {}", with("file")),
            ));
        }
        (_, Some(path)) => {
            return Err(ConfigError::invalid(
                prefix.key("file_path"),
                path,
                format!("only applies with {}", with("file")),
            ));
        }
        (KekProviderKind::Pkcs11, None) => {
            let required = |name: &str, value: Option<String>| {
                value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    ConfigError::invalid(prefix.key(name), "\"\"", format!("is required with {}", with("pkcs11")))
                })
            };
            let module = required("pkcs11.module", p.module)?;
            let token_label = required("pkcs11.token_label", p.token_label)?;
            let pin = match (p.pin_env, p.pin_file) {
                (Some(var), None) if !var.trim().is_empty() => PinSource::Env(var),
                (None, Some(file)) if !file.trim().is_empty() => PinSource::File(PathBuf::from(file)),
                _ => {
                    return Err(ConfigError::invalid(
                        prefix.key("pkcs11.pin_env"),
                        "…",
                        format!(
                            "exactly one of {} and {} is required",
                            prefix.key("pkcs11.pin_env"),
                            prefix.key("pkcs11.pin_file")
                        ),
                    ));
                }
            };
            KekConfig::Pkcs11 { module: PathBuf::from(module), token_label, pin }
        }
    })
}

/// Validates `[kek.previous]` (named by `prefix`) against the current provider `current`.
fn validate_previous(
    raw: Option<RawKekPrevious>,
    prefix: Section<'_>,
    data_dir: &Path,
    current: &KekConfig,
) -> Result<Option<KekConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let previous = validate_provider(prefix, raw.provider, raw.file_path, raw.pkcs11, data_dir)?;
    let same = match (&previous, current) {
        (KekConfig::Dev { .. }, KekConfig::Dev { .. }) => true,
        (KekConfig::File { path: a }, KekConfig::File { path: b }) => a == b,
        (
            KekConfig::Pkcs11 { module: m1, token_label: t1, .. },
            KekConfig::Pkcs11 { module: m2, token_label: t2, .. },
        ) => m1 == m2 && t1 == t2,
        _ => false,
    };
    if same {
        return Err(ConfigError::invalid(
            prefix.0,
            "the current provider",
            "must name the KEK the values are sealed under now, not the one [kek] configures",
        ));
    }
    Ok(Some(previous))
}

#[cfg(test)]
mod tests {
    use crate::kek::KekConfig;

    fn load(text: &str) -> Result<crate::Config, crate::ConfigError> {
        crate::load_from_str(text, std::path::Path::new("test.toml"), Vec::new())
    }

    /// A previous provider is read in full (the dev KEK's path follows `node.data_dir`), survives the
    /// round trip `config check` prints, and incomplete or self-referring settings name their key.
    #[test]
    fn previous_provider_is_validated_and_named_by_key() {
        let config = load(
            "[node]\ndata_dir = \"/var/lib/cap\"\n[kek]\nprovider = \"file\"\nfile_path = \"/etc/kek.json\"\n[kek.previous]\nprovider = \"dev\"\n",
        )
        .unwrap();
        assert!(
            matches!(&config.kek_previous, Some(KekConfig::Dev { path }) if path == std::path::Path::new("/var/lib/cap/dev-kek.json"))
        );
        let raw = crate::RawConfig::from(&config);
        assert!(raw.kek.previous.is_some());
        assert!(load("[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n").unwrap().kek_previous.is_none());
        for (text, key) in [
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"file\"\n",
                "kek.previous.file_path",
            ),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"file\"\nfile_path = \"/k\"\n",
                "kek.previous",
            ),
            ("[kek.previous]\nprovider = \"dev\"\n", "kek.previous"),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"pkcs11\"\n",
                "kek.previous.pkcs11.module",
            ),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"dev\"\nfile_path = \"/d\"\n",
                "kek.previous.file_path",
            ),
            (
                "[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"dev\"\n[kek.previous.pkcs11]\nmodule = \"/m.so\"\n",
                "kek.previous.pkcs11",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert_eq!(err.key(), Some(key), "{text}: {err}");
        }
        let err =
            load("[kek]\nprovider = \"file\"\nfile_path = \"/k\"\n[kek.previous]\nprovider = \"hsm\"\n").unwrap_err();
        assert_eq!(err.key(), Some("kek.previous.provider"), "{err}");
    }
}
