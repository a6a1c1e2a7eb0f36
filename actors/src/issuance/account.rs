//! The ACME-account actor: one per account, the only holder of its CA session. Every call to the CA
//! for that account is a message handled one at a time, so nonces and the CA's rate-limit budget
//! are per account; after a `rateLimited` answer the account pauses. An account the CA no longer
//! knows (a test CA restarted, a staging reset) is registered again and the new key stored.

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorFutureExt, ArbiterHandle, AtomicResponse, Context, Handler, Message, WrapFuture};
use certautopilot_connectors::acme::{AcmeAccountHandle, AcmeError, NewAccountRequest, OrderSnapshot, RenewalWindow};
use certautopilot_core::ProjectScope;
use certautopilot_core::crypto::Envelope;
use certautopilot_core::ids::AcmeAccountId;
use certautopilot_core::model::{AcmeAccount, AcmeAccountStatus};
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::order_budget::OrderBudget;
use super::{IssuanceDeps, IssueError};
use crate::hub::Hub;
use crate::registry::Probe;
use crate::supervisor::{Lifeline, Spawn, Supervised};

pub const KIND: &str = "acme_account";

/// One call to the CA.
#[derive(Debug, Clone)]
pub enum AcmeCall {
    /// The names, and the ACME profile when the certificate names one.
    NewOrder {
        names: Vec<String>,
        profile: Option<String>,
    },
    /// The order's state; with `authorizations`, each authorization's too.
    Order {
        url: String,
        authorizations: bool,
    },
    ChallengeReady {
        order_url: String,
        identifier: String,
    },
    Finalize {
        order_url: String,
        csr_der: Vec<u8>,
    },
    Certificate(String),
    Revoke {
        leaf_der: Vec<u8>,
        reason: Option<u8>,
    },
    RenewalWindow(Vec<u8>),
}

impl AcmeCall {
    pub fn name(&self) -> &'static str {
        match self {
            AcmeCall::NewOrder { .. } => "new-order",
            AcmeCall::Order { .. } => "order",
            AcmeCall::ChallengeReady { .. } => "challenge-ready",
            AcmeCall::Finalize { .. } => "finalize",
            AcmeCall::Certificate(_) => "certificate",
            AcmeCall::Revoke { .. } => "revoke",
            AcmeCall::RenewalWindow(_) => "renewal-info",
        }
    }
}

#[derive(Debug, Clone)]
pub enum AcmeReply {
    Order(OrderSnapshot),
    Done,
    Certificate(Option<String>),
    Window(Option<RenewalWindow>),
}

/// A call, made for the certificate actor working in `scope`.
pub struct Call {
    pub scope: ProjectScope,
    pub call: AcmeCall,
}

impl Message for Call {
    type Result = Result<AcmeReply, IssueError>;
}

/// Registers `account` with its CA (EAB included when configured) and stores the credentials
/// sealed; the account becomes `registered`. Used by the API on creation and by the actor when the
/// CA has forgotten the account.
pub async fn register_account(
    envelope: &Envelope,
    account: &mut AcmeAccount,
    timeout: std::time::Duration,
    egress: &certautopilot_connectors::egress::EgressPolicy,
) -> Result<AcmeAccountHandle, AcmeError> {
    let eab_key = match &account.eab_hmac_key {
        Some(sealed) => Some(
            envelope
                .open(&account.id.to_string(), "eab_hmac_key", sealed)
                .map_err(|e| AcmeError::Config(format!("EAB key: {e}")))?,
        ),
        None => None,
    };
    let eab = match (&account.eab_kid, &eab_key) {
        (Some(kid), Some(key)) => Some((kid.as_str(), key)),
        _ => None,
    };
    let (handle, credentials) = AcmeAccountHandle::register(NewAccountRequest {
        directory_url: &account.directory_url,
        extra_roots_pem: account.ca_bundle_pem.as_deref(),
        contact: &account.contact,
        tos_agreed: account.tos_agreed,
        eab,
        timeout,
        egress,
    })
    .await?;
    account.account_key = Some(
        envelope
            .seal(&account.id.to_string(), "account_key", &credentials)
            .map_err(|e| AcmeError::Config(format!("sealing the account key: {e}")))?,
    );
    account.account_url = Some(handle.url().to_owned());
    account.status = AcmeAccountStatus::Registered;
    account.last_error = None;
    Ok(handle)
}

