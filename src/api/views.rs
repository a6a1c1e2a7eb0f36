//! What goes over the wire: request bodies (unknown fields refused) and response views. Views are
//! built from model records and leave out every secret: a secret field shows only as `has_…: true`.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! page_type {
    ($name:ident, $item:ty) => {
        #[derive(Debug, Serialize, ToSchema)]
        pub struct $name {
            pub items: Vec<$item>,
            /// Pass as `cursor` for the next page; absent on the last page.
            pub next_cursor: Option<String>,
        }

        impl From<certautopilot_core::Page<$item>> for $name {
            fn from(page: certautopilot_core::Page<$item>) -> Self {
                $name { items: page.items, next_cursor: page.next_cursor }
            }
        }
    };
}

mod certificates;
mod edits;
mod inspection;
pub use certificates::*;
pub use edits::{UpdateAcmeAccount, UpdateCertificate};
pub use inspection::*;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub org_name: String,
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    #[schema(value_type = String, format = "uuid")]
    pub id: OrgId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SetupResponse {
    pub organization: OrganizationView,
    pub owner: UserView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// A session JWT for `Authorization: Bearer`; the same value is set as the session cookie.
    pub token: String,
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Timestamp,
    /// Send as `X-CSRF-Token` on changes made with the session cookie.
    pub csrf_token: String,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipSummary {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    #[schema(schema_with = crate::api::schema::member_role)]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    pub memberships: Vec<MembershipSummary>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    pub name: String,
    /// Days until it expires (at most `auth.api_token_max_days`); omitted means the maximum.
    #[schema(minimum = 1)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApiTokenId,
    pub name: String,
    /// Shown this once; only a hash is kept.
    pub token: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ApiTokenId,
    /// Whose token it is: owners list and revoke every user's tokens.
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    pub name: String,
    pub revoked: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        ApiTokenView {
            id: t.id,
            user_id: t.user_id,
            name: t.name,
            revoked: t.revoked,
            expires_at: t.expires_at,
            created_at: t.created_at,
        }
    }
}
page_type!(ApiTokenPage, ApiTokenView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = "uuid")]
    pub id: UserId,
    pub email: String,
    /// `owner` or `member`.
    #[schema(value_type = String)]
    pub org_role: OrgRole,
    pub disabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        UserView {
            id: u.id,
            email: u.email,
            org_role: u.org_role,
            disabled: u.disabled,
            created_at: u.created_at,
            version: u.version,
        }
    }
}
page_type!(UserPage, UserView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    pub name: String,
    /// The version you read; a stale one gets 409 `version_conflict`.
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ProjectId,
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl From<Project> for ProjectView {
    fn from(p: Project) -> Self {
        ProjectView { id: p.id, name: p.name, created_at: p.created_at, updated_at: p.updated_at, version: p.version }
    }
}
page_type!(ProjectPage, ProjectView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    /// `admin`, `operator` or `viewer`.
    #[schema(value_type = String)]
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = "uuid")]
    pub id: MembershipId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    #[schema(value_type = String, format = "uuid")]
    pub user_id: UserId,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Membership> for MemberView {
    fn from(m: Membership) -> Self {
        MemberView { id: m.id, project_id: m.project_id, user_id: m.user_id, role: m.role, created_at: m.created_at }
    }
}
page_type!(MemberPage, MemberView);

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

// The request form of an RFC 2136 credential's settings: core's `Rfc2136Config` and the secret,
// published under that name as it always was (a `//` comment: a doc comment would enter the
// OpenAPI document).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Rfc2136Config)]
pub struct Rfc2136Request {
    /// The primary server, `host:port`.
    pub server: String,
    /// The TSIG key name.
    pub key_name: String,
    /// `hmac-sha256`, `hmac-sha384` or `hmac-sha512`.
    pub algorithm: String,
    /// The TSIG secret (base64); write-only.
    pub secret: String,
    /// Where to confirm a challenge record is visible (`ip:port` each). Without it, the zone's
    /// NS records are asked of `server` and queried on its port.
    #[serde(default)]
    pub nameservers: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDnsCredential {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[schema(schema_with = crate::api::schema::dns_provider)]
    pub provider: String,
    pub config: Rfc2136Request,
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
            created_at: z.created_at,
            version: z.version,
        }
    }
}
page_type!(ZonePage, ZoneView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTarget {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::api::schema::target_kind)]
    pub kind: String,
    #[schema(schema_with = crate::api::schema::target_config)]
    pub config: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TargetView {
    #[schema(value_type = String, format = "uuid")]
    pub id: TargetId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: TargetKind,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    pub has_credential: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub version: u64,
}

impl From<DistributionTarget> for TargetView {
    fn from(t: DistributionTarget) -> Self {
        TargetView {
            id: t.id,
            project_id: t.project_id,
            name: t.name,
            kind: t.config.kind(),
            config: t.config.to_json(),
            has_credential: t.credential.is_some(),
            created_at: t.created_at,
            version: t.version,
        }
    }
}
page_type!(TargetPage, TargetView);

#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    #[schema(value_type = String, format = "uuid")]
    pub id: JobId,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub project_id: Option<ProjectId>,
    #[schema(value_type = String)]
    pub kind: JobKind,
    pub subject: Option<String>,
    #[schema(value_type = String)]
    pub status: JobStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    #[schema(value_type = String, format = DateTime)]
    pub run_at: Timestamp,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub queued_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            project_id: j.project_id,
            kind: j.kind,
            subject: j.subject,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error,
            queued_at: j.queued_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
        }
    }
}
page_type!(JobPage, JobView);

#[derive(Debug, Serialize, ToSchema)]
pub struct JobLogView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[schema(value_type = String)]
    pub level: LogLevel,
    pub message: String,
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobDetail {
    pub job: JobView,
    pub log: Vec<JobLogView>,
}
