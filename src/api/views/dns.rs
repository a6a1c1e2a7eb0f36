//! Views of DNS credentials and zones. Invariant: a provider's secret fields are write-only; a view
//! shows the settings without them and `has_secret`.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDnsCredential {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[schema(schema_with = crate::api::schema::dns_provider)]
    pub provider: String,
    /// The provider's settings and its secret fields (docs/dns.md has each provider's).
    #[schema(schema_with = crate::api::schema::dns_config)]
    pub config: serde_json::Value,
}

/// A change of a credential: its name and/or its settings, at the version read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDnsCredential {
    pub name: Option<String>,
    /// The credential's own provider, when given: a credential keeps its provider (any other
    /// is refused on `provider`), so this is not the create's list of providers.
    pub provider: Option<String>,
    /// The provider's full settings; secret fields left out keep the sealed secret, given ones
    /// replace it. Settings that change where the secret is sent need it given again.
    #[schema(schema_with = crate::api::schema::dns_config)]
    pub config: Option<serde_json::Value>,
    pub version: u64,
}

/// What a credential test writes to: one zone of the project served by the credential.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDnsCredential {
    /// A zone served by this credential; default: the first one.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub zone_id: Option<ZoneId>,
}

/// One step of a credential test.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialTestStep {
    /// `connect`, `find zone`, `add record` or `remove record`.
    pub step: String,
    pub ok: bool,
    /// What happened (a failing step's classified error; never a remote body or a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub ms: u64,
}

/// A credential test: the steps run, in order; the first failing step is the last.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialTestResult {
    #[schema(value_type = String, format = "uuid")]
    pub zone_id: ZoneId,
    pub zone: String,
    pub steps: Vec<CredentialTestStep>,
    pub ok: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DnsCredentialView {
    #[schema(value_type = String, format = "uuid")]
    pub id: DnsCredentialId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[schema(value_type = String)]
    pub provider: DnsProvider,
    /// The settings without the secret.
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub has_secret: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<DnsCredential> for DnsCredentialView {
    fn from(c: DnsCredential) -> Self {
        DnsCredentialView {
            id: c.id,
            project_id: c.project_id,
            name: c.name,
            provider: c.config.provider(),
            config: c.config.to_json(),
            has_secret: c.secret.is_some(),
            created_at: c.created_at,
            version: c.version,
        }
    }
}

page_type!(DnsCredentialPage, DnsCredentialView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateZone {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    /// The zone apex, e.g. `example.com` (internationalized names are converted to A-labels).
    pub apex: String,
    /// A DNS credential of the same project.
    #[schema(value_type = String, format = "uuid")]
    pub credential_id: DnsCredentialId,
    /// How challenge records are waited for; omitted: `authoritative` with the provider's defaults.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub propagation: Option<PropagationBody>,
}

/// A zone's propagation settings on the wire: core's `PropagationInput` (docs/dns/propagation.md:
/// `strategy`, `nameservers`, `resolvers`, `delay_seconds`, `timeout_seconds`, `poll_interval_ms`).
pub type PropagationBody = PropagationInput;

/// A zone's change: each field given replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateZone {
    /// Another DNS credential of the zone's project.
    #[schema(value_type = Option<String>, format = "uuid")]
    #[serde(default)]
    pub credential_id: Option<DnsCredentialId>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub propagation: Option<PropagationBody>,
    /// The version read; another is `version_conflict`.
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ZoneView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ZoneId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub apex: String,
    #[schema(value_type = String, format = "uuid")]
    pub credential_id: DnsCredentialId,
    #[schema(value_type = Object)]
    pub propagation: PropagationBody,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<Zone> for ZoneView {
    fn from(z: Zone) -> Self {
        ZoneView {
            id: z.id,
            project_id: z.project_id,
            apex: z.apex,
            credential_id: z.credential_id,
            propagation: z.propagation.to_input(),
            created_at: z.created_at,
            version: z.version,
        }
    }
}

page_type!(ZonePage, ZoneView);
