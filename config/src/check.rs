//! The checks every section's validation shares: a number within its range, an address with a
//! port, and the key path of a setting in its section (`Section::key`). Invariant: a leaf of the
//! crate (it imports only the error type), so any section may use it without a circle.

use std::net::SocketAddr;

use crate::error::ConfigError;

/// Where a section sits in the configuration (`"issuance"`, `"kek.previous"`): its `validate(prefix)`
/// names its keys from it, so a section validated under another prefix names its own keys.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section<'a>(pub &'a str);

impl Section<'_> {
    /// The dotted path of `name` in this section: `issuance` + `poll_max_ms`.
    pub(crate) fn key(self, name: &str) -> String {
        format!("{}.{name}", self.0)
    }
}

pub(crate) fn parse_addr(key: impl Into<String>, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError::invalid(key, format!("{value:?}"), "must be an IP address and port, like 127.0.0.1:8080")
    })
}

pub(crate) fn in_range(key: impl Into<String>, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::invalid(key, value, format!("must be between {min} and {max}")))
    }
}
