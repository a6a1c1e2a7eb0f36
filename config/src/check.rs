//! The two checks every section's validation shares: a number within its range, an address with
//! a port. Invariant: a leaf of the crate (it imports only the error type), so any section may use
//! it without a circle.

use std::net::SocketAddr;

use crate::error::ConfigError;

pub(crate) fn parse_addr(key: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        ConfigError::invalid(key, format!("{value:?}"), "must be an IP address and port, like 127.0.0.1:8080")
    })
}

pub(crate) fn in_range(key: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::invalid(key, value, format!("must be between {min} and {max}")))
    }
}
