//! Configuration errors: each names the key at fault and what is wrong with it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A key that does not exist, or a value of the wrong type, found while reading the layers.
    #[error("{key}: {message}{origin}")]
    Schema {
        key: String,
        message: String,
        /// Where the offending value came from, when it was not the file (an environment variable).
        origin: String,
    },
    /// A value of the right type that cannot work (a port out of range, a zero timeout, …). The
    /// key is built from its section's prefix (`validate(prefix)`), so it is owned.
    #[error("{key}: {message} (got {value})")]
    Invalid { key: String, value: String, message: String },
    /// The value is fine on paper but the machine disagrees (a missing directory, …).
    #[error("{key}: {message}")]
    Environment { key: &'static str, message: String },
}

impl ConfigError {
    /// The dotted key path the error is about, for tests and tools.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Schema { key, .. } => Some(key),
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Environment { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }

    pub(crate) fn invalid(key: impl Into<String>, value: impl std::fmt::Display, message: impl Into<String>) -> Self {
        ConfigError::Invalid { key: key.into(), value: value.to_string(), message: message.into() }
    }
}
