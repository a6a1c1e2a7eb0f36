//! What goes over the wire: request bodies (unknown fields refused) and response views. Views are
//! built from model records and leave out every secret: a secret field shows only as `has_…: true`.

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod edits;
pub use edits::{UpdateAcmeAccount, UpdateCertificate};

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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rfc2136Config {
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
    pub config: Rfc2136Config,
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
            provider: c.provider,
            config: c.config,
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
            kind: t.kind,
            config: t.config,
            has_credential: t.credential.is_some(),
            created_at: t.created_at,
            version: t.version,
        }
    }
}
page_type!(TargetPage, TargetView);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCertificate {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub common_name: String,
    /// Further names (the common name is always included); at most 100 in all.
    #[serde(default)]
    pub sans: Vec<String>,
    #[schema(schema_with = crate::api::schema::key_type)]
    pub key_type: KeyType,
    #[schema(value_type = String, format = "uuid")]
    pub acme_account_id: AcmeAccountId,
    #[schema(schema_with = crate::api::schema::renew_before_days)]
    pub renew_before_days: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateView {
    #[schema(value_type = String, format = "uuid")]
    pub id: CertificateId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub common_name: String,
    pub sans: Vec<String>,
    #[schema(schema_with = crate::api::schema::key_type)]
    pub key_type: KeyType,
    #[schema(value_type = String, format = "uuid")]
    pub acme_account_id: AcmeAccountId,
    pub renew_before_days: Option<u32>,
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
    /// `requested`, `issuing`, `issued`, `renewing`, `failed`, `revoked` or `expired`.
    #[schema(value_type = String)]
    pub status: CertificateStatus,
    pub serial: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_before: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub not_after: Option<Timestamp>,
    pub fingerprint_sha256: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub renew_at: Option<Timestamp>,
    /// Seconds until `not_after` (negative once expired).
    pub expires_in_seconds: Option<i64>,
    pub last_error: Option<String>,
    /// The ACME order in progress, if any.
    pub order_url: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// Automatic renewal is stopped (`PATCH` with `paused`); renewing by hand still works.
    pub paused: bool,
    /// Certificates this one replaced, newest first.
    pub history: Vec<IssuedVersionView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssuedVersionView {
    pub serial: String,
    #[schema(value_type = String, format = DateTime)]
    pub not_before: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    #[schema(value_type = String, format = DateTime)]
    pub replaced_at: Timestamp,
}

impl From<Certificate> for CertificateView {
    fn from(c: Certificate) -> Self {
        CertificateView {
            id: c.id,
            project_id: c.project_id,
            common_name: c.common_name,
            sans: c.sans,
            key_type: c.key_type,
            acme_account_id: c.acme_account_id,
            renew_before_days: c.renew_before_days,
            target_ids: c.target_ids,
            status: c.status,
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            fingerprint_sha256: c.fingerprint_sha256,
            renew_at: c.renew_at,
            expires_in_seconds: c.not_after.map(|t| (t.as_unix_millis() - Timestamp::now().as_unix_millis()) / 1_000),
            last_error: c.last_error,
            order_url: c.order.map(|o| o.url),
            revoked_at: c.revoked_at,
            paused: c.paused,
            history: c
                .history
                .into_iter()
                .map(|h| IssuedVersionView {
                    serial: h.serial,
                    not_before: h.not_before,
                    not_after: h.not_after,
                    fingerprint_sha256: h.fingerprint_sha256,
                    replaced_at: h.replaced_at,
                })
                .collect(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// A job queued by a request (renew, revoke); `created` is false when the same request was
/// already queued and that job is returned.
/// A target's new name and/or configuration; secrets left out of `config` keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTarget {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub config: Option<serde_json::Value>,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobQueued {
    pub job: JobView,
    pub created: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeCertificate {
    #[schema(schema_with = crate::api::schema::revocation_reason)]
    pub reason: Option<String>,
}

/// One event in a certificate's story: a state change from the audit chain, or a step from a job's log.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `audit` or `job`.
    pub source: &'static str,
    /// The audit action (`cert.issued`, …) or the job's log message.
    pub event: String,
    /// Who: the audit entry's actor, or the job's kind.
    pub by: String,
    /// For job lines: `info`, `warn` or `error`.
    pub level: Option<String>,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub job_id: Option<JobId>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<certautopilot_core::model::AuditEvent> for TimelineEntry {
    fn from(e: certautopilot_core::model::AuditEvent) -> Self {
        TimelineEntry {
            at: e.at,
            source: "audit",
            event: e.action,
            by: principal_text(&e.actor),
            level: None,
            job_id: None,
            details: e.details,
        }
    }
}

impl TimelineEntry {
    pub fn from_log(
        job_id: JobId,
        kind: certautopilot_core::model::JobKind,
        line: certautopilot_core::model::JobLogLine,
    ) -> Self {
        TimelineEntry {
            at: line.at,
            source: "job",
            event: line.message,
            by: format!("{} job", kind.as_str()),
            level: Some(
                serde_json::to_value(line.level).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            ),
            job_id: Some(job_id),
            details: line.fields,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineView {
    pub items: Vec<TimelineEntry>,
}
page_type!(CertificatePage, CertificateView);

#[derive(Debug, Serialize, ToSchema)]
pub struct CertificateCreated {
    pub certificate: CertificateView,
    pub job: JobView,
}

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

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditObjectView {
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub seq: u64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `user:<id>`, `api_token:<id>` or `system:<component>`.
    pub actor: String,
    pub action: String,
    pub object: Option<AuditObjectView>,
    #[schema(value_type = Option<String>, format = "uuid")]
    pub project_id: Option<ProjectId>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub prev_hmac: String,
    pub hmac: String,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        let actor = principal_text(&e.actor);
        AuditEventView {
            seq: e.seq,
            at: e.at,
            actor,
            action: e.action,
            object: e.object.map(|o| AuditObjectView { kind: o.kind, id: o.id }),
            project_id: e.project_id,
            details: e.details,
            prev_hmac: e.prev_hmac,
            hmac: e.hmac,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerifyResult {
    pub intact: bool,
    /// Entries verified (up to the broken one).
    pub entries: u64,
    /// The last entry's hmac, when the chain is intact.
    pub head: Option<String>,
    pub broken_at: Option<u64>,
    pub reason: Option<String>,
    /// Events committed with their changes but not chained yet (their AuditActor is behind or
    /// failing); 0 once the chain has caught up.
    pub pending: u64,
}

/// One live actor as the registry last saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `audit`, `kek`, `job_pump`, `siem_forwarder`, `certificate`, `acme_account`, `scheduler`, …
    pub kind: String,
    pub key: String,
    pub state: String,
    /// False between a crash and the restart.
    pub alive: bool,
    /// Messages sent and not yet answered, the one in hand included.
    pub mailbox_depth: u64,
    pub messages_handled: u64,
    pub restarts: u32,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity: Option<Timestamp>,
    /// Kind-specific figures (never secrets).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<certautopilot_actors::ActorSnapshot> for ActorView {
    fn from(s: certautopilot_actors::ActorSnapshot) -> Self {
        ActorView {
            kind: s.kind.to_owned(),
            key: s.key,
            state: s.state,
            alive: s.alive,
            mailbox_depth: s.mailbox_depth,
            messages_handled: s.messages_handled,
            restarts: s.restarts,
            last_error: s.last_error,
            last_activity: s.last_activity,
            detail: s.detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorList {
    pub items: Vec<ActorView>,
}

/// `user:<id>`, `api_token:<id>` or `system:<component>`, as audit views show who acted.
fn principal_text(p: &certautopilot_core::Principal) -> String {
    match p {
        certautopilot_core::Principal::User(id) => format!("user:{id}"),
        certautopilot_core::Principal::ApiToken(id) => format!("api_token:{id}"),
        certautopilot_core::Principal::System(name) => format!("system:{name}"),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTargets {
    /// Every target the certificate should be deployed to (the others are detached).
    #[schema(value_type = Vec<String>)]
    pub target_ids: Vec<TargetId>,
    /// The certificate's current version (optimistic concurrency).
    pub version: u64,
}

/// One certificate on one target.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    #[schema(value_type = String, format = "uuid")]
    pub target_id: TargetId,
    /// `pending` (queued or retrying), `deployed`, `failed`, or `revoked_in_place` (the
    /// certificate was revoked while deployed here; what was installed stays until replaced).
    #[schema(value_type = String)]
    pub status: certautopilot_core::model::DeploymentStatus,
    pub serial: Option<String>,
    pub fingerprint_sha256: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deployed_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub attempts: u32,
    /// What the last scan found there instead (a fingerprint, or `missing`); null when it matched.
    pub drift: Option<String>,
    /// When the target was last scanned, whatever the scan found.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub scanned_at: Option<Timestamp>,
    /// For `revoked_in_place`: whether the last scan found the revoked certificate still served;
    /// null until a scan after the revocation.
    pub revoked_served: Option<bool>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<certautopilot_core::model::Deployment> for DeploymentView {
    fn from(d: certautopilot_core::model::Deployment) -> Self {
        DeploymentView {
            target_id: d.target_id,
            status: d.status,
            serial: d.serial,
            fingerprint_sha256: d.fingerprint_sha256,
            deployed_at: d.deployed_at,
            last_error: d.last_error,
            attempts: d.attempts,
            drift: d.drift,
            scanned_at: d.scanned_at,
            revoked_served: d.revoked_served,
            updated_at: d.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    pub items: Vec<DeploymentView>,
}

/// `GET /api/v1/cluster/status`: whether this node takes part in a cluster, and its view of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterStatusView {
    pub enabled: bool,
    pub status: Option<certautopilot_cluster::ClusterStatus>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinCluster {
    #[schema(minimum = 1)]
    pub node_id: u64,
    /// The `host:port` of the joining node's cluster port.
    pub addr: String,
    /// `false` adds a learner (a worker or API node that follows the log but never votes).
    #[serde(default = "default_true")]
    pub voter: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveCluster {
    #[schema(minimum = 1)]
    pub node_id: u64,
}

/// The outcome of a membership change, and the cluster as this node sees it afterwards.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterChanged {
    pub message: String,
    pub status: certautopilot_cluster::ClusterStatus,
}
