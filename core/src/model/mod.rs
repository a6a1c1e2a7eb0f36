//! The domain model: what CertAutoPilot keeps about organizations, people, CAs, DNS, certificates,
//! targets, jobs and the audit trail. Every mutable record carries a `version` for optimistic concurrency.

mod acme;
mod acme_catalogue;
mod approval;
mod audit;
mod certificate;
mod certificate_stats;
pub mod checks;
mod dns;
mod dns_config;
mod fact_tally;
mod fence;
mod health;
mod job;
mod login;
mod notification;
mod notification_check;
mod notification_watch;
mod propagation;
mod renewal;
mod sealed;
mod target;
mod target_check;
mod target_config;
mod tenancy;

pub use acme::{AcmeAccount, AcmeAccountStatus};
pub use acme_catalogue::{CATALOGUE, CatalogueEntry, CatalogueError, EabRule, catalogue_entry};
pub use approval::{
    ApprovalAction, ApprovalPolicy, ApprovalRequest, ApprovalRequirement, ApprovalRule, ApprovalStatus,
    ApprovalSubject, ApprovedShape, DEFAULT_APPROVAL_EXPIRY_HOURS, DecisionError, MAX_APPROVAL_EXPIRY_HOURS,
    PolicyError, name_matches,
};
pub use audit::{AuditEvent, AuditObject};
pub use certificate::{
    Certificate, CertificateOrigin, CertificateStatus, CsrRenewal, EXPECTED_ACME_LIFETIME_DAYS, HISTORY_KEPT,
    IssuedElsewhere, IssuedVersion, KeyType, MAX_FALLBACK_ISSUERS, OrderProgress, OrderPurpose, PublishedRecord,
    REVOCATION_REASONS, SUBSCRIBER_REVOCATION_REASONS, revocation_reason_code, revocation_reason_name,
};
pub use certificate_stats::{
    AttentionKind, CertificateFacts, Condition, DAY_MILLIS, DeploymentCondition, DeploymentFacts, OverviewRules,
    ProjectCertificateStats, StatsRequest, StatusCounter, StatusCounts, attention_order, drifted_certificates,
    stored_name,
};
pub use dns::{DnsCredential, DnsProvider, Zone, zone_serving};
pub use dns_config::*;
pub use fact_tally::{FactTally, TimeCuts, TimeField};
pub use fence::{Fence, FenceRecord, SchedulerBeat};
pub use health::{CertificateHealth, DRIFT_REASON, HealthCounts, HealthReport, HealthRules, overdue_at};
pub use job::{Job, JobKind, JobLease, JobLogLine, JobStatus, LogLevel, NewJob};
pub use login::{AddressKeys, LoginAttemptKeys, LoginFailures, LoginKeys, LoginPolicy, LoginVerdict};
pub use notification::{
    CertificateWatch, ChannelSettings, DIGEST_MINUTES, EXPIRING, EventKind, ExpiryThreshold, HEALTH_CHANGED,
    MAX_CHANNELS, MAX_RECIPIENTS, MAX_RULE_CHANNELS, MAX_RULES, NotificationChannel, NotificationError,
    NotificationRule, RULE_CREATED, RULE_DELETED, RULE_UPDATED, RuleChange, SecretNeed, Severity, SmtpSecurity,
    check_name,
};
pub use notification_check::mail_address_ok;
pub use notification_watch::{WatchEvent, WatchOutcome, decide as decide_watch};
pub use propagation::{
    Propagation, PropagationInput, PropagationStrategy, PropagationWatch, ProviderPropagationDefaults, ServerAnswer,
    ServerStatus, UNREACHABLE_ADVICE, WaitPicture, picture_changed, provider_defaults,
};
pub use renewal::{RenewBefore, SHORT_LIVED, min_renewal_age, renew_before, span};
pub use sealed::SealedSecret;
pub use target::{Deployment, DeploymentStatus, DistributionTarget, TargetKind};
pub use target_check::HostRules;
pub use target_config::{
    F5Config, FileConfig, IisConfig, KubernetesConfig, MAX_CERT_MODE, MAX_KEY_MODE, NetscalerConfig, ScanSettings,
    SshConfig, TargetConfig, VaultConfig, VaultMode, WebhookConfig, check_mode,
};
pub use tenancy::{ApiToken, Membership, OrgRole, Organization, Project, Role, Session, User};
