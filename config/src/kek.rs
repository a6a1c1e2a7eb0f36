//! `[kek.previous]`: the KEK provider the store's values are sealed under while `kek migrate` moves
//! them to the one `[kek]` configures. Kept until `kek retire --previous`.
//! Invariant: a validated previous provider is a complete provider setting and never the same key
//! as the current one (a migration onto itself would "verify" without moving anything).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::ConfigError;
use crate::raw::{KekProviderKind, RawKekPrevious, RawPkcs11};

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

/// Validates `[kek.previous]` against the current provider `current`.
pub(crate) fn validate_previous(
    raw: Option<RawKekPrevious>,
    data_dir: &Path,
    current: &KekConfig,
) -> Result<Option<KekConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let p = raw.pkcs11;
    let pkcs11_set = p.module.is_some() || p.token_label.is_some() || p.pin_env.is_some() || p.pin_file.is_some();
    if raw.provider != KekProviderKind::Pkcs11 && pkcs11_set {
        return Err(ConfigError::invalid(
            "kek.previous.pkcs11",
            "…",
            "only applies with kek.previous.provider = \"pkcs11\"",
        ));
    }
    let previous = match (raw.provider, raw.file_path) {
        (KekProviderKind::Dev, None) => KekConfig::Dev { path: data_dir.join("dev-kek.json") },
        (KekProviderKind::File, Some(path)) if !path.trim().is_empty() => KekConfig::File { path: PathBuf::from(path) },
        (KekProviderKind::File, _) => {
            return Err(ConfigError::invalid(
                "kek.previous.file_path",
                "\"\"",
                "is required with kek.previous.provider = \"file\"",
            ));
        }
        (_, Some(path)) => {
            return Err(ConfigError::invalid(
                "kek.previous.file_path",
                path,
                "only applies with kek.previous.provider = \"file\"",
            ));
        }
        (KekProviderKind::Pkcs11, None) => {
            let required = |key: &'static str, value: Option<String>| {
                value.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    ConfigError::invalid(key, "\"\"", "is required with kek.previous.provider = \"pkcs11\"")
                })
            };
            let module = required("kek.previous.pkcs11.module", p.module)?;
            let token_label = required("kek.previous.pkcs11.token_label", p.token_label)?;
            let pin = match (p.pin_env, p.pin_file) {
                (Some(var), None) if !var.trim().is_empty() => PinSource::Env(var),
                (None, Some(file)) if !file.trim().is_empty() => PinSource::File(PathBuf::from(file)),
                _ => {
                    return Err(ConfigError::invalid(
                        "kek.previous.pkcs11.pin_env",
                        "…",
                        "exactly one of kek.previous.pkcs11.pin_env and kek.previous.pkcs11.pin_file is required",
                    ));
                }
            };
            KekConfig::Pkcs11 { module: PathBuf::from(module), token_label, pin }
        }
    };
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
            "kek.previous",
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
