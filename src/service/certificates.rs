//! Certificates: creating one stores it as `requested` and queues its issue job in the same
//! transaction; renew, revoke and distribute queue their jobs; the timeline merges the
//! certificate's audit entries with its jobs' logs; the chain is the issued PEM. The certificate
//! actor does the work.
//! Invariant: a request refused here changes nothing: its names are served by a zone of the
//! project, its renewal lead fits the certificate's lifetime, its account and targets are the
//! project's, and status changes are asked for only where the lifecycle allows them.

use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{AcmeAccountId, CertificateId, TargetId};
use certautopilot_core::jobs::JobSpec;
use certautopilot_core::model::{
    AcmeAccount, ApprovalAction, ApprovedShape, Certificate, CertificateStatus, CsrRenewal, Deployment,
    DistributionTarget, MAX_FALLBACK_ISSUERS, RenewBefore, Zone, zone_serving,
};
use certautopilot_core::store::{AuditFilter, PageRequest, Record, RecordStore, ScopeArg};
use serde_json::json;
use std::time::Duration;

use crate::api::views::{
    ApprovalView, CertificateCreated, CertificateView, CreateCertificate, DeploymentList, DeploymentView, LiveStatus,
    SetTargets, TimelineEntry, TimelineView, UpdateCertificate,
};
use crate::service::approvals::{self, Gate};
use crate::service::authorized::Authorized;
use crate::service::certificate_request::{CertificateNames, Requested, replacement_csr, requested};
use crate::service::error::ApiError;
use crate::service::records::{self, related_missing};
use crate::service::state::AppState;

pub use crate::service::health::{get, list, parse_health};

/// Requests a certificate: stored as `requested` with its issue job, in one transaction.
pub async fn create(auth: &Authorized, input: CreateCertificate) -> Result<CertificateCreated, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let Requested { names: CertificateNames { common_name, names, given }, key_type, csr_pem } = requested(&input)?;
    let lead = renewal_lead(None, input.renew_before_days, input.renew_before_hours)?;
    names_served(state, &scope, &given).await?;
    let (account, fallbacks) = issuers(state, &scope, input.acme_account_id, &input.fallback_account_ids).await?;
    resolve_targets(state, &scope, &input.target_ids).await?;
    let profile = input.profile.as_deref().map(|p| offered_profile(&account, p)).transpose()?;
    let mut certificate = Certificate::new(scope.project_id(), common_name, names, key_type, account.id, state.now());
    certificate.profile = profile;
    certificate.fallback_account_ids = fallbacks;
    certificate.keep_fallback_issuer = input.keep_fallback_issuer;
    if input.csr_renewal.is_some() && csr_pem.is_none() {
        return Err(ApiError::invalid("csr_renewal", "applies to a certificate issued from your CSR (csr_pem) only"));
    }
    certificate.csr_pem = csr_pem;
    certificate.csr_renewal = input.csr_renewal.unwrap_or_default();
    set_lead(&mut certificate, lead);
    certificate.target_ids = input.target_ids;
    let mut details = json!({ "common_name": certificate.common_name, "sans": certificate.sans,
        "key_type": certificate.key_type, "fallback_account_ids": certificate.fallback_account_ids });
    match approvals::gate(auth, &scope, &certificate, ApprovalAction::Issue).await? {
        Gate::Wait(request) => {
            // The certificate and the request land together; the issue job waits for the grant.
            let audit = approvals::requested_audit(auth, &scope, &request).await?;
            let raws = vec![certificate.to_raw(&scope.record_scope())?, request.to_raw(&scope.record_scope())?];
            state.store()?.insert_raw(&scope.record_scope(), raws, Some(audit)).await?;
            tracing::info!(certificate_id = %certificate.id, approval_id = %request.id, "certificate request waits for approval");
            let approval = Some(ApprovalView::at(*request, state.now()));
            return Ok(CertificateCreated { certificate: certificate.into(), job: None, approval });
        }
        Gate::Proceed { self_approved } => {
            if self_approved {
                certificate.approved = Some(ApprovedShape::of(&certificate));
                details["approval"] = json!("approved by the requester, an admin");
            }
        }
    }
    let job = JobSpec::Issue { certificate_id: certificate.id }.into_job(&scope, state.max_job_attempts);
    let object = Some(("certificate", certificate.id.to_string()));
    let audit = auth.audit("cert.requested", object, Some(scope.project_id()), details).await?;
    let enqueued = state.store()?.insert_and_enqueue(&scope, &certificate, job, Some(audit)).await?;
    state.wake_workers();
    tracing::info!(project_id = %scope.project_id(), certificate_id = %certificate.id, job_id = %enqueued.job.id, "certificate requested");
    Ok(CertificateCreated { certificate: certificate.into(), job: Some(enqueued.job.into()), approval: None })
}

