//! What the certificate actor does for one job: issue, renew or revoke, step by step, persisting
//! progress (the order URL, the challenge records, the pending key) before each step that the CA
//! or DNS could be left half-way through, so a restarted worker resumes the same order.

use std::sync::Arc;
use std::time::Instant;

use certautopilot_connectors::acme::{OrderSnapshot, OrderStatus, csr_for_key, generate_key, public_key_der};
use certautopilot_connectors::dns::Authoritative;
use certautopilot_connectors::x509::{chain_der, leaf_summary};
use certautopilot_core::ProjectScope;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::lifecycle::{LifecycleEvent, transition};
use certautopilot_core::model::{
    Certificate, CertificateStatus, HISTORY_KEPT, IssuedVersion, Job, JobKind, LogLevel, OrderProgress, OrderPurpose,
    PublishedRecord,
};
use certautopilot_core::store::RecordStore;
use certautopilot_core::{Timestamp, crypto::SecretBytes};
use serde_json::json;

use super::account::{AccountHub, AcmeCall, AcmeReply};
use super::dns::{challenge_target, project_zones};
use super::{IssuanceDeps, IssueError, OrgAudit};
use crate::job_pump::{JobContext, JobError};
use crate::registry::Probe;

pub(crate) struct Flow<'a> {
    pub deps: &'a IssuanceDeps,
    pub accounts: &'a AccountHub,
    pub probe: &'a Arc<Probe>,
    pub id: CertificateId,
    pub job: &'a Job,
    pub ctx: &'a JobContext,
}

struct Work {
    scope: ProjectScope,
    org: Arc<OrgAudit>,
    cert: Certificate,
}

