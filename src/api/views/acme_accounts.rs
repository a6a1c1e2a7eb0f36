//! Views of ACME accounts (the edit body is in `edits`). Invariant: the EAB HMAC key is
//! write-only; a view shows only `has_eab_hmac_key`.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAcmeAccount {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    /// The CA's ACME directory (https; plain http only on loopback, for test CAs).
    pub directory_url: String,
    /// `mailto:` addresses.
    #[serde(default)]
    pub contact: Vec<String>,
    pub tos_agreed: bool,
    /// External Account Binding key id; goes with `eab_hmac_key`.
    pub eab_kid: Option<String>,
    /// External Account Binding HMAC key (base64url); write-only.
    pub eab_hmac_key: Option<String>,
    /// Extra roots to trust for the CA's HTTPS endpoint, as PEM: CA certificates (basic
    /// constraints CA:TRUE) that the CA's server certificate chains to. The server's own (leaf)
    /// certificate is not a CA and does not belong here. At most 64 KiB.
    pub ca_bundle_pem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AcmeAccountView {
    #[schema(value_type = String, format = "uuid")]
    pub id: AcmeAccountId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    pub directory_url: String,
    pub contact: Vec<String>,
    pub tos_agreed: bool,
    pub eab_kid: Option<String>,
    pub has_eab_hmac_key: bool,
    pub has_ca_bundle: bool,
    /// `pending`, `registered`, `failed` or `deactivated`.
    #[schema(value_type = String)]
    pub status: AcmeAccountStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<AcmeAccount> for AcmeAccountView {
    fn from(a: AcmeAccount) -> Self {
        AcmeAccountView {
            id: a.id,
            project_id: a.project_id,
            name: a.name,
            directory_url: a.directory_url,
            contact: a.contact,
            tos_agreed: a.tos_agreed,
            eab_kid: a.eab_kid,
            has_eab_hmac_key: a.eab_hmac_key.is_some(),
            has_ca_bundle: a.ca_bundle_pem.is_some(),
            status: a.status,
            created_at: a.created_at,
            version: a.version,
        }
    }
}

page_type!(AcmeAccountPage, AcmeAccountView);