/// The certificate and the scope of its project, for operations addressed by its id alone.
pub(crate) async fn certificate_in_scope(
    auth: &Authorized,
    id: CertificateId,
) -> Result<(ProjectScope, Certificate), ApiError> {
    records::addressed(auth, &id, "certificate").await
}

pub use crate::service::certificate_jobs::{PlannedJob, distribute, renew, revoke};

/// The certificate's story: its audit entries (every state change) and its jobs' log lines
/// (every step), oldest first.
pub async fn timeline(auth: &Authorized, id: CertificateId) -> Result<TimelineView, ApiError> {
    const MAX_ENTRIES: usize = 1_000;
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    let state = auth.state();
    let store = state.store()?;
    let org_scope = auth.caller()?.org_scope();
    let filter = AuditFilter {
        project_id: Some(scope.project_id()),
        object_id: Some(cert.id.to_string()),
        ..Default::default()
    };
    state.flush_audit(org_scope.org_id()).await;
    let mut items: Vec<TimelineEntry> = store
        .search_audit_events(&org_scope, &filter, 0, MAX_ENTRIES)
        .await?
        .into_iter()
        .map(TimelineEntry::from)
        .collect();
    for (job_id, kind, line) in store.subject_job_logs(&scope, &cert.id.to_string(), MAX_ENTRIES).await? {
        items.push(TimelineEntry::from_log(job_id, kind, line));
    }
    items.sort_by_key(|e| e.at);
    items.truncate(MAX_ENTRIES);
    Ok(TimelineView { items })
}

/// What the certificate's newest job is doing now: its newest log line and, while an order waits
/// for DNS propagation, which servers answer the value and which do not.
pub async fn live(auth: &Authorized, id: CertificateId) -> Result<LiveStatus, ApiError> {
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    live_of(auth.state(), &scope, &cert).await
}

/// `live` for a certificate already read in its scope (GraphQL's `Certificate.live`).
pub async fn live_of(state: &AppState, scope: &ProjectScope, cert: &Certificate) -> Result<LiveStatus, ApiError> {
    let store = state.store()?;
    let subject = [cert.id.to_string()];
    let job = store.subject_jobs(scope, &subject, 1).await?.into_iter().next();
    // The newest line of any job about it, shown only if it is the newest job's.
    let line = store
        .subject_log_tails(scope, &subject, 1)
        .await?
        .into_iter()
        .find(|l| job.as_ref().is_some_and(|j| j.id == l.job_id))
        .map(|l| l.line);
    Ok(LiveStatus::new(cert.status, job.as_ref(), line.as_ref()))
}

/// The issued chain, leaf first, as PEM; not found until one is issued.
pub async fn chain(auth: &Authorized, id: CertificateId) -> Result<String, ApiError> {
    let (_, cert) = certificate_in_scope(auth, id).await?;
    issued_chain(&cert).map(str::to_owned).ok_or_else(|| ApiError::not_found("issued certificate"))
}

/// The chain of a certificate already read in its scope (GraphQL's `Certificate.chain`), as
/// `chain` answers it: none until one is issued.
pub fn issued_chain(cert: &Certificate) -> Option<&str> {
    cert.chain_pem.as_deref()
}

