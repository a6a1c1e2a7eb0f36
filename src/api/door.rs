//! Checks at the door that need more than the request itself (issue 15, item 4): a certificate's
//! names must be served by a zone of its project, its renewal policy must fit its lifetime, and an
//! ACME account's directory must answer, trusted, before the account is saved. Invariant: a request
//! these refuse changes nothing, and what they report is classified (no remote body, no peer data).

use std::time::Duration;

use certautopilot_connectors::acme::{DirectoryError, check_directory};
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_core::ProjectScope;
use certautopilot_core::model::{Certificate, Zone, zone_serving};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::api::AppState;
use crate::api::error::ApiError;

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
    pub async fn check(&self, directory_url: &str, ca_bundle_pem: Option<&str>) -> Result<(), ApiError> {
        match check_directory(directory_url, ca_bundle_pem, self.timeout, &self.egress).await {
            Ok(()) => Ok(()),
            Err(e @ (DirectoryError::Untrusted(_) | DirectoryError::Bundle(_))) => {
                Err(ApiError::invalid("ca_bundle_pem", e.to_string()))
            }
            Err(e) => Err(ApiError::invalid("directory_url", e.to_string())),
        }
    }
}

impl AppState {
    /// Checks an ACME directory when this process was given a way to reach CAs; without one (a test
    /// harness that talks to no CA) the account is saved unchecked and the first order reports.
    pub async fn check_acme_directory(&self, directory_url: &str, ca_bundle_pem: Option<&str>) -> Result<(), ApiError> {
        match &self.acme_directory {
            Some(check) => check.check(directory_url, ca_bundle_pem).await,
            None => Ok(()),
        }
    }
}

/// Refuses the first name (`(field, name)`) that no zone of the project serves: a DNS-01 challenge
/// for it could never be published (`actors::issuance::dns` starts from the same zone choice, and
/// a CNAME on `_acme-challenge` is only followed from a zone of the project).
pub async fn names_served(state: &AppState, scope: &ProjectScope, names: &[(String, String)]) -> Result<(), ApiError> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = state.store()?.list::<Zone>(scope, &page).await?;
        zones.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    match names.iter().find(|(_, name)| zone_serving(&zones, name).is_none()) {
        Some((field, name)) => Err(ApiError::invalid(
            field,
            format!("no zone of this project serves {name}: add the zone (POST /api/v1/zones) first"),
        )),
        None => Ok(()),
    }
}

/// A renewal policy must open the window after the certificate starts: at least one day, and
/// fewer days than the certificate lives (its current lifetime once issued, otherwise the 90 days
/// ACME CAs issue). Refused, not clamped, so what is stored is what was asked for.
pub fn renew_before_days(cert: Option<&Certificate>, days: u32) -> Result<u32, ApiError> {
    // Before issuance this is `validate::RENEW_BEFORE_DAYS`, the range the OpenAPI document states.
    let lifetime =
        cert.map_or(certautopilot_core::model::EXPECTED_ACME_LIFETIME_DAYS, Certificate::expected_lifetime_days);
    let why = if cert.is_some_and(|c| c.not_after.is_some()) {
        format!("the current certificate lives {lifetime} days")
    } else {
        format!("ACME certificates are expected to live {lifetime} days until one is issued")
    };
    if days == 0 || days >= lifetime {
        return Err(ApiError::invalid(
            "renew_before_days",
            format!(
                "must be 1 to {} ({why}; renewing that early would renew at once, again and again)",
                lifetime.saturating_sub(1).max(1)
            ),
        ));
    }
    Ok(days)
}
