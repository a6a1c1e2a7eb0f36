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
    /// The CA's ACME directory (https; plain http only on loopback, for test CAs). Give this or
    /// `ca`.
    #[serde(default)]
    pub directory_url: Option<String>,
    /// A CA of the catalogue (`GET /api/v1/acme-catalogue`) instead of `directory_url`, e.g.
    /// `letsencrypt`; one that requires External Account Binding needs `eab_kid` and `eab_hmac_key`.
    #[serde(default)]
    #[schema(schema_with = crate::api::schema::catalogue_id)]
    pub ca: Option<String>,
    /// With `ca`: its staging endpoint instead of production.
    #[serde(default)]
    pub staging: bool,
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
    /// The ACME profiles the CA's directory offered when the account was last saved; a
    /// certificate's `profile` must be one of them.
    pub profiles: Vec<AcmeProfileView>,
    /// The catalogue entry it was created from, if any.
    pub ca: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

/// One profile a CA offers (`meta.profiles` of its directory). Also GraphQL's `AcmeProfile`.
#[derive(Debug, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "AcmeProfile")]
pub struct AcmeProfileView {
    pub name: String,
    /// The CA's description, bounded.
    pub description: String,
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
            profiles: a.profiles.into_iter().map(|(name, description)| AcmeProfileView { name, description }).collect(),
            ca: a.catalogue_id,
            created_at: a.created_at,
            version: a.version,
        }
    }
}

page_type!(AcmeAccountPage, AcmeAccountView);

/// The ACME CAs known by name (`GET /api/v1/acme-catalogue`).
#[derive(Debug, Serialize, ToSchema)]
pub struct AcmeCatalogueView {
    pub items: Vec<CatalogueEntryView>,
}

/// One CA of the catalogue. Also GraphQL's `CatalogueCa`.
#[derive(Debug, Serialize, ToSchema, async_graphql::SimpleObject)]
#[graphql(name = "CatalogueCa")]
pub struct CatalogueEntryView {
    /// What `ca` names when an account is created from it.
    pub id: String,
    pub name: String,
    pub directory_url: String,
    pub staging_directory_url: Option<String>,
    /// Whether registration needs External Account Binding (`eab_kid`, `eab_hmac_key`).
    pub eab_required: bool,
    pub docs_url: String,
}

impl From<&certautopilot_core::model::CatalogueEntry> for CatalogueEntryView {
    fn from(e: &certautopilot_core::model::CatalogueEntry) -> Self {
        CatalogueEntryView {
            id: e.id.to_owned(),
            name: e.name.to_owned(),
            directory_url: e.directory_url.to_owned(),
            staging_directory_url: e.staging_directory_url.map(str::to_owned),
            eab_required: e.eab == certautopilot_core::model::EabRule::Required,
            docs_url: e.docs_url.to_owned(),
        }
    }
}