impl Flow<'_> {
    fn step(&self, step: &str) {
        self.probe.set_state(step);
    }

    async fn log(&self, level: LogLevel, message: &str, fields: serde_json::Value) {
        if let Err(e) = self.ctx.log(level, message, fields).await {
            tracing::warn!(certificate_id = %self.id, error = %e, "could not write to the job log");
        }
    }

    /// Writes the certificate with an audit entry named `action`; the stored record comes back.
    async fn save(&self, work: &mut Work, action: &str, details: serde_json::Value) -> Result<(), IssueError> {
        work.cert.updated_at = Timestamp::now();
        let audit = work.org.write(
            &self.deps.actor_name(),
            action,
            ("certificate", self.id.to_string()),
            work.scope.project_id(),
            details,
        );
        work.cert = self.deps.store.update_audited(&work.scope, &work.cert, audit).await?;
        Ok(())
    }

    async fn move_to(
        &self,
        work: &mut Work,
        event: LifecycleEvent,
        details: serde_json::Value,
    ) -> Result<bool, JobError> {
        let has_certificate = work.cert.chain_pem.is_some();
        let t = transition(work.cert.status, event, has_certificate).map_err(|e| JobError::permanent(e.to_string()))?;
        let Some(action) = t.audit else { return Ok(false) };
        work.cert.status = t.to;
        self.save(work, action, details).await.map_err(|e| job_error(&e, true))?;
        Ok(true)
    }

    async fn call(&self, work: &Work, call: AcmeCall) -> Result<AcmeReply, IssueError> {
        self.accounts.call(&work.scope, work.cert.acme_account_id, call).await
    }

    async fn order(&self, work: &Work, call: AcmeCall) -> Result<OrderSnapshot, IssueError> {
        match self.call(work, call).await? {
            AcmeReply::Order(order) => Ok(order),
            other => Err(IssueError::Setup(format!("unexpected answer {other:?}"))),
        }
    }

    /// Runs the job; the text is the job's summary.
    pub async fn run(&self) -> Result<String, JobError> {
        let project_id = self.job.project_id.ok_or_else(|| JobError::permanent("the job names no project"))?;
        let scope = self.deps.project_scope(project_id).await.map_err(|e| job_error(&e, true))?;
        let org = self.deps.org().await.map_err(|e| job_error(&e, true))?;
        let cert: Certificate = match self.deps.store.get(&scope, &self.id).await {
            Ok(cert) => cert,
            Err(certautopilot_core::StoreError::NotFound { .. }) => return Ok("the certificate was deleted".into()),
            Err(e) => return Err(e.into()),
        };
        let mut work = Work { scope, org, cert };
        match self.job.kind {
            JobKind::Revoke => self.revoke(&mut work).await,
            JobKind::Issue | JobKind::Renew => self.obtain(&mut work).await,
            other => Err(JobError::permanent(format!("the certificate actor does not run {} jobs", other.as_str()))),
        }
    }

    async fn obtain(&self, work: &mut Work) -> Result<String, JobError> {
        let renewing = self.job.kind == JobKind::Renew;
        match (work.cert.status, renewing) {
            (CertificateStatus::Issued, false) => return Ok("already issued".into()),
            (CertificateStatus::Revoked, true) => return Ok("revoked: nothing to renew".into()),
            (CertificateStatus::Issued, true) => {
                // Queued by the scheduler before a pause: paused means no automatic renewal. A
                // renewal asked for by hand (`reason: requested`) still runs.
                let by_hand = self.job.payload.get("reason").and_then(|v| v.as_str()) == Some("requested");
                if work.cert.paused && !by_hand {
                    return Ok("paused: the scheduled renewal was skipped".into());
                }
                // A scheduled renewal names the certificate it was for; a newer one needs none yet.
                let expected = self.job.payload.get("not_after").and_then(|v| v.as_i64());
                if expected.is_some_and(|e| Some(e) != work.cert.not_after.map(|t| t.as_unix_millis())) {
                    return Ok("already renewed".into());
                }
            }
            _ => {}
        }
        // A renewal that comes after expiry (the service was down, renewals kept failing) records it.
        if renewing
            && work.cert.status == CertificateStatus::Issued
            && work.cert.not_after.is_some_and(|t| t <= Timestamp::now())
        {
            self.move_to(work, LifecycleEvent::Expired, json!({ "not_after": work.cert.not_after })).await?;
        }
        let event = if renewing { LifecycleEvent::StartRenew } else { LifecycleEvent::StartIssue };
        self.move_to(work, event, json!({ "job_id": self.job.id, "attempt": self.job.attempts })).await?;
        self.step(if renewing { "renewing" } else { "issuing" });
        match self.obtain_steps(work, renewing).await {
            Ok(summary) => Ok(summary),
            Err(e) => Err(self.failed(work, e).await),
        }
    }

    /// Records a failure: a transient one with attempts left keeps the status for the retry; anything
    /// else fails the certificate with the reason.
    async fn failed(&self, work: &mut Work, error: IssueError) -> JobError {
        self.cleanup_dns(work).await;
        let reason = error.to_string();
        let last_attempt = self.job.attempts >= self.job.max_attempts;
        let retry = error.is_transient() && !last_attempt;
        self.log(
            LogLevel::Warn,
            if retry { "attempt failed; will retry" } else { "failed" },
            json!({ "reason": reason }),
        )
        .await;
        self.probe.set_error(reason.clone());
        // Reload: the failed step may have left the in-memory copy behind the stored one.
        if let Ok(fresh) = self.deps.store.get(&work.scope, &self.id).await {
            work.cert = fresh;
        }
        work.cert.last_error = Some(reason.clone());
        let saved = if retry {
            self.save(work, "cert.retrying", json!({ "reason": reason, "attempt": self.job.attempts })).await
        } else {
            // The order is abandoned: the next attempt (by hand) places a new one.
            work.cert.order = None;
            work.cert.pending_key = None;
            match transition(work.cert.status, LifecycleEvent::Failed, work.cert.chain_pem.is_some()) {
                Ok(t) => {
                    work.cert.status = t.to;
                    self.save(work, t.audit.unwrap_or("cert.failed"), json!({ "reason": reason })).await
                }
                Err(_) => Ok(()),
            }
        };
        if let Err(e) = saved {
            tracing::error!(certificate_id = %self.id, error = %e, "could not record the failure");
        }
        tracing::warn!(certificate_id = %self.id, %reason, retry, "certificate attempt failed");
        if retry { JobError::retryable(reason) } else { JobError::permanent(reason) }
    }

    async fn obtain_steps(&self, work: &mut Work, renewing: bool) -> Result<String, IssueError> {
        // --- the order: resumed from its stored URL, or placed and stored before anything else.
        let mut order = match work.cert.order.clone() {
            Some(progress) => {
                self.step("resuming order");
                let order =
                    self.order(work, AcmeCall::Order { url: progress.url.clone(), authorizations: true }).await?;
                self.log(LogLevel::Info, "resuming order", json!({ "order_url": order.url, "status": order.status }))
                    .await;
                order
            }
            None => {
                self.step("placing order");
                let order = self.order(work, AcmeCall::NewOrder(work.cert.sans.clone())).await?;
                work.cert.order = Some(OrderProgress {
                    url: order.url.clone(),
                    purpose: if renewing { OrderPurpose::Renew } else { OrderPurpose::Issue },
                    started_at: Timestamp::now(),
                    published: Vec::new(),
                    finalized: false,
                });
                self.save(work, "cert.order_placed", json!({ "order_url": order.url })).await?;
                self.log(LogLevel::Info, "order placed", json!({ "order_url": order.url })).await;
                order
            }
        };
        if order.status == OrderStatus::Pending {
            self.answer_challenges(work, &order).await?;
            crate::failpoint::hit("issue.after_challenges").await;
            order = self.poll(work, &order.url, "validation", |s| s != OrderStatus::Pending).await?;
        }
        self.cleanup_dns(work).await;
        if order.status == OrderStatus::Invalid {
            return Err(IssueError::Refused(refusal(&order)));
        }
        // --- finalize with a key stored (sealed) before the CSR leaves, so a crash cannot lose it.
        if order.status == OrderStatus::Ready {
            self.step("finalizing");
            let key = match &work.cert.pending_key {
                Some(sealed) => self.deps.envelope.open(&self.id.to_string(), "pending_key", sealed)?,
                None => {
                    let key_type = work.cert.key_type;
                    let key = tokio::task::spawn_blocking(move || generate_key(key_type))
                        .await
                        .map_err(|e| IssueError::Setup(format!("key generation stopped: {e}")))??;
                    work.cert.pending_key = Some(self.deps.envelope.seal(&self.id.to_string(), "pending_key", &key)?);
                    key
                }
            };
            let csr_der = csr_for_key(&key, &work.cert.sans)?;
            if let Some(progress) = work.cert.order.as_mut() {
                progress.finalized = true;
            }
            self.save(work, "cert.finalizing", json!({ "key_type": work.cert.key_type })).await?;
            order = self.order(work, AcmeCall::Finalize { order_url: order.url.clone(), csr_der }).await?;
            self.log(LogLevel::Info, "order finalized", json!({ "status": order.status })).await;
        }
        if order.status == OrderStatus::Processing {
            order = self.poll(work, &order.url, "finalization", |s| s != OrderStatus::Processing).await?;
        }
        if order.status != OrderStatus::Valid {
            return Err(IssueError::Refused(refusal(&order)));
        }
        // --- download, check, store.
        self.step("downloading");
        let chain = match self.call(work, AcmeCall::Certificate(order.url.clone())).await? {
            AcmeReply::Certificate(Some(chain)) => chain,
            _ => return Err(IssueError::Setup("the CA has no certificate for a valid order".into())),
        };
        let sealed_key =
            work.cert.pending_key.clone().ok_or_else(|| IssueError::Setup("the order's key is gone".into()))?;
        let key: SecretBytes = self.deps.envelope.open(&self.id.to_string(), "pending_key", &sealed_key)?;
        let leaf = leaf_summary(&chain, Some(&public_key_der(&key)?))
            .map_err(|e| IssueError::Refused(format!("the downloaded certificate is unusable: {e}")))?;
        let leaf_der = chain_der(&chain).map_err(|e| IssueError::Refused(e.to_string()))?.remove(0).to_vec();
        let window = match self.call(work, AcmeCall::RenewalWindow(leaf_der)).await {
            Ok(AcmeReply::Window(window)) => window,
            _ => None,
        };
        // Sealed values are bound to their field: the key is sealed again as `private_key` (moving
        // the `pending_key` envelope would fail its integrity check on every later open).
        let private_key = self.deps.envelope.seal(&self.id.to_string(), "private_key", &key)?;
        let cert = &mut work.cert;
        if let (Some(serial), Some(not_before), Some(not_after), Some(fp)) =
            (cert.serial.clone(), cert.not_before, cert.not_after, cert.fingerprint_sha256.clone())
        {
            cert.history.insert(
                0,
                IssuedVersion {
                    serial,
                    not_before,
                    not_after,
                    fingerprint_sha256: fp,
                    chain_pem: cert.chain_pem.clone(),
                    replaced_at: Timestamp::now(),
                },
            );
            cert.history.truncate(HISTORY_KEPT);
        }
        let t = transition(cert.status, LifecycleEvent::Issued, cert.chain_pem.is_some())
            .map_err(|e| IssueError::Setup(e.to_string()))?;
        cert.mark_issued(leaf.serial.clone(), leaf.not_before, leaf.not_after, leaf.fingerprint_sha256.clone());
        cert.status = t.to;
        cert.ari_window = window.map(|w| (w.start, w.end));
        cert.renew_at = cert.renewal_window_start();
        cert.chain_pem = Some(chain);
        cert.private_key = Some(private_key);
        cert.pending_key = None;
        cert.order = None;
        cert.revoked_at = None;
        let details = json!({
            "serial": leaf.serial, "not_before": leaf.not_before, "not_after": leaf.not_after,
            "fingerprint_sha256": leaf.fingerprint_sha256, "renew_at": cert.renew_at, "ari": window.is_some(),
        });
        self.save(work, t.audit.unwrap_or("cert.issued"), details.clone()).await?;
        self.log(LogLevel::Info, if renewing { "renewed" } else { "issued" }, details).await;
        self.queue_distribution(work).await;
        self.step("idle");
        Ok(format!(
            "{} serial {} valid until {}",
            if renewing { "renewed:" } else { "issued:" },
            leaf.serial,
            leaf.not_after
        ))
    }

    /// Asks the certificate's targets to deploy it (one `distribute` job that fans out to them). The
    /// certificate is issued whatever happens here; a deployment that could not be queued is logged
    /// and can be asked for again (`POST …/distribute`).
    async fn queue_distribution(&self, work: &Work) {
        if work.cert.target_ids.is_empty() {
            return;
        }
        let serial = work.cert.serial.clone().unwrap_or_default();
        let job = crate::distribution::distribute_job(&work.scope, self.id, &[], false, self.job.max_attempts)
            .dedupe_key(format!("distribute:{}:{serial}", self.id));
        match self.deps.store.enqueue_job(job).await {
            Ok(_) => {
                self.log(LogLevel::Info, "deployment queued", json!({ "targets": work.cert.target_ids })).await;
                self.deps.wake_workers();
            }
            Err(e) => {
                self.log(LogLevel::Warn, "could not queue the deployment", json!({ "reason": e.to_string() })).await
            }
        }
    }

    /// Publishes every pending authorization's TXT value, waits until the authoritative servers show
    /// them all, then tells the CA.
    async fn answer_challenges(&self, work: &mut Work, order: &OrderSnapshot) -> Result<(), IssueError> {
        self.step("publishing challenges");
        let zones = project_zones(self.deps, &work.scope).await?;
        let mut targets = Vec::new();
        for authz in order.authorizations.iter().filter(|a| a.status == "pending") {
            let value = authz.dns_value.clone().ok_or_else(|| {
                IssueError::Refused(format!("the CA offers no dns-01 challenge for {}", authz.identifier))
            })?;
            let target = challenge_target(self.deps, &work.scope, &zones, &authz.identifier).await?;
            targets.push((authz.identifier.clone(), value, target));
        }
        if targets.is_empty() {
            return Ok(());
        }
        // The intent first: a crash after adding leaves records the next attempt knows to remove.
        if let Some(progress) = work.cert.order.as_mut() {
            for (_, value, t) in &targets {
                let record = PublishedRecord {
                    zone_id: t.zone.id,
                    zone: t.zone.apex.clone(),
                    name: t.name.clone(),
                    value: value.clone(),
                };
                if !progress.published.contains(&record) {
                    progress.published.push(record);
                }
            }
        }
        let names: Vec<&str> = targets.iter().map(|(_, _, t)| t.name.as_str()).collect();
        self.save(work, "cert.challenges_published", json!({ "records": names })).await?;
        for (_, value, t) in &targets {
            t.provider.add_txt(&t.zone.apex, &t.name, value, 60).await?;
        }
        self.step("waiting for DNS");
        let settings = &self.deps.settings;
        let check = Authoritative { timeout: settings.dns_query_timeout, egress: settings.egress.clone() };
        let started = Instant::now();
        for (_, value, t) in &targets {
            let servers = t.check_servers(&check).await?;
            let left = self.deps.settings.dns_propagation_timeout.saturating_sub(started.elapsed());
            self.cancellable(check.wait_visible(&t.name, value, &servers, left)).await??;
        }
        self.log(
            LogLevel::Info,
            "challenge records visible at the authoritative servers",
            json!({ "records": names, "waited_ms": started.elapsed().as_millis() as u64 }),
        )
        .await;
        self.step("answering challenges");
        for (identifier, _, _) in &targets {
            self.call(work, AcmeCall::ChallengeReady { order_url: order.url.clone(), identifier: identifier.clone() })
                .await?;
        }
        Ok(())
    }

    /// Removes every challenge record this order published; failures are logged, not fatal (the
    /// values are single-use and short-lived).
    async fn cleanup_dns(&self, work: &mut Work) {
        let Some(published) = work.cert.order.as_ref().map(|o| o.published.clone()) else { return };
        if published.is_empty() {
            return;
        }
        let zones = project_zones(self.deps, &work.scope).await.unwrap_or_default();
        for record in &published {
            let removed = match zones.iter().find(|z| z.id == record.zone_id) {
                Some(zone) => match super::dns::provider(self.deps, &work.scope, zone).await {
                    Ok(provider) => {
                        provider.remove_txt(&record.zone, &record.name, &record.value).await.map_err(IssueError::from)
                    }
                    Err(e) => Err(e),
                },
                None => Err(IssueError::Setup("the zone was deleted".into())),
            };
            if let Err(e) = removed {
                self.log(
                    LogLevel::Warn,
                    "could not remove a challenge record",
                    json!({ "name": record.name, "reason": e.to_string() }),
                )
                .await;
            }
        }
        if let Some(progress) = work.cert.order.as_mut() {
            progress.published.clear();
        }
        if let Err(e) = self.save(work, "cert.challenges_removed", json!({ "records": published.len() })).await {
            tracing::warn!(certificate_id = %self.id, error = %e, "could not record the challenge cleanup");
        }
    }

    /// Polls the order until `done`, starting fast and slowing to `poll_max`, for at most
    /// `order_timeout`.
    async fn poll(
        &self,
        work: &Work,
        url: &str,
        what: &str,
        done: impl Fn(OrderStatus) -> bool,
    ) -> Result<OrderSnapshot, IssueError> {
        self.step(&format!("waiting for {what}"));
        let (poll_initial, order_timeout, poll_max) =
            (self.deps.settings.poll_initial, self.deps.settings.order_timeout, self.deps.settings.poll_max);
        let started = Instant::now();
        let mut delay = poll_initial;
        loop {
            self.cancellable(tokio::time::sleep(delay)).await?;
            let order = self.order(work, AcmeCall::Order { url: url.to_owned(), authorizations: false }).await?;
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

    async fn cancellable<T>(&self, work: impl Future<Output = T>) -> Result<T, IssueError> {
        let mut ctx = self.ctx.clone();
        tokio::select! {
            out = work => Ok(out),
            () = ctx.cancelled() => Err(IssueError::Interrupted),
        }
    }

    async fn revoke(&self, work: &mut Work) -> Result<String, JobError> {
        if work.cert.status == CertificateStatus::Revoked {
            // A run that stopped between the revocation and the marking finishes the marking.
            self.mark_revoked_in_place(work).await?;
            return Ok("already revoked".into());
        }
        transition(work.cert.status, LifecycleEvent::Revoked, work.cert.chain_pem.is_some())
            .map_err(|e| JobError::permanent(e.to_string()))?;
        // The revocation was asked of the serial current then; a renewal that ran in between made
        // another one current, which nobody asked to revoke.
        let requested = self.job.payload.get("serial").and_then(|s| s.as_str());
        if let Some(requested) = requested
            && work.cert.serial.as_deref() != Some(requested)
        {
            return Err(JobError::permanent(format!(
                "the certificate was renewed after serial {requested} was asked to be revoked; ask again to revoke the current one"
            )));
        }
        self.step("revoking");
        let chain = work.cert.chain_pem.clone().unwrap_or_default();
        let leaf_der = chain_der(&chain).map_err(|e| JobError::permanent(e.to_string()))?.remove(0).to_vec();
        let reason = self.job.payload.get("reason").and_then(|r| r.as_u64()).map(|r| r as u8);
        match self.call(work, AcmeCall::Revoke { leaf_der, reason }).await {
            Ok(_) => {}
            Err(IssueError::Acme(e)) if e.problem_type() == Some("urn:ietf:params:acme:error:alreadyRevoked") => {}
            Err(e) => {
                self.probe.set_error(e.to_string());
                self.log(LogLevel::Warn, "revocation failed", json!({ "reason": e.to_string() })).await;
                return Err(job_error(&e, self.job.attempts < self.job.max_attempts));
            }
        }
        work.cert.revoked_at = Some(Timestamp::now());
        work.cert.renew_at = None;
        work.cert.last_error = None;
        let serial = work.cert.serial.clone();
        // The reason by name, as `cert.revoke_requested` records it (docs/audit.md).
        let details = json!({ "serial": serial, "reason": certautopilot_core::model::revocation_reason_name(reason.unwrap_or(0)) });
        self.move_to(work, LifecycleEvent::Revoked, details).await?;
        self.log(LogLevel::Info, "revoked", json!({ "serial": serial })).await;
        self.mark_revoked_in_place(work).await?;
        self.step("idle");
        Ok(format!("revoked serial {}", serial.unwrap_or_default()))
    }

    /// Its deployments stay where they are: each one becomes `revoked_in_place` (a failure here
    /// retries the job, which finds the certificate revoked and marks what is left).
    async fn mark_revoked_in_place(&self, work: &Work) -> Result<(), JobError> {
        let marked = super::revoked::mark_revoked_in_place(
            self.deps,
            &work.scope,
            &work.org,
            &self.deps.actor_name(),
            &work.cert,
        )
        .await
        .map_err(|e| job_error(&e, true))?;
        if marked > 0 {
            self.log(LogLevel::Warn, "revoked certificate still deployed", json!({ "deployments": marked })).await;
        }
        Ok(())
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

fn job_error(e: &IssueError, may_retry: bool) -> JobError {
    if may_retry && e.is_transient() { JobError::retryable(e.to_string()) } else { JobError::permanent(e.to_string()) }
}
