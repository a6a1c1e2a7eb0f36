//! The CA's side of the lifecycle runtime: placing, resuming, polling and finalizing orders,
//! downloading the certificate and revoking it, each answered as an engine event.
//! Invariant: the key the CSR is made with never leaves this runtime unsealed; the engine sees only
//! sealed keys and the leaf's checked summary.

use std::time::Instant;

use certautopilot_connectors::acme::{
    CallRetries, NextStep, OrderSnapshot, OrderStatus, RetryPolicy, csr_for_key, generate_key, public_key_der,
};
use certautopilot_connectors::x509::{chain_der, leaf_summary};
use certautopilot_core::Timestamp;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::AcmeAccountId;
use certautopilot_core::lifecycle::{Effect, Event, Issuance, OrderState, OrderView, PendingChallenge, PollUntil};
use certautopilot_core::model::{AcmeAccount, Certificate, LogLevel, SealedSecret};
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::{Flow, Io};
use crate::issuance::IssueError;
use crate::issuance::account::{AcmeCall, AcmeReply};

impl Flow<'_> {
    /// Runs one of the CA effects.
    pub(super) async fn acme(&self, cert: &Certificate, io: &mut Io, effect: Effect) -> Result<Event, IssueError> {
        match effect {
            Effect::PlaceOrder { sans, account_id } => {
                let profile = self.profile_at(io, cert, account_id).await?;
                let order = self.order(io, account_id, AcmeCall::NewOrder { names: sans, profile }).await?;
                Ok(Event::OrderPlaced { order: view(&order), at: Timestamp::now() })
            }
            Effect::FetchOrder { url } => {
                let order = self.order(io, order_account(cert)?, AcmeCall::Order { url, authorizations: true }).await?;
                Ok(Event::OrderFetched(view(&order)))
            }
            Effect::AnswerChallenges { order_url, identifiers } => {
                for identifier in identifiers {
                    let ready = AcmeCall::ChallengeReady { order_url: order_url.clone(), identifier };
                    self.call(io, order_account(cert)?, ready).await?;
                }
                Ok(Event::ChallengesAnswered)
            }
            Effect::PollOrder { url, until } => {
                let done = |s: OrderStatus| match until {
                    PollUntil::NotPending => s != OrderStatus::Pending,
                    PollUntil::NotProcessing => s != OrderStatus::Processing,
                };
                Ok(Event::OrderPolled(view(&self.poll(io, cert, &url, done).await?)))
            }
            Effect::PrepareKey { pending, sans } => {
                if let Some(csr) = operator_csr(cert)? {
                    // The operator keeps the key: the order finalizes with their CSR as it is.
                    io.csr_der = Some(csr.der);
                    return Ok(Event::KeyReady { sealed: None });
                }
                let (key, sealed) = self.order_key(cert, pending).await?;
                io.csr_der = Some(csr_for_key(&key, &sans)?);
                Ok(Event::KeyReady { sealed })
            }
            Effect::Finalize { order_url } => {
                let csr_der = io.csr_der.take().ok_or_else(|| IssueError::Setup("no CSR to finalize with".into()))?;
                let io = &*io;
                let order = self.order(io, order_account(cert)?, AcmeCall::Finalize { order_url, csr_der }).await?;
                Ok(Event::OrderFinalized(view(&order)))
            }
            Effect::Download { order_url, pending_key } => self.download(io, cert, order_url, pending_key).await,
            Effect::Revoke { chain_pem, reason, account_id } => self.revoke(io, account_id, &chain_pem, reason).await,
            other => Err(IssueError::Setup(format!("the runtime cannot run {other:?}"))),
        }
    }

    /// One call to the CA through the account's actor. A transient failure (a rejected nonce, a
    /// reset connection, a 5xx) is tried again here within `[issuance] acme_retries` and
    /// `acme_retry_budget_ms`, each retry written to the job log, before the attempt gives up.
    async fn call(&self, io: &Io, account: AcmeAccountId, call: AcmeCall) -> Result<AcmeReply, IssueError> {
        let policy =
            RetryPolicy { max_retries: self.deps.settings.acme_retries, budget: self.deps.settings.acme_retry_budget };
        let mut retries = CallRetries::new(policy);
        let started = Instant::now();
        loop {
            let error = match self.accounts.call(&io.scope, account, call.clone()).await {
                Err(IssueError::Acme(error)) => error,
                other => return other,
            };
            match retries.next(&error, started.elapsed(), std::time::SystemTime::now()) {
                NextStep::GiveUp => return Err(error.into()),
                NextStep::Retry { after, reason, retry } => {
                    let message = format!(
                        "the CA's {} answer failed ({reason}); retrying in {} ms ({retry} of {})",
                        call.name(),
                        after.as_millis(),
                        policy.max_retries
                    );
                    let fields = json!({ "call": call.name(), "reason": reason, "retry": retry, "after_ms": after.as_millis() as u64 });
                    self.log(LogLevel::Warn, &message, fields).await;
                    self.cancellable(tokio::time::sleep(after)).await?;
                }
            }
        }
    }

    async fn order(&self, io: &Io, account: AcmeAccountId, call: AcmeCall) -> Result<OrderSnapshot, IssueError> {
        match self.call(io, account, call).await? {
            AcmeReply::Order(order) => Ok(order),
            other => Err(IssueError::Setup(format!("unexpected answer {other:?}"))),
        }
    }

    /// The profile a new order at `account` asks for: the certificate's, which its first issuer
    /// offers (checked when it was chosen); a fallback issuer gets it only if its CA offers it too,
    /// otherwise the order asks for the CA's default.
    async fn profile_at(
        &self,
        io: &Io,
        cert: &Certificate,
        account: AcmeAccountId,
    ) -> Result<Option<String>, IssueError> {
        let Some(profile) = &cert.profile else { return Ok(None) };
        if Some(account) == cert.acme_account_id {
            return Ok(Some(profile.clone()));
        }
        let fallback: AcmeAccount = self.deps.store.get(&io.scope, &account).await?;
        Ok(fallback.profiles.contains_key(profile).then(|| profile.clone()))
    }

    /// The order's key: the stored one opened, or a new one generated and sealed (returned to be
    /// stored before the CSR leaves, so a crash cannot lose it).
    async fn order_key(
        &self,
        cert: &Certificate,
        pending: Option<SealedSecret>,
    ) -> Result<(SecretBytes, Option<SealedSecret>), IssueError> {
        if let Some(sealed) = pending {
            return Ok((self.deps.envelope.open(&self.id.to_string(), "pending_key", &sealed)?, None));
        }
        let key_type = cert.key_type;
        let key = tokio::task::spawn_blocking(move || generate_key(key_type))
            .await
            .map_err(|e| IssueError::Setup(format!("key generation stopped: {e}")))??;
        let sealed = self.deps.envelope.seal(&self.id.to_string(), "pending_key", &key)?;
        Ok((key, Some(sealed)))
    }

    /// Downloads the chain, checks it against the order's key, asks for the renewal window, and seals
    /// the key again as `private_key` (sealed values are bound to their field: moving the
    /// `pending_key` envelope would fail its integrity check on every later open).
    async fn download(
        &self,
        io: &Io,
        cert: &Certificate,
        order_url: String,
        pending_key: Option<SealedSecret>,
    ) -> Result<Event, IssueError> {
        let chain = match self.call(io, order_account(cert)?, AcmeCall::Certificate(order_url)).await? {
            AcmeReply::Certificate(Some(chain)) => chain,
            _ => return Err(IssueError::Setup("the CA has no certificate for a valid order".into())),
        };
        // The key the certificate must carry: the operator's (from their CSR), or the order's own,
        // sealed again below as `private_key`.
        let (spki, key) = match operator_csr(cert)? {
            Some(csr) => (csr.spki, None),
            None => {
                // A valid order whose key this attempt never saw: another holder finalized it (the
                // key is stored before the CSR leaves, so it is in the record, not lost).
                let sealed_key = pending_key.ok_or(IssueError::FinalizedElsewhere)?;
                let key: SecretBytes = self.deps.envelope.open(&self.id.to_string(), "pending_key", &sealed_key)?;
                (public_key_der(&key)?, Some(key))
            }
        };
        let leaf = leaf_summary(&chain, Some(&spki))
            .map_err(|e| IssueError::Refused(format!("the downloaded certificate is unusable: {e}")))?;
        let leaf_der = chain_der(&chain).map_err(|e| IssueError::Refused(e.to_string()))?.remove(0).to_vec();
        let window = match self.call(io, order_account(cert)?, AcmeCall::RenewalWindow(leaf_der)).await {
            Ok(AcmeReply::Window(window)) => window,
            _ => None,
        };
        let private_key =
            key.map(|key| self.deps.envelope.seal(&self.id.to_string(), "private_key", &key)).transpose()?;
        let issuance = Issuance {
            serial: leaf.serial,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
            fingerprint_sha256: leaf.fingerprint_sha256,
            chain_pem: chain,
            private_key,
            ari_window: window.map(|w| (w.start, w.end)),
        };
        Ok(Event::Downloaded { issuance: Box::new(issuance), at: Timestamp::now() })
    }

    async fn revoke(
        &self,
        io: &Io,
        account: AcmeAccountId,
        chain_pem: &str,
        reason: Option<u8>,
    ) -> Result<Event, IssueError> {
        let leaf_der = match chain_der(chain_pem) {
            Ok(mut ders) => ders.remove(0).to_vec(),
            Err(e) => return Ok(Event::Unrevocable(e.to_string())),
        };
        match self.call(io, account, AcmeCall::Revoke { leaf_der, reason }).await {
            Ok(_) => {}
            Err(IssueError::Acme(e)) if e.problem_type() == Some("urn:ietf:params:acme:error:alreadyRevoked") => {}
            Err(e) => return Err(e),
        }
        Ok(Event::Revoked { at: Timestamp::now() })
    }

    /// Polls the order until `done`, starting fast and slowing to `poll_max`, for at most
    /// `order_timeout`.
    async fn poll(
        &self,
        io: &Io,
        cert: &Certificate,
        url: &str,
        done: impl Fn(OrderStatus) -> bool,
    ) -> Result<OrderSnapshot, IssueError> {
        let (poll_initial, order_timeout, poll_max) =
            (self.deps.settings.poll_initial, self.deps.settings.order_timeout, self.deps.settings.poll_max);
        let started = Instant::now();
        let mut delay = poll_initial;
        loop {
            self.cancellable(tokio::time::sleep(delay)).await?;
            let poll = AcmeCall::Order { url: url.to_owned(), authorizations: false };
            let order = self.order(io, order_account(cert)?, poll).await?;
            if done(order.status) {
                return Ok(order);
            }
            if started.elapsed() > order_timeout {
                return Err(IssueError::CaTimeout(order_timeout.as_secs()));
            }
            delay = delay.mul_f64(1.5).min(poll_max);
            // The CA's Retry-After, when it sent one, is the earliest next poll.
            if let Some(asked) = order.retry_after.and_then(|t| t.duration_since(std::time::SystemTime::now()).ok()) {
                delay = delay.max(asked.min(order_timeout));
            }
        }
    }

    pub(super) async fn cancellable<T>(&self, work: impl Future<Output = T>) -> Result<T, IssueError> {
        let mut ctx = self.ctx.clone();
        tokio::select! {
            out = work => Ok(out),
            () = ctx.cancelled() => Err(IssueError::Interrupted),
        }
    }
}

