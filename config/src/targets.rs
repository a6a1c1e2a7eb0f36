//! `[targets]`: what the operator of this host allows distribution targets to do here. Today that is
//! where `file` targets may write (`[targets.file] allowed_dirs`).
//! Invariant: an empty allow-list means file targets are refused; validation is pure (the
//! directories are resolved and checked when a file is written, not here).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTargets {
    pub file: RawFileTargets,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFileTargets {
    /// Directories (absolute) under which `file` targets may write certificates and keys. Empty by
    /// default: a project admin must not be able to make the service write anywhere on its host
    /// until the host's operator says where.
    pub allowed_dirs: Vec<String>,
}

/// The validated `[targets]` section.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TargetsConfig {
    pub file_allowed_dirs: Vec<PathBuf>,
}

impl RawTargets {
    pub(crate) fn validate(self) -> Result<TargetsConfig, ConfigError> {
        let mut dirs = Vec::with_capacity(self.file.allowed_dirs.len());
        for dir in self.file.allowed_dirs {
            let bad = |why: &str| ConfigError::invalid("targets.file.allowed_dirs", format!("{dir:?}"), why);
            if !dir.starts_with('/') {
                return Err(bad("each directory must be an absolute path"));
            }
            if dir.split('/').any(|part| part == "..") || dir.chars().any(char::is_control) {
                return Err(bad("must not contain '..' or control characters"));
            }
            if dir.trim_end_matches('/').is_empty() {
                return Err(bad("the root directory cannot be allowed: name the directories targets write to"));
            }
            dirs.push(PathBuf::from(dir.trim_end_matches('/')));
        }
        Ok(TargetsConfig { file_allowed_dirs: dirs })
    }
}

impl From<&TargetsConfig> for RawTargets {
    fn from(c: &TargetsConfig) -> Self {
        RawTargets {
            file: RawFileTargets {
                allowed_dirs: c.file_allowed_dirs.iter().map(|d| d.display().to_string()).collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only absolute, `..`-free directories other than `/` are allowed; the key is named.
    #[test]
    fn allowed_dirs_are_absolute_and_not_the_root() {
        let raw = |dirs: &[&str]| RawTargets {
            file: RawFileTargets { allowed_dirs: dirs.iter().map(|d| d.to_string()).collect() },
        };
        assert_eq!(
            raw(&["/etc/ssl/certautopilot/"]).validate().unwrap().file_allowed_dirs,
            vec![PathBuf::from("/etc/ssl/certautopilot")]
        );
        assert!(raw(&[]).validate().unwrap().file_allowed_dirs.is_empty());
        for bad in ["relative/dir", "/etc/../root", "/", "//", "/tmp/x\n"] {
            let e = raw(&[bad]).validate().unwrap_err();
            assert_eq!(e.key(), Some("targets.file.allowed_dirs"), "{bad:?}");
        }
    }
}
