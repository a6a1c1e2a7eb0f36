//! Issuance and renewal: the ACME-account actor (one per account: serializes that account's calls
//! to its CA and honours rate limits), the certificate actor (one per certificate, activated by a
//! job and passivated when idle: the only code that changes a certificate), the job handlers that
//! route `issue`, `renew` and `revoke` jobs to them, and the scheduler that enqueues renewals.

mod account;
mod approval_expiry;
mod certificate;
mod dns;
mod flow;
mod jobs;
mod order_budget;
pub mod propagation_metrics;
mod revoked;
mod scheduler;
#[cfg(test)]
pub(crate) mod test_fixture;

use std::sync::Arc;

pub use certautopilot_config::IssuanceConfig;
use certautopilot_connectors::acme::AcmeError;
use certautopilot_connectors::dns::DnsError;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::{CryptoError, Envelope};
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{AuditObject, Organization, Project};
use certautopilot_core::store::{AuditWrite, RecordStore, Store, StoreError};
use certautopilot_core::{OrgScope, Principal, ProjectScope};

pub use account::{AccountHub, AcmeAccountActor, AcmeCall, AcmeReply, register_account};
pub use certificate::{CertificateActor, CertificateHub, ForcePanic, RunJob};
pub use jobs::CertificateJobs;
pub use scheduler::Scheduler;

/// The registry kind the scheduler is listed under.
pub fn scheduler_kind() -> &'static str {
    scheduler::KIND
}

use crate::registry::ActorRegistry;

/// The envelope field of an organization's audit key (shared with the API).
pub use crate::audit::AUDIT_SECRET_FIELD;

/// The `[issuance]` section as the config crate validates it (its timings and their defaults are
/// defined there, once), and what this host lets connectors do. Derefs to the section, so the
/// timings read as `settings.order_timeout`.
#[derive(Debug, Clone, Default)]
pub struct IssuanceSettings {
    pub timings: IssuanceConfig,
    /// Where `file` targets may write (`[targets.file]`); disabled unless configured.
    pub file_targets: Arc<certautopilot_connectors::targets::FilePathPolicy>,
    /// Which addresses connectors may reach (`[egress]`); the default refuses loopback.
    pub egress: certautopilot_connectors::egress::EgressPolicy,
}

impl std::ops::Deref for IssuanceSettings {
    type Target = IssuanceConfig;

    fn deref(&self) -> &IssuanceConfig {
        &self.timings
    }
}

/// The organization, for audited writes (their events go to its outbox; its AuditActor chains them).
pub struct OrgAudit {
    pub org: Organization,
}

impl OrgAudit {
    pub fn write(
        &self,
        actor: &str,
        action: &str,
        object: (&str, String),
        project_id: ProjectId,
        details: serde_json::Value,
    ) -> AuditWrite {
        AuditWrite {
            draft: AuditDraft {
                org_id: self.org.id,
                actor: Principal::System(actor.to_owned()),
                action: action.to_owned(),
                object: Some(AuditObject { kind: object.0.to_owned(), id: object.1 }),
                project_id: Some(project_id),
                details,
            },
        }
    }
}

/// What the issuance actors share. Cheap to clone.
#[derive(Clone)]
pub struct IssuanceDeps {
    pub store: Arc<dyn Store>,
    pub envelope: Envelope,
    pub registry: ActorRegistry,
    pub settings: IssuanceSettings,
    pub node_id: String,
    org: Arc<tokio::sync::OnceCell<Arc<OrgAudit>>>,
    /// Wakes this process's worker after an enqueue (the distribute jobs after an issuance).
    wake: Arc<std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>>,
    /// SSH connections shared by the targets on one host.
    pub ssh_sessions: Arc<certautopilot_connectors::targets::SshSessions>,
}

impl IssuanceDeps {
    pub fn new(
        store: Arc<dyn Store>,
        envelope: Envelope,
        registry: ActorRegistry,
        settings: IssuanceSettings,
        node_id: impl Into<String>,
    ) -> Self {
        IssuanceDeps {
            store,
            envelope,
            registry,
            settings,
            node_id: node_id.into(),
            org: Arc::new(tokio::sync::OnceCell::new()),
            wake: Arc::default(),
            ssh_sessions: Arc::default(),
        }
    }

    /// Set once the worker runs in this process.
    pub fn set_waker(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        let _ = self.wake.set(wake);
    }