/// Where the certificate stands on each of its targets.
pub async fn deployments(auth: &Authorized, id: CertificateId) -> Result<DeploymentList, ApiError> {
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    let page = PageRequest::first(1_000);
    let items = auth
        .state()
        .store()?
        .list_by_lookup::<Deployment>(&scope, &cert.id.to_string(), &page)
        .await?
        .items
        .into_iter()
        .map(DeploymentView::from)
        .collect();
    Ok(DeploymentList { items })
}

/// Replaces the certificate's targets (attach and detach in one call), version-checked.
pub async fn set_targets(auth: &Authorized, id: CertificateId, input: SetTargets) -> Result<CertificateView, ApiError> {
    let (scope, mut cert) = certificate_in_scope(auth, id).await?;
    let state = auth.state();
    records::at_version("certificate", cert.version, input.version)?;
    let ids = resolve_targets(state, &scope, &input.target_ids).await?;
    let before = std::mem::replace(&mut cert.target_ids, ids);
    cert.updated_at = state.now();
    let details = json!({ "before": before, "after": cert.target_ids });
    let object = Some(("certificate", cert.id.to_string()));
    let audit = auth.audit("cert.targets_changed", object, Some(scope.project_id()), details).await?;
    Ok(state.store()?.update_audited(&scope, &cert, audit).await?.into())
}

/// The targets named, each checked to be in the project (422 on `target_ids[i]` otherwise),
/// without repeats, in the order given.
pub(super) async fn resolve_targets(
    state: &AppState,
    scope: &ProjectScope,
    target_ids: &[TargetId],
) -> Result<Vec<TargetId>, ApiError> {
    let mut ids = Vec::new();
    for (i, target) in target_ids.iter().enumerate() {
        let _: DistributionTarget =
            state.store()?.get(scope, target).await.map_err(related_missing(&format!("target_ids[{i}]"), "target"))?;
        if !ids.contains(target) {
            ids.push(*target);
        }
    }
    Ok(ids)
}

/// The first issuer and the fallbacks asked for, each an account of the project.
pub(super) async fn issuers(
    state: &AppState,
    scope: &ProjectScope,
    first: AcmeAccountId,
    fallbacks: &[AcmeAccountId],
) -> Result<(AcmeAccount, Vec<AcmeAccountId>), ApiError> {
    let account: AcmeAccount =
        state.store()?.get(scope, &first).await.map_err(related_missing("acme_account_id", "acme account"))?;
    let fallbacks = fallback_issuers(state, scope, Some(account.id), fallbacks).await?;
    Ok((account, fallbacks))
}

/// Whether the CSR `pem` carries the key of the current certificate's leaf.
fn new_csr_keeps_the_key(chain_pem: &str, pem: &str) -> bool {
    certautopilot_connectors::csr::read_csr(pem)
        .is_ok_and(|csr| certautopilot_connectors::x509::leaf_summary(chain_pem, Some(&csr.spki)).is_ok())
}

/// The fallback issuers asked for, checked: accounts of the project, none twice, not the first
/// issuer, at most `MAX_FALLBACK_ISSUERS`.
pub(super) async fn fallback_issuers(
    state: &AppState,
    scope: &ProjectScope,
    first: Option<AcmeAccountId>,
    asked: &[AcmeAccountId],
) -> Result<Vec<AcmeAccountId>, ApiError> {
    if asked.len() > MAX_FALLBACK_ISSUERS {
        return Err(ApiError::invalid(
            "fallback_account_ids",
            format!("at most {MAX_FALLBACK_ISSUERS} fallback issuers per certificate"),
        ));
    }
    for (i, id) in asked.iter().enumerate() {
        let field = format!("fallback_account_ids[{i}]");
        if Some(*id) == first || asked[..i].contains(id) {
            let why = if Some(*id) == first { "is the certificate's first issuer" } else { "is named twice" };
            return Err(ApiError::invalid(&field, format!("{why}: name each fallback once, after the first")));
        }
        let _: AcmeAccount = state.store()?.get(scope, id).await.map_err(related_missing(&field, "acme account"))?;
    }
    Ok(asked.to_vec())
}

