//! How account writes reach a CA's directory before the account is saved (issue 15, item 4): a
//! wrong URL or CA bundle is refused then, not at the first order. Invariant: what a refusal
//! reports is classified (no remote body, no peer data), under the field that fixes it.

use std::time::Duration;

use certautopilot_connectors::acme::{DirectoryError, DirectoryInfo, check_directory};
use certautopilot_connectors::egress::EgressPolicy;

use crate::service::error::ApiError;

/// How the API reaches a CA's directory: `serve` sets it from `[egress]` and `[issuance]`.
#[derive(Debug, Clone)]
pub struct DirectoryCheck {
    pub egress: EgressPolicy,
    /// The whole fetch, connection included; a request waits at most this long for the CA.
    pub timeout: Duration,
}

/// The longest `serve` lets an account write wait for a CA (`issuance.acme_timeout_secs` if shorter).
pub const MAX_DIRECTORY_WAIT: Duration = Duration::from_secs(10);

impl DirectoryCheck {
    /// Fetches the directory with the account's trust. A trust problem names `ca_bundle_pem` (that
    /// is what fixes it), everything else `directory_url`.
    pub async fn check(&self, directory_url: &str, ca_bundle_pem: Option<&str>) -> Result<DirectoryInfo, ApiError> {
        match check_directory(directory_url, ca_bundle_pem, self.timeout, &self.egress).await {
            Ok(info) => Ok(info),
            Err(e @ (DirectoryError::Untrusted(_) | DirectoryError::Bundle(_))) => {
                Err(ApiError::invalid("ca_bundle_pem", e.to_string()))
            }
            Err(e) => Err(ApiError::invalid("directory_url", e.to_string())),
        }
    }
}
