//! The application's state, shared by every operation: the store (once open), the envelope, the
//! clock, the organization's unsealed keys, this process's actors, workers and cluster node, and
//! the settings operations follow (auth, job attempts, file-target policy, CA directory check).
//! Invariant: the organization context is read from the store once and cached; its keys are opened
//! through the envelope and never leave this process.

use std::sync::Arc;

use certautopilot_config::AuthConfig;
use certautopilot_core::audit::AuditDraft;
use certautopilot_core::crypto::{Envelope, SecretBytes};
use certautopilot_core::ids::ProjectId;
use certautopilot_core::model::{AuditObject, LoginPolicy, Organization};
use certautopilot_core::scope::Principal;
use certautopilot_core::store::{AuditWrite, Store};
use certautopilot_core::{Clock, Timestamp};
use tokio::sync::RwLock;

use crate::service::credentials::password_hashing::PasswordHashing;
use crate::service::directory::DirectoryCheck;
use crate::service::error::{ApiError, ErrorCode};

/// The envelope field name of the organization's token-signing key.
pub const JWT_KEY_FIELD: &str = "jwt_signing_key";
/// The envelope field name of the organization's audit-chain key.
pub const AUDIT_SECRET_FIELD: &str = certautopilot_actors::issuance::AUDIT_SECRET_FIELD;

/// The one organization of this installation and its unsealed keys.
pub struct OrgContext {
    pub org: Organization,
    pub jwt_key: SecretBytes,
    /// For `audit/verify`; writers need no secret (their events go to the outbox).
    pub audit_secret: Arc<SecretBytes>,
    /// What failed logins are counted under, derived once from `jwt_key`.
    pub login_keys: certautopilot_core::model::LoginKeys,
}

impl OrgContext {
    /// An audit entry to write with a state change (see `RecordStore::*_audited`).
    pub fn audit(
        &self,
        actor: Principal,
        action: &str,
        object: Option<(&str, String)>,
        project_id: Option<ProjectId>,
        details: serde_json::Value,
    ) -> AuditWrite {
        AuditWrite {
            draft: AuditDraft {
                org_id: self.org.id,
                actor,
                action: action.to_owned(),
                object: object.map(|(kind, id)| AuditObject { kind: kind.to_owned(), id }),
                project_id,
                details,
            },
        }
    }
}

