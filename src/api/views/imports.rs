//! Bodies of the routes for certificates issued elsewhere: importing one (PEM chain or PKCS#12),
//! putting an unmanaged one under management, and scanning endpoints to discover them.
//! Invariant: the private key and the PKCS#12 password are read once, never echoed; the view that
//! answers is the certificate view, which carries no secret.

use certautopilot_core::ids::*;
use serde::Deserialize;
use utoipa::ToSchema;

/// A certificate issued elsewhere, to inventory and watch. Give `chain_pem` (optionally with
/// `private_key_pem`) or `pkcs12_base64` with its `password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportCertificate {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    /// The chain as PEM, the leaf first, then each issuer.
    #[schema(max_length = 65536)]
    pub chain_pem: Option<String>,
    /// The leaf's private key, unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`): sealed at rest, never
    /// shown; without it targets that install a key refuse the certificate.
    #[schema(max_length = 65536)]
    pub private_key_pem: Option<String>,
    /// A PKCS#12 file (`.p12`, `.pfx`), base64; its key, if any, is imported with it.
    #[schema(max_length = 90000)]
    pub pkcs12_base64: Option<String>,
    /// The PKCS#12 file's password.
    pub password: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
}

/// Says which parts came, never the key, the file or the password.
impl std::fmt::Debug for ImportCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportCertificate")
            .field("project_id", &self.project_id)
            .field("chain_pem", &self.chain_pem.as_ref().map(String::len))
            .field("has_private_key", &self.private_key_pem.is_some())
            .field("has_pkcs12", &self.pkcs12_base64.is_some())
            .field("has_password", &self.password.is_some())
            .field("target_ids", &self.target_ids)
            .finish()
    }
}

/// Puts an unmanaged certificate under management: its issuer renews it from now on (DNS-01, so
/// every name must be served by a zone of the project).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManageCertificate {
    /// The certificate's current version (optimistic concurrency).
    pub version: u64,
    #[schema(value_type = String, format = "uuid")]
    pub acme_account_id: AcmeAccountId,
    #[serde(default)]
    #[schema(value_type = Vec<String>, max_items = 4)]
    pub fallback_account_ids: Vec<AcmeAccountId>,
    #[serde(default)]
    pub keep_fallback_issuer: bool,
    #[schema(schema_with = crate::api::schema::renew_before_days)]
    pub renew_before_days: Option<u32>,
    #[serde(default)]
    #[schema(schema_with = crate::api::schema::renew_before_hours)]
    pub renew_before_hours: Option<u32>,
}

/// A discovery scan: the TLS endpoints to read certificates from. Each certificate served is
/// matched to the project's by fingerprint; the others are recorded `unmanaged`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDiscoveryScan {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    /// `host:port` endpoints (`[v6]:port` for IPv6 addresses).
    #[serde(default)]
    #[schema(max_items = 256)]
    pub endpoints: Vec<String>,
    /// Networks (`10.0.0.0/28`) whose every address is tried on each of `ports`.
    #[serde(default)]
    #[schema(max_items = 256)]
    pub cidrs: Vec<String>,
    /// Ports for the networks' addresses (1 to 16 of them).
    #[serde(default)]
    #[schema(max_items = 16)]
    pub ports: Vec<u16>,
    /// The name to ask for (SNI) at addresses; omitted: none (a name endpoint asks for its name).
    pub server_name: Option<String>,
}
