//! An ACME account at one CA directory, owned by a project. Its key and EAB HMAC key are sealed.

use serde::{Deserialize, Serialize};

use crate::ids::{AcmeAccountId, ProjectId};
use crate::model::SealedSecret;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AcmeAccountStatus {
    /// Stored, not yet registered with the CA.
    Pending,
    Registered,
    /// The CA refused registration; `last_error` says why.
    Failed,
    Deactivated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcmeAccount {
    pub id: AcmeAccountId,
    pub project_id: ProjectId,
    pub name: String,
    pub directory_url: String,
    pub contact: Vec<String>,
    pub tos_agreed: bool,
    pub eab_kid: Option<String>,
    pub eab_hmac_key: Option<SealedSecret>,
    /// Extra roots to trust for the CA's HTTPS endpoint (private and test CAs).
    pub ca_bundle_pem: Option<String>,
    /// The account URL the CA assigned, once registered.
    pub account_url: Option<String>,
    pub account_key: Option<SealedSecret>,
    pub status: AcmeAccountStatus,
    pub last_error: Option<String>,
    /// The ACME profiles the CA's directory offered when the account was last saved (name →
    /// description); a certificate may choose one of them.
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, String>,
    /// The catalogue entry it was created from (`acme_catalogue`), if any; `None` for a typed URL.
    #[serde(default)]
    pub catalogue_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl AcmeAccount {
    pub fn new(
        project_id: ProjectId,
        name: impl Into<String>,
        directory_url: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        AcmeAccount {
            id: AcmeAccountId::new(),
            project_id,
            name: name.into(),
            directory_url: directory_url.into(),
            contact: Vec::new(),
            tos_agreed: false,
            eab_kid: None,
            eab_hmac_key: None,
            ca_bundle_pem: None,
            account_url: None,
            account_key: None,
            status: AcmeAccountStatus::Pending,
            last_error: None,
            profiles: Default::default(),
            catalogue_id: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}
