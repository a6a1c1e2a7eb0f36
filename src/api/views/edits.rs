//! Request bodies of the edit routes (issue 15, item 5): `PATCH` a certificate or an ACME account.
//! Every field is optional and a field left out keeps its value; `null` where allowed resets it.
//! Each carries the record's `version`, so an edit made on a stale read is refused.

use certautopilot_core::ids::{AcmeAccountId, TargetId};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

/// A field that may be left out (`None`), set to `null` (`Some(None)`) or given (`Some(Some(v))`).
pub(crate) fn explicit<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What to change on a certificate; fields left out keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCertificate {
    /// The certificate's current version (optimistic concurrency).
    pub version: u64,
    /// Renew this many days before expiry: 1 to one day less than the certificate's lifetime (its
    /// issued certificate's, or 90 days until one is issued), so the maximum depends on the
    /// certificate; `null` goes back to the default, a third of the lifetime.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub renew_before_days: Option<Option<u32>>,
    /// The same lead in hours (1 to one hour less than the lifetime); setting one unit clears
    /// the other, and a request gives at most one; `null` clears it.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub renew_before_hours: Option<Option<u32>>,
    /// Every target the certificate should be deployed to (the others are detached).
    #[schema(value_type = Option<Vec<String>>)]
    pub target_ids: Option<Vec<TargetId>>,
    /// `true` stops automatic renewal (renewing by hand still works); `false` resumes it.
    pub paused: Option<bool>,
    /// An ACME profile the account's CA offers, for the next orders; `null` goes back to the CA's
    /// default.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<String>, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub profile: Option<Option<String>>,
    /// A new CSR (PEM) for a certificate issued from one: the same names, a new key if you like;
    /// the next order finalizes with it.
    #[schema(max_length = 16384)]
    pub csr_pem: Option<String>,
    /// `reuse` or `new` (a certificate issued from a CSR only).
    #[schema(value_type = Option<String>)]
    pub csr_renewal: Option<certautopilot_core::model::CsrRenewal>,
    /// Every fallback issuer, in order (accounts of the project; `[]` removes them all).
    #[schema(value_type = Option<Vec<String>>, max_items = 4)]
    pub fallback_account_ids: Option<Vec<AcmeAccountId>>,
    /// `true`: renewals start with the issuer of the current certificate; `false`: with the first.
    pub keep_fallback_issuer: Option<bool>,
}

/// What to change on an ACME account; fields left out keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAcmeAccount {
    /// The account's current version (optimistic concurrency).
    pub version: u64,
    /// `mailto:` addresses; for a registered account they are sent to the CA too.
    pub contact: Option<Vec<String>>,
    /// Extra PEM roots to trust for the CA's HTTPS endpoint; `null` removes them. Changing them on
    /// an account with an EAB key needs `eab_hmac_key` in the same request.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<String>)]
    pub ca_bundle_pem: Option<Option<String>>,
    /// A new External Account Binding key id; goes with `eab_hmac_key` (only before the account is
    /// registered: the CA uses the binding once, at registration).
    pub eab_kid: Option<String>,
    /// The External Account Binding HMAC key (base64url); write-only.
    pub eab_hmac_key: Option<String>,
    /// Accepted only unchanged: an account belongs to one CA (create another account for another).
    pub directory_url: Option<String>,
}
