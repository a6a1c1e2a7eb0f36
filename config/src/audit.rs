//! `[audit]`: where the audit chain's archived segments are written (docs/audit.md, "Retention").
//! How long entries stay live is the organization's own setting, not the service's.
//! Invariant: once validated, the directory is set (default: `<node.data_dir>/audit-archive`); a
//! relative path is relative to the working directory, like every path of the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::Section;
use crate::error::ConfigError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    /// The directory archived segments are written to (default `<node.data_dir>/audit-archive`).
    /// Back it up with the store: the chain's history before its checkpoint lives only there.
    pub archive_dir: Option<String>,
}

/// The validated `[audit]` section.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditConfig {
    pub archive_dir: PathBuf,
}

impl RawAudit {
    pub(crate) fn validate(self, prefix: Section<'_>, data_dir: &Path) -> Result<AuditConfig, ConfigError> {
        let archive_dir = match self.archive_dir {
            None => data_dir.join("audit-archive"),
            Some(dir) if dir.trim().is_empty() => {
                return Err(ConfigError::invalid(
                    prefix.key("archive_dir"),
                    format!("{dir:?}"),
                    "must name a directory",
                ));
            }
            Some(dir) => PathBuf::from(dir),
        };
        Ok(AuditConfig { archive_dir })
    }
}

impl From<&AuditConfig> for RawAudit {
    fn from(c: &AuditConfig) -> Self {
        RawAudit { archive_dir: Some(c.archive_dir.display().to_string()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_directory_defaults_under_the_data_directory() {
        let data = Path::new("/var/lib/certautopilot");
        let section = Section("audit");
        assert_eq!(RawAudit::default().validate(section, data).unwrap().archive_dir, data.join("audit-archive"));
        let relative = RawAudit { archive_dir: Some("old".into()) };
        assert_eq!(relative.validate(section, data).unwrap().archive_dir, PathBuf::from("old"));
        let absolute = RawAudit { archive_dir: Some("/srv/audit".into()) };
        assert_eq!(absolute.validate(section, data).unwrap().archive_dir, PathBuf::from("/srv/audit"));
        let error = RawAudit { archive_dir: Some(" ".into()) }.validate(section, data).unwrap_err();
        assert!(error.to_string().contains("audit.archive_dir"), "{error}");
    }
}
