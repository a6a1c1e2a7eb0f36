//! One ACME account at one CA: registration and every order step as a single call with a timeout.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use certautopilot_core::Timestamp;
use certautopilot_core::crypto::SecretBytes;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, CertificateIdentifier, ChallengeStatus, ChallengeType,
    ExternalAccountKey, Identifier, NewAccount, NewOrder, RevocationReason, RevocationRequest,
};
use rustls::pki_types::CertificateDer;
use serde::Serialize;

use super::AcmeError;
use super::http::{RetryAfter, http_client};
use crate::egress::EgressPolicy;

/// What registering an account needs. The EAB HMAC key is the CA-issued base64url text.
pub struct NewAccountRequest<'a> {
    pub directory_url: &'a str,
    pub extra_roots_pem: Option<&'a str>,
    pub contact: &'a [String],
    pub tos_agreed: bool,
    pub eab: Option<(&'a str, &'a SecretBytes)>,
    pub timeout: Duration,
    /// Where the client may connect (`[egress]`).
    pub egress: &'a EgressPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

/// One authorization of an order, with what its DNS-01 challenge needs.
#[derive(Debug, Clone, Serialize)]
pub struct AuthzSnapshot {
    /// The name as ordered (`*.example.com` for a wildcard).
    pub identifier: String,
    pub status: String,
    /// The TXT value to publish at `_acme-challenge.<name>`, while the authorization is pending.
    #[serde(skip)]
    pub dns_value: Option<String>,
    pub challenge_status: Option<String>,
    /// The CA's reason when the challenge or authorization failed.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderSnapshot {
    pub url: String,
    pub status: OrderStatus,
    pub error: Option<String>,
    pub authorizations: Vec<AuthzSnapshot>,
    /// The CA's `Retry-After` on this answer: poll again no earlier.
    #[serde(skip)]
    pub retry_after: Option<std::time::SystemTime>,
    /// The order's or a challenge's error is the CA's own refusal (CAA, its policy, its limits).
    #[serde(default)]
    pub refused_by_policy: bool,
}

/// The CA's suggested renewal window (RFC 9773).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Orders kept live per account; far above the orders one account has in flight at once.
const MAX_LIVE_ORDERS: usize = 1_024;

#[derive(Clone)]
pub struct AcmeAccountHandle {
    account: Account,
    timeout: Duration,
    /// The CA's last `Retry-After`, as the HTTP client saw it.
    retry_after: RetryAfter,
    orders: Arc<tokio::sync::Mutex<std::collections::HashMap<String, instant_acme::Order>>>,
}

impl std::fmt::Debug for AcmeAccountHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeAccountHandle").field("url", &self.account.id()).finish_non_exhaustive()
    }
}

async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, instant_acme::Error>>,
) -> Result<T, AcmeError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(AcmeError::from),
        Err(_) => Err(AcmeError::Unreachable(format!("no answer within {} ms", timeout.as_millis()))),
    }
}

/// What the order looks like, from its last known state; with `detail`, its authorizations too.
/// Answers `identifier`'s DNS-01 challenge if the order's view of it says pending.
async fn answer_if_pending(order: &mut instant_acme::Order, identifier: &str) -> Result<(), instant_acme::Error> {
    let mut authzs = order.authorizations();
    while let Some(authz) = authzs.next().await {
        let mut authz = authz?;
        if authz.identifier().to_string() != identifier {
            continue;
        }
        let mut challenge =
            authz.challenge(ChallengeType::Dns01).ok_or(instant_acme::Error::Str("no dns-01 challenge offered"))?;
        if challenge.status == ChallengeStatus::Pending {
            challenge.set_ready().await?;
        }
        return Ok(());
    }
    Err(instant_acme::Error::Str("identifier not in the order"))
}