/// The account the certificate's order belongs to; a certificate with no issuer (issued elsewhere,
/// not under management) has no order to run.
fn order_account(cert: &Certificate) -> Result<AcmeAccountId, IssueError> {
    cert.order_account()
        .ok_or_else(|| IssueError::Setup("the certificate has no issuer; put it under management first".into()))
}

/// What the engine needs of an order: its status, its pending challenges and the CA's reasons.
fn view(order: &OrderSnapshot) -> OrderView {
    OrderView {
        url: order.url.clone(),
        status: match order.status {
            OrderStatus::Pending => OrderState::Pending,
            OrderStatus::Ready => OrderState::Ready,
            OrderStatus::Processing => OrderState::Processing,
            OrderStatus::Valid => OrderState::Valid,
            OrderStatus::Invalid => OrderState::Invalid,
        },
        pending: order
            .authorizations
            .iter()
            .filter(|a| a.status == "pending")
            .map(|a| PendingChallenge { identifier: a.identifier.clone(), dns_value: a.dns_value.clone() })
            .collect(),
        refusal: refusal(order),
        refused_by_policy: order.refused_by_policy,
    }
}

fn refusal(order: &OrderSnapshot) -> String {
    let mut reasons: Vec<String> = order
        .authorizations
        .iter()
        .filter_map(|a| a.error.as_ref().map(|e| format!("{}: {e}", a.identifier)))
        .collect();
    if let Some(e) = &order.error {
        reasons.insert(0, e.clone());
    }
    if reasons.is_empty() { format!("the order became {:?}", order.status).to_lowercase() } else { reasons.join("; ") }
}

/// The operator's CSR, read again from the record (checked when it was stored; a record changed
/// behind the API's back fails here, permanently).
fn operator_csr(cert: &Certificate) -> Result<Option<certautopilot_connectors::csr::CsrSummary>, IssueError> {
    cert.csr_pem
        .as_deref()
        .map(|pem| {
            certautopilot_connectors::csr::read_csr(pem)
                .map_err(|e| IssueError::Refused(format!("the certificate's CSR {e}")))
        })
        .transpose()
}
