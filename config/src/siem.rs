//! `[[siem]]`: where the audit chain is forwarded. Validation of each destination (name, address,
//! transport, TLS settings only with `transport = "tls"`).
//! Invariant: names are unique, so a destination's spool position is never shared.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::check::{in_range, parse_addr};
use crate::error::ConfigError;
use crate::raw::RawSiem;

#[derive(Debug, Clone, Serialize)]
pub struct SiemConfig {
    pub name: String,
    pub format: crate::raw::SiemFormat,
    pub transport: crate::raw::SiemTransportName,
    pub address: SocketAddr,
    pub batch: usize,
    pub backlog_warn: u64,
    pub tls: Option<SiemTlsConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SiemTlsConfig {
    pub ca_path: PathBuf,
    pub server_name: String,
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

pub(crate) fn validate_siem(raws: Vec<RawSiem>) -> Result<Vec<SiemConfig>, ConfigError> {
    let mut siem = Vec::new();
    for raw in raws {
        let bad_name = raw.name.is_empty()
            || raw.name.len() > 64
            || !raw.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if bad_name {
            return Err(ConfigError::invalid("siem.name", &raw.name, "must be 1 to 64 letters, digits, '-' or '_'"));
        }
        if siem.iter().any(|s: &SiemConfig| s.name == raw.name) {
            return Err(ConfigError::invalid("siem.name", &raw.name, "names must be unique"));
        }
        let address = parse_addr("siem.address", &raw.address)?;
        let tls = match raw.transport {
            crate::raw::SiemTransportName::Tls => Some(SiemTlsConfig {
                ca_path: raw.tls_ca_path.clone().filter(|p| !p.trim().is_empty()).map(PathBuf::from).ok_or_else(
                    || ConfigError::invalid("siem.tls_ca_path", "\"\"", "is required with transport = \"tls\""),
                )?,
                server_name: raw.tls_server_name.clone().unwrap_or_else(|| address.ip().to_string()),
                client_cert: match (&raw.tls_client_cert_path, &raw.tls_client_key_path) {
                    (None, None) => None,
                    (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
                    _ => {
                        return Err(ConfigError::invalid(
                            "siem.tls_client_cert_path",
                            "…",
                            "tls_client_cert_path and tls_client_key_path go together",
                        ));
                    }
                },
            }),
            _ if raw.tls_ca_path.is_some() || raw.tls_client_cert_path.is_some() || raw.tls_server_name.is_some() => {
                return Err(ConfigError::invalid(
                    "siem.tls_ca_path",
                    "…",
                    "tls_* settings only apply with transport = \"tls\"",
                ));
            }
            _ => None,
        };
        siem.push(SiemConfig {
            tls,
            address,
            batch: in_range("siem.batch", u64::from(raw.batch), 1, 10_000)? as usize,
            backlog_warn: in_range("siem.backlog_warn", raw.backlog_warn, 1, u64::MAX)?,
            name: raw.name,
            format: raw.format,
            transport: raw.transport,
        });
    }
    Ok(siem)
}