/// The status of `identifier`'s DNS-01 challenge as the CA tells it now (its authorization read
/// again); `None` when the order has no such challenge.
async fn dns01_status_now(
    order: &mut instant_acme::Order,
    identifier: &str,
) -> Result<Option<ChallengeStatus>, instant_acme::Error> {
    let mut authzs = order.authorizations();
    while let Some(authz) = authzs.next().await {
        let mut authz = authz?;
        if authz.identifier().to_string() != identifier {
            continue;
        }
        let state = authz.refresh().await?;
        return Ok(state.challenges.iter().find(|c| c.r#type == ChallengeType::Dns01).map(|c| c.status));
    }
    Ok(None)
}

async fn snapshot(
    order: &mut instant_acme::Order,
    url: &str,
    detail: bool,
) -> Result<OrderSnapshot, instant_acme::Error> {
    let state = order.state();
    let status = status_of(&state.status);
    let error = state.error.as_ref().map(super::problem_detail);
    let mut refused_by_policy = state.error.as_ref().is_some_and(|p| super::is_ca_own_problem(super::problem_kind(p)));
    let mut authorizations = Vec::new();
    if detail {
        let mut authzs = order.authorizations();
        while let Some(authz) = authzs.next().await {
            let mut authz = authz?;
            let identifier = authz.identifier().to_string();
            let status = format!("{:?}", authz.status).to_ascii_lowercase();
            let pending = authz.status == AuthorizationStatus::Pending;
            let challenge = authz.challenge(ChallengeType::Dns01);
            let ca_own = |p: &instant_acme::Problem| super::is_ca_own_problem(super::problem_kind(p));
            refused_by_policy |= challenge.as_ref().and_then(|c| c.error.as_ref()).is_some_and(ca_own);
            let (dns_value, challenge_status, error) = match challenge {
                Some(challenge) => (
                    pending.then(|| challenge.key_authorization().dns_value()),
                    Some(format!("{:?}", challenge.status).to_ascii_lowercase()),
                    challenge.error.as_ref().map(super::problem_detail),
                ),
                None => (None, None, None),
            };
            authorizations.push(AuthzSnapshot { identifier, status, dns_value, challenge_status, error });
        }
    }
    Ok(OrderSnapshot { url: url.to_owned(), status, error, authorizations, retry_after: None, refused_by_policy })
}

fn status_of(status: &instant_acme::OrderStatus) -> OrderStatus {
    match status {
        instant_acme::OrderStatus::Pending => OrderStatus::Pending,
        instant_acme::OrderStatus::Ready => OrderStatus::Ready,
        instant_acme::OrderStatus::Processing => OrderStatus::Processing,
        instant_acme::OrderStatus::Valid => OrderStatus::Valid,
        _ => OrderStatus::Invalid,
    }
}

impl AcmeAccountHandle {
    /// Registers a new account (a fresh key) and returns it with its credentials, which hold the
    /// private key and must be stored sealed.
    pub async fn register(request: NewAccountRequest<'_>) -> Result<(Self, SecretBytes), AcmeError> {
        let contact: Vec<&str> = request.contact.iter().map(String::as_str).collect();
        let eab = match request.eab {
            Some((kid, key)) => {
                let text = key.expose_str().ok_or_else(|| AcmeError::Config("EAB key is not text".into()))?;
                let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim().trim_end_matches('='))
                    .map_err(|_| AcmeError::Config("EAB HMAC key is not base64url".into()))?;
                Some(ExternalAccountKey::new(kid.to_owned(), &raw))
            }
            None => None,
        };
        let retry_after = RetryAfter::default();
        let builder =
            Account::builder_with_http(http_client(request.extra_roots_pem, retry_after.clone(), request.egress)?);
        let new_account =
            NewAccount { contact: &contact, terms_of_service_agreed: request.tos_agreed, only_return_existing: false };
        let (account, credentials) =
            within(request.timeout, builder.create(&new_account, request.directory_url.to_owned(), eab.as_ref()))
                .await?;
        let json = serde_json::to_vec(&credentials).map_err(|e| AcmeError::Protocol(e.to_string()))?;
        Ok((
            AcmeAccountHandle { account, timeout: request.timeout, retry_after, orders: Arc::default() },
            SecretBytes::new(json),
        ))
    }

    /// Restores a registered account from its stored credentials (fetches the CA's directory).
    pub async fn restore(
        credentials: &SecretBytes,
        extra_roots_pem: Option<&str>,
        timeout: Duration,
        egress: &EgressPolicy,
    ) -> Result<Self, AcmeError> {
        let credentials: AccountCredentials = serde_json::from_slice(credentials.expose())
            .map_err(|_| AcmeError::Config("stored account credentials are unreadable".into()))?;
        let retry_after = RetryAfter::default();
        let builder = Account::builder_with_http(http_client(extra_roots_pem, retry_after.clone(), egress)?);
        let account = within(timeout, builder.from_credentials(credentials)).await?;
        Ok(AcmeAccountHandle { account, timeout, retry_after, orders: Arc::default() })
    }

    /// When the CA last asked to be left alone until (`Retry-After` on its latest answer, if any).
    /// Read after a call: a rate-limited or still-processing answer carries it.
    pub fn retry_after(&self) -> Option<std::time::SystemTime> {
        self.retry_after.get()
    }

    /// The account URL the CA assigned.
    pub fn url(&self) -> &str {
        self.account.id()
    }

    /// Places an order for `names`, with the ACME `profile` when given (draft-ietf-acme-profiles).
    pub async fn new_order(&self, names: &[String], profile: Option<&str>) -> Result<OrderSnapshot, AcmeError> {
        let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
        let mut request = NewOrder::new(&identifiers);
        if let Some(profile) = profile {
            request = request.profile(profile);
        }
        let mut order = within(self.timeout, self.account.new_order(&request)).await?;
        let url = order.url().to_owned();
        let snapshot = within(self.timeout, snapshot(&mut order, &url, true)).await;
        self.keep(url, order).await;
        snapshot
    }

    /// The order as the CA sees it now. With `authorizations`, each authorization and its DNS-01
    /// value too (one request per authorization); without, one request.
    pub async fn order(&self, url: &str, authorizations: bool) -> Result<OrderSnapshot, AcmeError> {
        let mut order = self.take(url).await?;
        let result = within(self.timeout, async {
            order.refresh().await?;
            let retry_after = self.retry_after.get();
            // A failed order says why in its authorizations: fetch them whatever was asked.
            let detail = authorizations || order.state().status == instant_acme::OrderStatus::Invalid;
            let mut snapshot = snapshot(&mut order, url, detail).await?;
            snapshot.retry_after = retry_after;
            Ok(snapshot)
        })
        .await;
        self.put_back(url, order, result.is_ok()).await;
        result
    }

    /// Tells the CA the DNS-01 record for `identifier` is in place, unless it was told already.
    /// Another holder of the same order (a worker that lost its lease and has not stopped yet) may
    /// answer the challenge between this read and this answer; the CA then refuses the second
    /// answer ("only status pending"). That refusal is no failure: a fresh read of the challenge
    /// that finds it no longer pending means it was answered, and the order's state says the rest.
    pub async fn challenge_ready(&self, order_url: &str, identifier: &str) -> Result<(), AcmeError> {
        let mut order = self.take(order_url).await?;
        let result = within(self.timeout, async {
            let refused = match answer_if_pending(&mut order, identifier).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            match dns01_status_now(&mut order, identifier).await {
                Ok(Some(status)) if status != ChallengeStatus::Pending => Ok(()),
                _ => Err(refused),
            }
        })
        .await;
        self.put_back(order_url, order, result.is_ok()).await;
        result
    }

    pub async fn finalize(&self, order_url: &str, csr_der: &[u8]) -> Result<OrderSnapshot, AcmeError> {
        let mut order = self.take(order_url).await?;
        let result = within(self.timeout, async {
            order.finalize_csr(csr_der).await?;
            snapshot(&mut order, order_url, false).await
        })
        .await;
        self.put_back(order_url, order, result.is_ok()).await;
        result
    }

    /// The full chain (PEM) once the order is valid; `None` while the CA is still processing. The
    /// order is done with after this.
    pub async fn certificate(&self, order_url: &str) -> Result<Option<String>, AcmeError> {
        let mut order = self.take(order_url).await?;
        let result = within(self.timeout, order.certificate()).await;
        let keep = matches!(result, Ok(None));
        self.put_back(order_url, order, keep).await;
        result
    }

    /// The live order object for `url`: kept from the last call (with its nonce and authorizations,
    /// which saves a nonce request and the authorization fetches on every step), or fetched.
    async fn take(&self, url: &str) -> Result<instant_acme::Order, AcmeError> {
        let cached = self.orders.lock().await.remove(url);
        match cached {
            Some(order) => Ok(order),
            None => within(self.timeout, self.account.order(url.to_owned())).await,
        }
    }

    /// Keeps the order for the next call, unless its last call failed (its state may be stale then)
    /// or it is finished.
    async fn put_back(&self, url: &str, order: instant_acme::Order, keep: bool) {
        if keep {
            self.keep(url.to_owned(), order).await;
        }
    }

    async fn keep(&self, url: String, order: instant_acme::Order) {
        let mut orders = self.orders.lock().await;
        if orders.len() >= MAX_LIVE_ORDERS {
            // Abandoned orders (their certificates failed elsewhere) must not pile up.
            orders.clear();
        }
        orders.insert(url, order);
    }

    pub async fn revoke(&self, leaf_der: &[u8], reason: Option<u8>) -> Result<(), AcmeError> {
        let der = CertificateDer::from(leaf_der.to_vec());
        let reason = reason.map(|r| match r {
            1 => RevocationReason::KeyCompromise,
            3 => RevocationReason::AffiliationChanged,
            4 => RevocationReason::Superseded,
            5 => RevocationReason::CessationOfOperation,
            _ => RevocationReason::Unspecified,
        });
        within(self.timeout, self.account.revoke(&RevocationRequest { certificate: &der, reason })).await
    }

    /// The CA's renewal window for a certificate, or `None` when the CA offers no ARI.
    pub async fn renewal_window(&self, leaf_der: &[u8]) -> Result<Option<RenewalWindow>, AcmeError> {
        let der = CertificateDer::from(leaf_der.to_vec());
        let id = CertificateIdentifier::try_from(&der).map_err(AcmeError::Protocol)?;
        let at = |t: time::OffsetDateTime| Timestamp::from_unix_millis((t.unix_timestamp_nanos() / 1_000_000) as i64);
        match tokio::time::timeout(self.timeout, self.account.renewal_info(&id)).await {
            Ok(Ok((info, _))) => {
                Ok(Some(RenewalWindow { start: at(info.suggested_window.start), end: at(info.suggested_window.end) }))
            }
            Ok(Err(instant_acme::Error::Unsupported(_))) => Ok(None),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(AcmeError::Unreachable(format!("no answer within {} ms", self.timeout.as_millis()))),
        }
    }
}
