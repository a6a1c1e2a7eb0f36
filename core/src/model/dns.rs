//! DNS credentials (how to change a zone) and zones (which apex a credential serves), per project.

use serde::{Deserialize, Serialize};

use crate::ids::{DnsCredentialId, ProjectId, ZoneId};
use crate::model::{DnsProviderConfig, Propagation, SealedSecret};
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsProvider {
    /// RFC 2136 dynamic update signed with TSIG.
    Rfc2136,
    /// PowerDNS Authoritative's HTTP API.
    Pdns,
    Route53,
    Cloudflare,
    Digitalocean,
    Hetzner,
    /// Google Cloud DNS.
    Gcloud,
    Azure,
    Ovh,
    /// acme-dns, the CNAME delegation service.
    Acmedns,
    /// A program run on this host (owner-only).
    Exec,
}

impl DnsProvider {
    /// The providers a credential may name (the API accepts, and its contract lists, exactly these).
    pub const ACCEPTED: [DnsProvider; 11] = [
        DnsProvider::Rfc2136,
        DnsProvider::Pdns,
        DnsProvider::Route53,
        DnsProvider::Cloudflare,
        DnsProvider::Digitalocean,
        DnsProvider::Hetzner,
        DnsProvider::Gcloud,
        DnsProvider::Azure,
        DnsProvider::Ovh,
        DnsProvider::Acmedns,
        DnsProvider::Exec,
    ];

    /// The fields of a request's `config` that are secret: sealed apart, never shown.
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            DnsProvider::Rfc2136 => &["secret"],
            DnsProvider::Pdns => &["api_key"],
            DnsProvider::Route53 => &["secret_access_key"],
            DnsProvider::Cloudflare | DnsProvider::Hetzner => &["api_token"],
            DnsProvider::Digitalocean => &["token"],
            DnsProvider::Gcloud => &["service_account_key"],
            DnsProvider::Azure => &["client_secret"],
            DnsProvider::Ovh => &["application_secret", "consumer_key"],
            DnsProvider::Acmedns => &["password"],
            DnsProvider::Exec => &[],
        }
    }

    /// The settings that decide where the secret is sent (or, for RFC 2136, which server receives
    /// signed updates): changing one needs the secret given again.
    pub fn secret_destination(self) -> &'static [&'static str] {
        match self {
            DnsProvider::Rfc2136 => &["server"],
            DnsProvider::Pdns | DnsProvider::Cloudflare | DnsProvider::Digitalocean | DnsProvider::Hetzner => {
                &["api_url"]
            }
            DnsProvider::Acmedns => &["api_url"],
            DnsProvider::Route53 => &["endpoint"],
            DnsProvider::Gcloud => &["api_url", "token_url"],
            DnsProvider::Azure => &["api_url", "login_url", "tenant_id"],
            DnsProvider::Ovh => &["endpoint"],
            DnsProvider::Exec => &[],
        }
    }

    /// Whether only an organization owner may configure a credential of this provider (it runs a
    /// program on this host with the service's rights).
    pub fn owner_only(self) -> bool {
        self == DnsProvider::Exec
    }
}