pub struct AcmeAccountActor {
    id: AcmeAccountId,
    deps: IssuanceDeps,
    session: Option<AcmeAccountHandle>,
    paused_until: Option<Instant>,
    orders: OrderBudget,
    calls: u64,
    probe: Arc<Probe>,
    _lifeline: Lifeline,
}

impl AcmeAccountActor {
    fn publish(&self) {
        self.probe.set_state(if self.paused_until.is_some_and(|t| t > Instant::now()) {
            "paused"
        } else if self.session.is_some() {
            "ready"
        } else {
            "idle"
        });
        self.probe.set_detail(json!({
            "calls": self.calls,
            "orders_last_hour": self.orders.used(Instant::now()),
            "session": self.session.as_ref().map(|s| s.url().to_owned()),
            "paused_for_ms": self.paused_until.map(|t| t.saturating_duration_since(Instant::now()).as_millis() as u64),
        }));
    }
}

impl Actor for AcmeAccountActor {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        self.publish();
    }
}

/// Opens the stored session, registering first when the account is not registered yet.
async fn open_session(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    id: AcmeAccountId,
) -> Result<AcmeAccountHandle, IssueError> {
    let account: AcmeAccount = deps.store.get(scope, &id).await?;
    match (&account.status, &account.account_key) {
        (AcmeAccountStatus::Registered, Some(sealed)) => {
            let credentials = deps.envelope.open(&id.to_string(), "account_key", sealed)?;
            let ca = account.ca_bundle_pem.as_deref();
            Ok(AcmeAccountHandle::restore(&credentials, ca, deps.settings.acme_timeout, &deps.settings.egress).await?)
        }
        (AcmeAccountStatus::Deactivated, _) => {
            Err(IssueError::Setup(format!("ACME account {} is deactivated", account.name)))
        }
        _ => reregister(deps, scope, account, "acme_account.registered").await,
    }
}

async fn reregister(
    deps: &IssuanceDeps,
    scope: &ProjectScope,
    mut account: AcmeAccount,
    action: &str,
) -> Result<AcmeAccountHandle, IssueError> {
    let org = deps.org().await?;
    match register_account(&deps.envelope, &mut account, deps.settings.acme_timeout, &deps.settings.egress).await {
        Ok(handle) => {
            account.updated_at = certautopilot_core::Timestamp::now();
            let audit = org.write(
                &deps.actor_name(),
                action,
                ("acme_account", account.id.to_string()),
                scope.project_id(),
                json!({ "account_url": account.account_url }),
            );
            deps.store.update_audited(scope, &account, audit).await?;
            tracing::info!(account_id = %account.id, "acme account registered with the CA");
            Ok(handle)
        }
        Err(e) => {
            if !e.is_transient() {
                // The CA's answer is final until someone changes the account: record it there too.
                let mut failed: AcmeAccount = deps.store.get(scope, &account.id).await?;
                failed.status = AcmeAccountStatus::Failed;
                failed.last_error = Some(e.to_string());
                failed.updated_at = certautopilot_core::Timestamp::now();
                let audit = org.write(
                    &deps.actor_name(),
                    "acme_account.registration_failed",
                    ("acme_account", account.id.to_string()),
                    scope.project_id(),
                    json!({ "reason": e.to_string() }),
                );
                deps.store.update_audited(scope, &failed, audit).await?;
            }
            Err(e.into())
        }
    }
}

async fn perform(session: &AcmeAccountHandle, call: &AcmeCall) -> Result<AcmeReply, AcmeError> {
    Ok(match call {
        AcmeCall::NewOrder { names, profile } => AcmeReply::Order(session.new_order(names, profile.as_deref()).await?),
        AcmeCall::Order { url, authorizations } => AcmeReply::Order(session.order(url, *authorizations).await?),
        AcmeCall::ChallengeReady { order_url, identifier } => {
            session.challenge_ready(order_url, identifier).await?;
            AcmeReply::Done
        }
        AcmeCall::Finalize { order_url, csr_der } => AcmeReply::Order(session.finalize(order_url, csr_der).await?),
        AcmeCall::Certificate(url) => AcmeReply::Certificate(session.certificate(url).await?),
        AcmeCall::Revoke { leaf_der, reason } => {
            session.revoke(leaf_der, *reason).await?;
            AcmeReply::Done
        }
        AcmeCall::RenewalWindow(der) => AcmeReply::Window(session.renewal_window(der).await?),
    })
}