    pub fn wake_workers(&self) {
        if let Some(wake) = self.wake.get() {
            wake();
        }
    }

    /// The installation's organization, read once.
    pub async fn org(&self) -> Result<Arc<OrgAudit>, IssueError> {
        self.org
            .get_or_try_init(|| async {
                let org = self.store.list_organizations().await?.into_iter().next().ok_or(IssueError::NotSetUp)?;
                // Setup seals the audit key with the organization; without it nothing could be chained.
                if org.audit_secret.is_none() {
                    return Err(IssueError::NotSetUp);
                }
                Ok(Arc::new(OrgAudit { org }))
            })
            .await
            .cloned()
    }

    /// A scope for system work on one stored project.
    pub async fn project_scope(&self, project_id: ProjectId) -> Result<ProjectScope, IssueError> {
        let org = self.org().await?;
        let org_scope = OrgScope::for_system(self.actor_name(), &org.org);
        let project: Project = self.store.get(&org_scope, &project_id).await?;
        Ok(ProjectScope::for_system(self.actor_name(), &project))
    }

    pub(crate) fn actor_name(&self) -> String {
        format!("worker:{}", self.node_id)
    }
}

/// Why an issuance step failed, and whether trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Acme(#[from] AcmeError),
    #[error(transparent)]
    Dns(#[from] DnsError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("secret: {0}")]
    Crypto(#[from] CryptoError),
    #[error("the ACME account is paused for {retry_in_secs} s after the CA's rate limit")]
    RateLimited { retry_in_secs: u64 },
    /// The account placed `per_hour` new orders in the last hour (`[issuance]
    /// orders_per_account_per_hour`): new orders wait.
    #[error(
        "the ACME account's order budget ({per_hour} new orders an hour, [issuance] orders_per_account_per_hour) is spent; \
         new orders wait {retry_in_secs} s (is a renewal policy renewing in a loop?)"
    )]
    OrderBudget { per_hour: u32, retry_in_secs: u64 },
    /// A setting or record that needs a person: no zone for a name, a deleted account, …
    #[error("{0}")]
    Setup(String),
    /// The CA refused or invalidated the order; the text is the CA's reason.
    #[error("the CA refused: {0}")]
    Refused(String),
    #[error("the CA did not finish within {0} s")]
    CaTimeout(u64),
    #[error("the organization is not set up")]
    NotSetUp,
    #[error("the job was interrupted (shutdown or lost lease)")]
    Interrupted,
    /// The order is finalized but this attempt holds no key for it: another holder of the job (one
    /// whose lease lapsed) prepared the key, stored it and finalized after this attempt read the
    /// certificate. The next attempt reads the record with that key.
    #[error("the order was finalized by another holder of the job; its key is in the record it saved")]
    FinalizedElsewhere,
    #[error("the {0} actor is restarting")]
    ActorUnavailable(&'static str),
}

impl IssueError {
    pub fn is_transient(&self) -> bool {
        match self {
            IssueError::Acme(e) => e.is_transient(),
            IssueError::Dns(e) => e.is_transient(),
            IssueError::Store(e) => e.is_retryable(),
            IssueError::Crypto(certautopilot_core::crypto::CryptoError::Kek(
                certautopilot_core::crypto::KekError::Unavailable,
            )) => true,
            IssueError::RateLimited { .. }
            | IssueError::OrderBudget { .. }
            | IssueError::CaTimeout(_)
            | IssueError::Interrupted
            | IssueError::FinalizedElsewhere
            | IssueError::ActorUnavailable(_) => true,
            _ => false,
        }
    }

    /// Whether the cause is the CA's (down, limiting, refusing by its policy, or this account's own
    /// pause or order budget), so a fallback issuer may succeed now.
    pub fn another_ca_may_succeed(&self) -> bool {
        match self {
            IssueError::Acme(e) => e.another_ca_may_succeed(),
            IssueError::RateLimited { .. } | IssueError::OrderBudget { .. } | IssueError::CaTimeout(_) => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IssueError;

    /// An order finalized by another holder is worth another attempt (which reads that holder's
    /// key); a setting that needs a person is not.
    #[test]
    fn an_order_finalized_elsewhere_is_retried() {
        assert!(IssueError::FinalizedElsewhere.is_transient());
        assert!(!IssueError::Setup("no zone".into()).is_transient());
    }
}