/// Changes a certificate's renewal policy, targets or pause (issue 15, item 5), version-checked,
/// all fields checked before anything is written. One `cert.updated` entry lists each change as
/// `{before, after}`; a request that changes nothing writes nothing.
pub async fn update(
    auth: &Authorized,
    id: CertificateId,
    input: UpdateCertificate,
) -> Result<CertificateView, ApiError> {
    let (scope, mut cert) = certificate_in_scope(auth, id).await?;
    let state = auth.state();
    records::at_version("certificate", cert.version, input.version)?;
    let mut changes = serde_json::Map::new();
    if input.renew_before_days.is_some() || input.renew_before_hours.is_some() {
        let lead = renewal_lead(Some(&cert), input.renew_before_days.flatten(), input.renew_before_hours.flatten())?;
        // A new lead replaces whichever unit was set; `null` for the unit in use clears it.
        let kept = cert.renew_before_policy().filter(|kept| match kept {
            RenewBefore::Days(_) => input.renew_before_days.is_none(),
            RenewBefore::Hours(_) => input.renew_before_hours.is_none(),
        });
        let after = lead.or(kept);
        let (days, hours) = (cert.renew_before_days, cert.renew_before_hours);
        set_lead(&mut cert, after);
        if days != cert.renew_before_days {
            changes.insert("renew_before_days".into(), json!({ "before": days, "after": cert.renew_before_days }));
        }
        if hours != cert.renew_before_hours {
            changes.insert("renew_before_hours".into(), json!({ "before": hours, "after": cert.renew_before_hours }));
        }
    }
    if let Some(target_ids) = &input.target_ids {
        let ids = resolve_targets(state, &scope, target_ids).await?;
        if ids != cert.target_ids {
            changes.insert("target_ids".into(), json!({ "before": cert.target_ids, "after": ids }));
            cert.target_ids = ids;
        }
    }
    if let Some(profile) = &input.profile {
        let profile = match profile {
            Some(p) => {
                let issuer = cert.acme_account_id.ok_or_else(|| {
                    ApiError::invalid("profile", "the certificate has no issuer yet: put it under management first")
                })?;
                let account: AcmeAccount = state.store()?.get(&scope, &issuer).await?;
                Some(offered_profile(&account, p)?)
            }
            None => None,
        };
        if profile != cert.profile {
            changes.insert("profile".into(), json!({ "before": cert.profile, "after": profile }));
            cert.profile = profile;
        }
    }
    if let Some(pem) = &input.csr_pem
        && Some(pem) != cert.csr_pem.as_ref()
    {
        let (key_type, key) = replacement_csr(&cert, pem)?;
        if matches!(cert.status, CertificateStatus::Issuing | CertificateStatus::Renewing) {
            // The order in flight finalized (or will) with the old CSR, and its certificate must
            // carry that key.
            return Err(ApiError::conflict(
                "an order is in flight for this certificate; change its CSR once it has ended",
            ));
        }
        // The next order (a renewal, or one asked for by hand) finalizes with the new CSR.
        changes.insert("csr".into(), json!({ "key_type": key_type, "key_sha256": key }));
        cert.key_type = key_type;
        cert.csr_pem = Some(pem.clone());
        cert.csr_spent = false;
    }
    let waiting = cert.waiting_for_csr();
    if let Some(policy) = input.csr_renewal
        && policy != cert.csr_renewal
    {
        if cert.csr_pem.is_none() {
            return Err(ApiError::invalid("csr_renewal", "applies to a certificate issued from your CSR only"));
        }
        changes.insert("csr_renewal".into(), json!({ "before": cert.csr_renewal, "after": policy }));
        cert.csr_renewal = policy;
    }
    // A new CSR under `new` must bring a new key: the point of the policy.
    if changes.contains_key("csr")
        && cert.csr_renewal == CsrRenewal::New
        && let (Some(chain), Some(pem)) = (&cert.chain_pem, &cert.csr_pem)
        && new_csr_keeps_the_key(chain, pem)
    {
        return Err(ApiError::invalid(
            "csr_pem",
            "has the current certificate's key; the CSR policy is new: make the CSR with a new key",
        ));
    }
    if waiting != cert.waiting_for_csr() {
        changes.insert("waiting_for_csr".into(), json!({ "before": waiting, "after": cert.waiting_for_csr() }));
    }
    if let Some(asked) = &input.fallback_account_ids {
        let ids = fallback_issuers(state, &scope, cert.acme_account_id, asked).await?;
        if ids != cert.fallback_account_ids
            && matches!(cert.status, CertificateStatus::Issuing | CertificateStatus::Renewing)
        {
            return Err(ApiError::conflict(
                "an order is in flight for this certificate; change its fallback issuers once it has ended",
            ));
        }
        if ids != cert.fallback_account_ids {
            changes.insert("fallback_account_ids".into(), json!({ "before": cert.fallback_account_ids, "after": ids }));
            cert.fallback_account_ids = ids;
        }
    }
    if let Some(keep) = input.keep_fallback_issuer
        && keep != cert.keep_fallback_issuer
    {
        changes.insert("keep_fallback_issuer".into(), json!({ "before": cert.keep_fallback_issuer, "after": keep }));
        cert.keep_fallback_issuer = keep;
    }
    if let Some(paused) = input.paused
        && paused != cert.paused
    {
        changes.insert("paused".into(), json!({ "before": cert.paused, "after": paused }));
        cert.paused = paused;
    }
    if changes.is_empty() {
        return Ok(cert.into());
    }
    // The window follows the policy (a CA's ARI window still wins); a paused certificate keeps
    // `renew_at` for the view, and the store leaves it out of the renewal index.
    if cert.status == CertificateStatus::Issued {
        cert.renew_at = cert.renewal_window_start();
    }
    cert.updated_at = state.now();
    let object = Some(("certificate", cert.id.to_string()));
    let audit =
        auth.audit("cert.updated", object, Some(scope.project_id()), serde_json::Value::Object(changes)).await?;
    let cert = state.store()?.update_audited(&scope, &cert, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, paused = cert.paused, "certificate updated");
    Ok(cert.into())
}