impl Handler<Call> for AcmeAccountActor {
    // Atomic: the next call waits until this one is answered, so calls on one account never overlap.
    type Result = AtomicResponse<Self, Result<AcmeReply, IssueError>>;

    fn handle(&mut self, msg: Call, _: &mut Context<Self>) -> Self::Result {
        let (deps, id, session, paused) = (self.deps.clone(), self.id, self.session.clone(), self.paused_until);
        if matches!(msg.call, AcmeCall::NewOrder { .. }) {
            let per_hour = self.deps.settings.orders_per_account_per_hour;
            if let Err(wait) = self.orders.take(Instant::now(), per_hour) {
                let error = IssueError::OrderBudget { per_hour, retry_in_secs: wait.as_secs().max(1) };
                tracing::warn!(account_id = %id, per_hour, "order budget spent; new orders wait");
                self.probe.set_error(error.to_string());
                return AtomicResponse::new(Box::pin(actix::fut::ready(Err(error))));
            }
        }
        self.probe.set_state(msg.call.name());
        let work = async move {
            if let Some(until) = paused.filter(|t| *t > Instant::now()) {
                let retry_in_secs = until.saturating_duration_since(Instant::now()).as_secs().max(1);
                return (session, Err(IssueError::RateLimited { retry_in_secs }));
            }
            let session = match session {
                Some(s) => s,
                None => match open_session(&deps, &msg.scope, id).await {
                    Ok(s) => s,
                    Err(e) => return (None, Err(e)),
                },
            };
            match perform(&session, &msg.call).await {
                Err(e) if e.account_missing() => {
                    tracing::warn!(account_id = %id, "the CA no longer knows this account; registering it again");
                    let account: AcmeAccount = match deps.store.get(&msg.scope, &id).await {
                        Ok(a) => a,
                        Err(e) => return (Some(session), Err(e.into())),
                    };
                    match reregister(&deps, &msg.scope, account, "acme_account.reregistered").await {
                        Ok(fresh) => {
                            let result = perform(&fresh, &msg.call).await.map_err(IssueError::from);
                            (Some(fresh), result)
                        }
                        Err(e) => (None, Err(e)),
                    }
                }
                result => (Some(session), result.map_err(IssueError::from)),
            }
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|(session, result), act, _| {
            act.session = session;
            act.calls += 1;
            if let Err(IssueError::Acme(e)) = &result {
                if e.is_rate_limited() {
                    // The CA's Retry-After when it gave one, never shorter than the configured pause.
                    let asked = act
                        .session
                        .as_ref()
                        .and_then(|s| s.retry_after())
                        .and_then(|t| t.duration_since(std::time::SystemTime::now()).ok())
                        .unwrap_or_default();
                    act.paused_until = Some(Instant::now() + asked.max(act.deps.settings.rate_limit_pause));
                }
                act.probe.set_error(e.to_string());
            }
            act.publish();
            result
        })))
    }
}

/// The live account actors of this process, started on first use.
#[derive(Clone)]
pub struct AccountHub {
    deps: IssuanceDeps,
    hub: Hub<AcmeAccountId, AcmeAccountActor>,
}

impl AccountHub {
    pub fn new(deps: IssuanceDeps, arbiter: ArbiterHandle) -> Self {
        let hub = Hub::new(&deps.registry, KIND, arbiter);
        AccountHub { deps, hub }
    }

    pub fn actor(&self, id: AcmeAccountId) -> Supervised<AcmeAccountActor> {
        let deps = self.deps.clone();
        // A restarted instance opens its session again from the store.
        self.hub.actor(id, move |s: Spawn| AcmeAccountActor {
            id,
            deps: deps.clone(),
            session: None,
            paused_until: None,
            orders: OrderBudget::default(),
            calls: 0,
            probe: s.probe,
            _lifeline: s.lifeline,
        })
    }

    /// One call to the CA through the account's actor.
    pub async fn call(&self, scope: &ProjectScope, id: AcmeAccountId, call: AcmeCall) -> Result<AcmeReply, IssueError> {
        self.actor(id)
            .send(Call { scope: scope.clone(), call })
            .await
            .map_err(|_| IssueError::ActorUnavailable(KIND))?
    }

    pub async fn stop(&self) {
        self.hub.stop_all().await;
    }
}
