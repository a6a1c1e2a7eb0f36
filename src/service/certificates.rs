//! Certificates (work in progress: the door checks of a certificate's names and renewal policy).

use certautopilot_core::ProjectScope;
use certautopilot_core::model::{Certificate, Zone, zone_serving};
use certautopilot_core::store::{PageRequest, RecordStore};

use crate::service::error::ApiError;
use crate::service::state::AppState;

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