/// A DNS credential. Stored as before its settings were typed: `provider` beside the `config`
/// object (`StoredCredential`), so rows written then load unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "StoredCredential", try_from = "StoredCredential")]
pub struct DnsCredential {
    pub id: DnsCredentialId,
    pub project_id: ProjectId,
    pub name: String,
    /// The non-secret settings (server, key name, algorithm); the secret part is sealed apart.
    pub config: DnsProviderConfig,
    pub secret: Option<SealedSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl DnsCredential {
    pub fn new(
        project_id: ProjectId,
        name: impl Into<String>,
        config: impl Into<DnsProviderConfig>,
        now: Timestamp,
    ) -> Self {
        DnsCredential {
            id: DnsCredentialId::new(),
            project_id,
            name: name.into(),
            config: config.into(),
            secret: None,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    pub fn provider(&self) -> DnsProvider {
        self.config.provider()
    }
}

/// The stored form of a `DnsCredential`, field for field as it always was.
#[derive(Serialize, Deserialize)]
struct StoredCredential {
    id: DnsCredentialId,
    project_id: ProjectId,
    name: String,
    provider: DnsProvider,
    config: serde_json::Value,
    secret: Option<SealedSecret>,
    created_at: Timestamp,
    updated_at: Timestamp,
    version: u64,
}

impl From<DnsCredential> for StoredCredential {
    fn from(c: DnsCredential) -> Self {
        StoredCredential {
            id: c.id,
            project_id: c.project_id,
            name: c.name,
            provider: c.config.provider(),
            config: c.config.to_json(),
            secret: c.secret,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

impl TryFrom<StoredCredential> for DnsCredential {
    type Error = String;
    fn try_from(c: StoredCredential) -> Result<Self, String> {
        let config = DnsProviderConfig::from_json(c.provider, c.config).map_err(|e| format!("config: {e}"))?;
        Ok(DnsCredential {
            id: c.id,
            project_id: c.project_id,
            name: c.name,
            config,
            secret: c.secret,
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub id: ZoneId,
    pub project_id: ProjectId,
    /// The zone apex in A-label form, lower case, no trailing dot; unique within the project.
    pub apex: String,
    pub credential_id: DnsCredentialId,
    /// How a challenge record is waited for (issue 20). The default is not written, so a zone
    /// stored before the field existed reads and writes back unchanged.
    #[serde(default, skip_serializing_if = "Propagation::is_default")]
    pub propagation: Propagation,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl Zone {
    pub fn new(project_id: ProjectId, apex: impl Into<String>, credential_id: DnsCredentialId, now: Timestamp) -> Self {
        Zone {
            id: ZoneId::new(),
            project_id,
            apex: apex.into(),
            credential_id,
            propagation: Propagation::default(),
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }
}

/// The zone whose apex is the longest suffix of `name`, label-wise (`badexample.test` is not under
/// `example.test`; `*.` is ignored): where a DNS-01 challenge for `name` starts. The API refuses a
/// certificate name no zone serves, and the issuance actors choose the zone with the same function.
pub fn zone_serving<'a>(zones: &'a [Zone], name: &str) -> Option<&'a Zone> {
    let name = name.trim_start_matches("*.").trim_end_matches('.').to_ascii_lowercase();
    zones.iter().filter(|z| name == z.apex || name.ends_with(&format!(".{}", z.apex))).max_by_key(|z| z.apex.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rfc2136Config;

    /// A credential document as stored before its settings were typed reads back and writes back
    /// byte for byte.
    #[test]
    fn a_stored_document_keeps_its_bytes() {
        let c = DnsCredential::new(ProjectId::new(), "tsig", Rfc2136Config::default(), Timestamp::now());
        let v = serde_json::to_value(&c).unwrap();
        let config = r#"{"algorithm":"hmac-sha512","key_name":"update.","nameservers":["127.0.0.1:53"],"server":"ns.example.test:53"}"#;
        let old = format!(
            r#"{{"id":{},"project_id":{},"name":"tsig","provider":"rfc2136","config":{config},"secret":null,"created_at":{},"updated_at":{},"version":1}}"#,
            v["id"], v["project_id"], v["created_at"], v["updated_at"]
        );
        let read: DnsCredential = serde_json::from_str(&old).unwrap();
        assert_eq!(read.provider(), DnsProvider::Rfc2136);
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
    }

    /// A zone stored before it had propagation settings reads with the default and writes back
    /// byte for byte; one with settings keeps them.
    #[test]
    fn a_zone_without_propagation_keeps_its_bytes() {
        let z = Zone::new(ProjectId::new(), "example.test", crate::ids::DnsCredentialId::new(), Timestamp::now());
        let v = serde_json::to_value(&z).unwrap();
        let old = format!(
            r#"{{"id":{},"project_id":{},"apex":"example.test","credential_id":{},"created_at":{},"updated_at":{},"version":1}}"#,
            v["id"], v["project_id"], v["credential_id"], v["created_at"], v["updated_at"]
        );
        let read: Zone = serde_json::from_str(&old).unwrap();
        assert!(read.propagation.is_default());
        assert_eq!(serde_json::to_string(&read).unwrap(), old);
        let mut with = read.clone();
        with.propagation.strategy = crate::model::PropagationStrategy::None;
        let back: Zone = serde_json::from_str(&serde_json::to_string(&with).unwrap()).unwrap();
        assert_eq!(back, with);
    }
}