/// Makes the actor (kind, key) panic; `Err` says why it could not.
pub type FaultInjector = Arc<
    dyn Fn(String, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

pub struct AppState {
    /// Set once the store is open and migrated; until then data routes answer 503.
    store: std::sync::OnceLock<Arc<dyn Store>>,
    pub envelope: Envelope,
    /// This process's actors, for the inspection routes.
    pub actors: certautopilot_actors::ActorRegistry,
    /// Wakes this process's job pump after an enqueue (set once the worker runs here).
    waker: std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>,
    /// Makes an actor panic, when `debug.fault_injection` is on and the actors run here.
    faults: std::sync::OnceLock<FaultInjector>,
    /// This node's cluster membership, when `[cluster]` is configured.
    cluster: std::sync::OnceLock<Arc<certautopilot_cluster::ClusterNode>>,
    /// This process's audit actors, flushed before reads that must see their own writes.
    audit: std::sync::OnceLock<certautopilot_actors::audit::AuditHub>,
    pub auth: AuthConfig,
    pub max_job_attempts: u32,
    /// Failed logins are counted in the store, so every process serving the API shares the count.
    pub login_policy: LoginPolicy,
    /// Every argon2 computation of the API goes through this bound (issue 14, item 3).
    pub password_hashing: PasswordHashing,
    /// Cookies get `Secure` when the API itself serves TLS.
    pub secure_cookies: bool,
    /// Where file targets may write on this host; none until configured.
    pub file_targets: Arc<certautopilot_connectors::targets::FilePathPolicy>,
    /// How long a client gets to send a whole request body (`api.request_body_timeout_secs`).
    pub body_timeout: std::time::Duration,
    /// The bounds of GraphQL requests (`[api.graphql]`).
    pub graphql: certautopilot_config::GraphqlConfig,
    /// With no scheduler heartbeat for this long, the scheduler is reported absent
    /// (`issuance.scheduler_absent_after_secs`).
    pub scheduler_absent_after: std::time::Duration,
    /// When this process started serving: before a scheduler could have beaten once, none is absent.
    pub started_at: Timestamp,
    /// How account writes reach a CA's directory to check it (issue 15, item 4); none: unchecked.
    acme_directory: Option<DirectoryCheck>,
    /// How credential tests reach DNS providers; by default under the default egress policy.
    dns_probe: crate::service::dns_probe::DnsProbe,
    /// How a channel's test reaches it: `[egress]` and `notifications.send_timeout_secs`.
    notify_send: certautopilot_connectors::notify::SendOptions,
    clock: Arc<dyn Clock>,
    org: RwLock<Option<Arc<OrgContext>>>,
}

impl AppState {
    pub fn new(
        envelope: Envelope,
        auth: AuthConfig,
        max_job_attempts: u32,
        secure_cookies: bool,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let login_policy = LoginPolicy {
            slowdown_after: auth.login_slowdown_after,
            slowdown_max: auth.login_slowdown_max,
            lockout_after_per_account_address: auth.login_lockout_after_per_account_address,
            lockout_after_per_address: auth.login_lockout_after_per_address,
            lockout: auth.login_lockout,
        };
        let password_hashing = PasswordHashing::new(auth.password_hash_concurrency, auth.password_hash_wait);
        AppState {
            store: std::sync::OnceLock::new(),
            envelope,
            actors: certautopilot_actors::ActorRegistry::new(),
            waker: std::sync::OnceLock::new(),
            faults: std::sync::OnceLock::new(),
            cluster: std::sync::OnceLock::new(),
            audit: std::sync::OnceLock::new(),
            auth,
            max_job_attempts,
            login_policy,
            password_hashing,
            secure_cookies,
            file_targets: Arc::default(),
            body_timeout: std::time::Duration::from_secs(10),
            graphql: certautopilot_config::GraphqlConfig::default(),
            scheduler_absent_after: certautopilot_config::IssuanceConfig::default().scheduler_absent_after,
            started_at: clock.now(),
            acme_directory: None,
            dns_probe: Default::default(),
            notify_send: certautopilot_connectors::notify::SendOptions {
                egress: Default::default(),
                timeout: std::time::Duration::from_secs(15),
            },
            clock,
            org: RwLock::new(None),
        }
    }

    /// Shares the process's actor registry with the inspection routes.
    pub fn with_actors(mut self, actors: certautopilot_actors::ActorRegistry) -> Self {
        self.actors = actors;
        self
    }

    /// The file targets' allow-list and protected paths, as the workers enforce them.
    pub fn with_file_targets(mut self, policy: Arc<certautopilot_connectors::targets::FilePathPolicy>) -> Self {
        self.file_targets = policy;
        self
    }

    pub fn with_body_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    pub fn with_graphql(mut self, graphql: certautopilot_config::GraphqlConfig) -> Self {
        self.graphql = graphql;
        self
    }

    /// Has ACME account writes fetch the CA's directory first, through `check.egress`.
    pub fn with_scheduler_absent_after(mut self, after: std::time::Duration) -> Self {
        self.scheduler_absent_after = after;
        self
    }

    pub fn with_acme_directory_check(mut self, check: DirectoryCheck) -> Self {
        self.acme_directory = Some(check);
        self
    }

    /// Has credential tests reach DNS providers through `probe.egress`, within its time bounds.
    pub fn with_dns_probe(mut self, probe: crate::service::dns_probe::DnsProbe) -> Self {
        self.dns_probe = probe;
        self
    }

    pub fn dns_probe(&self) -> &crate::service::dns_probe::DnsProbe {
        &self.dns_probe
    }

    /// Has channel tests send under `options` (the egress policy and the send timeout).
    pub fn with_notify_send(mut self, options: certautopilot_connectors::notify::SendOptions) -> Self {
        self.notify_send = options;
        self
    }

    pub fn notify_send(&self) -> &certautopilot_connectors::notify::SendOptions {
        &self.notify_send
    }

    /// Lets operations wake the worker of this process when they enqueue (otherwise it polls).
    pub fn set_waker(&self, wake: Arc<dyn Fn() + Send + Sync>) {
        let _ = self.waker.set(wake);
    }

    pub fn set_fault_injector(&self, faults: FaultInjector) {
        let _ = self.faults.set(faults);
    }

    pub fn set_cluster(&self, node: Arc<certautopilot_cluster::ClusterNode>) {
        let _ = self.cluster.set(node);
    }

    pub fn set_audit(&self, hub: certautopilot_actors::audit::AuditHub) {
        let _ = self.audit.set(hub);
    }

    /// Has the organization's AuditActor chain everything committed so far, so a read of the chain
    /// sees this request's own writes. When it cannot, the read goes on with the chain as it is
    /// (the events are safe in the outbox) and the failure is logged.
    pub async fn flush_audit(&self, org: certautopilot_core::ids::OrgId) {
        if let Some(hub) = self.audit.get()
            && let Err(e) = hub.flush(org).await
        {
            tracing::warn!(org_id = %org, error = %e, "audit chain not caught up; reading it as it is");
        }
    }

    pub fn cluster(&self) -> Option<&Arc<certautopilot_cluster::ClusterNode>> {
        self.cluster.get()
    }

    pub fn fault_injector(&self) -> Option<&FaultInjector> {
        self.faults.get()
    }

    pub fn wake_workers(&self) {
        if let Some(wake) = self.waker.get() {
            wake();
        }
    }

    /// Makes the store available to operations; called once it is open and migrated.
    pub fn set_store(&self, store: Arc<dyn Store>) {
        let _ = self.store.set(store);
    }

    pub fn store(&self) -> Result<&Arc<dyn Store>, ApiError> {
        self.store.get().ok_or_else(|| ApiError::new(ErrorCode::ServiceUnavailable, "the store is still opening"))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The organization once set up (by this process or another sharing the store), cached.
    pub async fn organization(&self) -> Result<Option<Arc<OrgContext>>, ApiError> {
        if let Some(ctx) = self.org.read().await.clone() {
            return Ok(Some(ctx));
        }
        let Some(org) = self.store()?.list_organizations().await?.into_iter().next() else { return Ok(None) };
        let sealed =
            org.jwt_signing_key.as_ref().ok_or_else(|| ApiError::internal("organization", &"no signing key"))?;
        let jwt_key = self.envelope.open(&org.id.to_string(), JWT_KEY_FIELD, sealed)?;
        let sealed_audit =
            org.audit_secret.as_ref().ok_or_else(|| ApiError::internal("organization", &"no audit secret"))?;
        let audit_secret = Arc::new(self.envelope.open(&org.id.to_string(), AUDIT_SECRET_FIELD, sealed_audit)?);
        let login_keys = certautopilot_core::model::LoginKeys::new(&jwt_key);
        let ctx = Arc::new(OrgContext { org, jwt_key, audit_secret, login_keys });
        *self.org.write().await = Some(ctx.clone());
        Ok(Some(ctx))
    }

    /// The organization context, or 409 before setup.
    pub async fn org(&self) -> Result<Arc<OrgContext>, ApiError> {
        self.organization()
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "the organization is not set up yet"))
    }

    /// Checks an ACME directory when this process was given a way to reach CAs; without one (a test
    /// harness that talks to no CA) the account is saved unchecked and the first order reports.
    /// The CA's directory fetched with the account's trust (unless this state checks none, as in
    /// some unit tests): what the account keeps of it.
    pub async fn check_acme_directory(
        &self,
        directory_url: &str,
        ca_bundle_pem: Option<&str>,
    ) -> Result<certautopilot_connectors::acme::DirectoryInfo, ApiError> {
        match &self.acme_directory {
            Some(check) => check.check(directory_url, ca_bundle_pem).await,
            None => Ok(Default::default()),
        }
    }
}