/// Deletes a certificate with its deployment records and sealed keys (issue 15, item 5). A
/// certificate still valid and not revoked is refused: revoke it first, then delete. The files
/// already on targets stay where they are; the story stays in the audit chain, closed by
/// `cert.deleted`.
pub async fn delete(auth: &Authorized, id: CertificateId) -> Result<(), ApiError> {
    let (scope, cert) = certificate_in_scope(auth, id).await?;
    let state = auth.state();
    if matches!(cert.status, CertificateStatus::Issuing | CertificateStatus::Renewing) {
        return Err(ApiError::conflict(format!(
            "a job is {} this certificate; delete it once that job has ended",
            if cert.status == CertificateStatus::Issuing { "issuing" } else { "renewing" }
        )));
    }
    let valid = cert.not_after.is_some_and(|t| t > state.now());
    // An unmanaged certificate was issued elsewhere and is revoked there, if at all: deleting it
    // here only stops watching it.
    let watched_only = cert.status == CertificateStatus::Unmanaged;
    if cert.chain_pem.is_some() && cert.status != CertificateStatus::Revoked && valid && !watched_only {
        return Err(ApiError::conflict(format!(
            "the certificate (serial {}) is valid and not revoked: revoke it first (POST /api/v1/certificates/{}/revoke), then delete it",
            cert.serial.as_deref().unwrap_or("unknown"),
            cert.id
        )));
    }
    let details = json!({
        "common_name": cert.common_name,
        "sans": cert.sans,
        "status": cert.status,
        "serial": cert.serial,
        "not_after": cert.not_after,
        "revoked_at": cert.revoked_at,
        "targets": cert.target_ids,
        "replaced_serials": cert.history.iter().map(|h| h.serial.as_str()).collect::<Vec<_>>(),
    });
    let object = Some(("certificate", cert.id.to_string()));
    let audit = auth.audit("cert.deleted", object, Some(scope.project_id()), details).await?;
    state.store()?.delete_certificate(&scope, cert.id, cert.version, audit).await?;
    tracing::info!(project_id = %scope.project_id(), certificate_id = %cert.id, "certificate deleted");
    Ok(())
}

/// Refuses the first name (`(field, name)`) that no zone of the project serves: a DNS-01 challenge
/// for it could never be published (`actors::issuance::dns` starts from the same zone choice, and
/// a CNAME on `_acme-challenge` is only followed from a zone of the project).
pub(super) async fn names_served(
    state: &AppState,
    scope: &ProjectScope,
    names: &[(String, String)],
) -> Result<(), ApiError> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut page = PageRequest::first(1_000);
    loop {
        let batch = state.store()?.list::<Zone>(scope, &page).await?;
        zones.extend(batch.items);
        match batch.next_cursor {
            Some(cursor) => page = PageRequest::after(1_000, cursor),
            None => break,
        }
    }
    match names.iter().find(|(_, name)| zone_serving(&zones, name).is_none()) {
        Some((field, name)) => Err(ApiError::invalid(
            field,
            format!("no zone of this project serves {name}: add the zone (POST /api/v1/zones) first"),
        )),
        None => Ok(()),
    }
}

/// `profile` when it is well-formed and the account's CA offered it when the account was saved.
fn offered_profile(account: &AcmeAccount, profile: &str) -> Result<String, ApiError> {
    if !certautopilot_connectors::acme::is_profile_name(profile) {
        return Err(ApiError::invalid("profile", "must be 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-'"));
    }
    if account.profiles.contains_key(profile) {
        return Ok(profile.to_owned());
    }
    let offered: Vec<&str> = account.profiles.keys().map(String::as_str).collect();
    Err(ApiError::invalid(
        "profile",
        if offered.is_empty() {
            "the account's CA offers no profiles (its directory has no meta.profiles when the account was saved)"
                .to_owned()
        } else {
            format!("the account's CA offers {}", offered.join(", "))
        },
    ))
}

/// A renewal policy must open the window after the certificate starts: at least one unit, and
/// fewer than the certificate lives (its current lifetime once issued, otherwise the 90 days ACME
/// CAs issue). Refused, not clamped, so what is stored is what was asked for; days and hours are
/// two ways to say one thing, so a request gives at most one.
pub(super) fn renewal_lead(
    cert: Option<&Certificate>,
    days: Option<u32>,
    hours: Option<u32>,
) -> Result<Option<RenewBefore>, ApiError> {
    let asked = match (days, hours) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "renew_before_hours",
                "give renew_before_days or renew_before_hours, not both",
            ));
        }
        (Some(d), None) => RenewBefore::Days(d),
        (None, Some(h)) => RenewBefore::Hours(h),
        (None, None) => return Ok(None),
    };
    // Before issuance the days' range is `validate::RENEW_BEFORE_DAYS`, the one the OpenAPI document states.
    let lifetime = cert.map_or_else(
        || Duration::from_secs(u64::from(certautopilot_core::model::EXPECTED_ACME_LIFETIME_DAYS) * 86_400),
        Certificate::expected_lifetime,
    );
    let why = if cert.is_some_and(|c| c.not_after.is_some()) {
        format!("the current certificate lives {}", certautopilot_core::model::span(lifetime))
    } else {
        format!(
            "ACME certificates are expected to live {} until one is issued",
            certautopilot_core::model::span(lifetime)
        )
    };
    let max = asked.max_amount(lifetime);
    if asked.amount() == 0 || asked.amount() > max || asked.duration() >= lifetime {
        let detail = if asked.unit() >= lifetime {
            // Not even one unit fits: say what does, rather than "must be 1 to 1".
            let instead = if RenewBefore::Hours(1).duration() < lifetime { "give renew_before_hours or " } else { "" };
            format!("is too coarse: {why}; {instead}leave it out for the default (half the lifetime)")
        } else {
            format!("must be 1 to {max} ({why}; renewing that early would renew at once, again and again)")
        };
        return Err(ApiError::invalid(asked.field(), detail));
    }
    Ok(Some(asked))
}

pub(super) fn set_lead(cert: &mut Certificate, lead: Option<RenewBefore>) {
    (cert.renew_before_days, cert.renew_before_hours) = match lead {
        Some(RenewBefore::Days(d)) => (Some(d), None),
        Some(RenewBefore::Hours(h)) => (None, Some(h)),
        None => (None, None),
    };
}
