//! Certificates with everything a console shows beside one: the ACME account, the zones serving
//! its names (with their credentials), its targets with the deployment on each, its timeline and
//! its jobs. Every relation loads through a DataLoader, so a page of certificates costs the same
//! few store trips whatever its length. Plain fields are REST's `CertificateView`.
//! Invariant: every relation is read in the certificate's own project scope, after its field's own
//! operation (`getAcmeAccount`, `getTarget`, `getCertificateTimeline`, …) admitted the caller's role.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, SimpleObject};
use certautopilot_core::ProjectScope;
use certautopilot_core::Timestamp;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::model::{Certificate, HealthRules, zone_serving};

use crate::api::error::ApiError;
use crate::api::views::{CertificateView, TimelineEntry};
use crate::graphql::acme::AcmeAccountNode;
use crate::graphql::cursor::list_cost;
use crate::graphql::dns::ZoneNode;
use crate::graphql::errors::GqlResult;
use crate::graphql::jobs::JobNode;
use crate::graphql::live::CertificateLive;
use crate::graphql::loaders::{self, AccountKey, DeploymentsKey, JobsKey, Scoped, TargetKey, TimelineKey, ZonesKey};
use crate::graphql::scalars::{DateTime, Json, at, at_opt, name_of};
use crate::graphql::targets::{DeploymentNode, TargetNode};
use crate::graphql::{nested_scope, project_list, record_by_id};

/// The most entries `timeline(last:)` and `jobs(last:)` take (REST's timeline holds 1,000).
const MAX_TAIL: i32 = 1_000;

pub struct CertificateNode {
    cert: Certificate,
    view: CertificateView,
    scope: ProjectScope,
}

impl CertificateNode {
    pub fn new(cert: Certificate, scope: &ProjectScope) -> Self {
        CertificateNode::by(&HealthRules::at(Timestamp::now()), cert, scope)
    }

    /// The node, its view's health by `rules` (built once for a page).
    fn by(rules: &HealthRules, cert: Certificate, scope: &ProjectScope) -> Self {
        CertificateNode { view: CertificateView::by(rules, cert.clone()), cert, scope: scope.clone() }
    }

    /// `last`, checked: 1 to `MAX_TAIL`.
    fn tail(last: i32) -> Result<usize, crate::api::error::ApiError> {
        if (1..=MAX_TAIL).contains(&last) {
            Ok(last as usize)
        } else {
            Err(crate::api::error::ApiError::invalid("last", format!("must be 1 to {MAX_TAIL}")))
        }
    }
}

/// A certificate's health (REST's `HealthView`).
#[derive(SimpleObject)]
pub struct CertificateHealthInfo {
    /// `ok`, `pending`, `renewal_due`, `renewal_failing`, `overdue`, `expired`, `revoked`,
    /// `unmanaged` or `drifted`.
    state: String,
    /// Why, in words (for `renewal_failing` the last attempt's error).
    reason: Option<String>,
    /// When the renewal should have finished.
    overdue_at: Option<DateTime>,
    /// When the next attempt runs, while one is queued.
    next_attempt_at: Option<DateTime>,
}

/// A certificate this one replaced.
#[derive(SimpleObject)]
pub struct IssuedVersion {
    serial: String,
    not_before: DateTime,
    not_after: DateTime,
    fingerprint_sha256: String,
    replaced_at: DateTime,
}

/// One event of a certificate's story (REST's `TimelineEntry`).
#[derive(SimpleObject)]
pub struct TimelineEvent {
    at: DateTime,
    /// `audit` or `job`.
    source: String,
    /// The audit action (`cert.issued`, …) or the job's log message.
    event: String,
    /// The audit entry's actor, or the job's kind.
    by: String,
    /// For job lines: `info`, `warn` or `error`.
    level: Option<String>,
    job_id: Option<ID>,
    details: Json,
}

impl From<&TimelineEntry> for TimelineEvent {
    fn from(e: &TimelineEntry) -> Self {
        TimelineEvent {
            at: at(e.at),
            source: e.source.to_owned(),
            event: e.event.clone(),
            by: e.by.clone(),
            level: e.level.clone(),
            job_id: e.job_id.map(|j| ID(j.to_string())),
            details: async_graphql::Json(e.details.clone()),
        }
    }
}

/// A target the certificate is attached to, and the deployment there (none before the first).
pub struct CertificateTarget {
    target_id: certautopilot_core::ids::TargetId,
    scope: ProjectScope,
    deployment: Option<DeploymentNode>,
}

#[Object]
impl CertificateTarget {
    async fn target_id(&self) -> ID {
        ID(self.target_id.to_string())
    }
    async fn target(&self, ctx: &Context<'_>) -> GqlResult<Option<TargetNode>> {
        let scope = nested_scope(ctx, "CertificateTarget.target", &self.scope)?;
        let found = loaders::of(ctx)?.load_one(TargetKey(Scoped { scope: scope.clone(), key: self.target_id })).await?;
        Ok(found.map(|target| TargetNode { target, scope }))
    }
    /// How the certificate stands there; null until it was first sent.
    async fn deployment(&self) -> Option<&DeploymentNode> {
        self.deployment.as_ref()
    }
}

#[Object(name = "Certificate")]
impl CertificateNode {
    async fn id(&self) -> ID {
        ID(self.view.id.to_string())
    }
    async fn project_id(&self) -> ID {
        ID(self.view.project_id.to_string())
    }
    async fn common_name(&self) -> &str {
        &self.view.common_name
    }
    async fn sans(&self) -> &[String] {
        &self.view.sans
    }
    /// `ecdsa-p256`, `ecdsa-p384`, `rsa2048`, `rsa3072` or `rsa4096`
    async fn key_type(&self) -> String {
        name_of(&self.view.key_type)
    }
    /// The first issuer; `null` for a certificate issued elsewhere and not under management.
    async fn acme_account_id(&self) -> Option<ID> {
        self.view.acme_account_id.map(|id| ID(id.to_string()))
    }
    /// Fallback issuers, in the order they are tried.
    async fn fallback_account_ids(&self) -> Vec<ID> {
        self.view.fallback_account_ids.iter().map(|id| ID(id.to_string())).collect()
    }
    /// Renewals start with the issuer of the current certificate instead of the first.
    async fn keep_fallback_issuer(&self) -> bool {
        self.view.keep_fallback_issuer
    }
    /// The account that issued the current certificate.
    async fn issued_by(&self) -> Option<ID> {
        self.view.issued_by.map(|id| ID(id.to_string()))
    }
    /// The ACME profile its orders ask for, if any.
    async fn profile(&self) -> Option<&str> {
        self.view.profile.as_deref()
    }
    /// `requested` (here), `imported` or `discovered`.
    async fn origin(&self) -> &'static str {
        self.view.origin.as_str()
    }
    /// Issued from the operator's own CSR: no private key is held.
    async fn from_csr(&self) -> bool {
        self.view.from_csr
    }
    /// `reuse` or `new`: what a renewal of a certificate from a CSR finalizes with.
    async fn csr_renewal(&self) -> String {
        name_of(&self.view.csr_renewal)
    }
    /// Waiting for a new CSR before it can renew (policy `new`).
    async fn waiting_for_csr(&self) -> bool {
        self.view.waiting_for_csr
    }
    async fn renew_before_days(&self) -> Option<u32> {
        self.view.renew_before_days
    }
    /// The renewal lead in hours, when the policy is stated in hours.
    async fn renew_before_hours(&self) -> Option<u32> {
        self.view.renew_before_hours
    }
    async fn target_ids(&self) -> Vec<ID> {
        self.view.target_ids.iter().map(|t| ID(t.to_string())).collect()
    }
    /// `requested`, `issuing`, `issued`, `renewing`, `failed`, `revoked` or `expired`.
    async fn status(&self) -> String {
        name_of(&self.view.status)
    }
    async fn serial(&self) -> Option<&str> {
        self.view.serial.as_deref()
    }
    async fn not_before(&self) -> Option<DateTime> {
        at_opt(self.view.not_before)
    }
    async fn not_after(&self) -> Option<DateTime> {
        at_opt(self.view.not_after)
    }
    async fn fingerprint_sha256(&self) -> Option<&str> {
        self.view.fingerprint_sha256.as_deref()
    }
    async fn renew_at(&self) -> Option<DateTime> {
        at_opt(self.view.renew_at)
    }
    /// The start of the renewal window the CA suggested (ACME Renewal Information), if it gave one.
    async fn ari_window_start(&self) -> Option<DateTime> {
        at_opt(self.view.ari_window_start)
    }
    async fn ari_window_end(&self) -> Option<DateTime> {
        at_opt(self.view.ari_window_end)
    }
    /// Seconds until `notAfter` (negative once expired).
    async fn expires_in_seconds(&self) -> Option<i64> {
        self.view.expires_in_seconds
    }
    async fn last_error(&self) -> Option<&str> {
        self.view.last_error.as_deref()
    }
    /// The ACME order in progress, if any.
    async fn order_url(&self) -> Option<&str> {
        self.view.order_url.as_deref()
    }
    async fn revoked_at(&self) -> Option<DateTime> {
        at_opt(self.view.revoked_at)
    }
    async fn paused(&self) -> bool {
        self.view.paused
    }
    /// Set when `renewBeforeDays` is longer than half the lifetime: it renews at half instead.
    async fn renewal_warning(&self) -> Option<&str> {
        self.view.renewal_warning.as_deref()
    }
    /// Certificates this one replaced, newest first.
    async fn history(&self) -> Vec<IssuedVersion> {
        self.view
            .history
            .iter()
            .map(|h| IssuedVersion {
                serial: h.serial.clone(),
                not_before: at(h.not_before),
                not_after: at(h.not_after),
                fingerprint_sha256: h.fingerprint_sha256.clone(),
                replaced_at: at(h.replaced_at),
            })
            .collect()
    }
    async fn created_at(&self) -> DateTime {
        at(self.view.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        at(self.view.updated_at)
    }
    async fn version(&self) -> u64 {
        self.view.version
    }

    /// The issued chain, leaf first, as PEM (REST's `GET /certificates/{id}/chain`); null until one
    /// is issued, where REST answers 404.
    async fn chain(&self, ctx: &Context<'_>) -> GqlResult<Option<&str>> {
        nested_scope(ctx, "Certificate.chain", &self.scope)?;
        Ok(crate::service::certificates::issued_chain(&self.cert))
    }

    /// The ACME account that issues it (`null` when none does: an unmanaged certificate).
    async fn account(&self, ctx: &Context<'_>) -> GqlResult<Option<AcmeAccountNode>> {
        let scope = nested_scope(ctx, "Certificate.account", &self.scope)?;
        let Some(account) = self.cert.acme_account_id else { return Ok(None) };
        let key = AccountKey(Scoped { scope, key: account });
        Ok(loaders::of(ctx)?.load_one(key).await?.map(|a| AcmeAccountNode(a.into())))
    }

    /// The zones that serve its names (each name's longest matching apex), each once.
    async fn zones(&self, ctx: &Context<'_>) -> GqlResult<Vec<ZoneNode>> {
        let scope = nested_scope(ctx, "Certificate.zones", &self.scope)?;
        let zones = loaders::of(ctx)?.load_one(ZonesKey(Scoped { scope: scope.clone(), key: () })).await?;
        let zones = zones.unwrap_or_default();
        let mut serving = Vec::new();
        for name in std::iter::once(&self.cert.common_name).chain(&self.cert.sans) {
            if let Some(zone) = zone_serving(&zones, name)
                && !serving.iter().any(|z: &ZoneNode| z.zone.id == zone.id)
            {
                serving.push(ZoneNode { zone: zone.clone(), scope: scope.clone() });
            }
        }
        Ok(serving)
    }

    /// Its targets in the order attached, each with the deployment there.
    async fn targets(&self, ctx: &Context<'_>) -> GqlResult<Vec<CertificateTarget>> {
        let scope = nested_scope(ctx, "Certificate.targets", &self.scope)?;
        nested_scope(ctx, "Certificate.deployments", &self.scope)?;
        let key = DeploymentsKey(Scoped { scope: scope.clone(), key: self.cert.id });
        let deployments = loaders::of(ctx)?.load_one(key).await?.unwrap_or_default();
        Ok(self
            .cert
            .target_ids
            .iter()
            .map(|t| CertificateTarget {
                target_id: *t,
                scope: scope.clone(),
                deployment: deployments.iter().find(|d| d.target_id == *t).cloned().map(DeploymentNode),
            })
            .collect())
    }

    /// Whether it is going to be all right (drift from its deployments, the next attempt from its
    /// newest job).
    async fn health(&self, ctx: &Context<'_>) -> GqlResult<CertificateHealthInfo> {
        let scope = nested_scope(ctx, "Certificate.deployments", &self.scope)?;
        let loaders = loaders::of(ctx)?;
        let deployments = loaders.load_one(DeploymentsKey(Scoped { scope, key: self.cert.id })).await?;
        let drifted = deployments.unwrap_or_default().iter().any(|d| d.drift.is_some());
        let mut view = self.view.health.clone();
        if drifted {
            view.drifted();
        }
        let mut next_attempt_at = None;
        if crate::service::health::shows_next_attempt(view.state) {
            let scope = nested_scope(ctx, "Certificate.jobs", &self.scope)?;
            let jobs = loaders.load_one(JobsKey(Scoped { scope, key: (self.cert.id, 1) })).await?;
            next_attempt_at = crate::service::health::next_attempt(jobs.unwrap_or_default().first());
        }
        Ok(CertificateHealthInfo {
            state: view.state.as_str().to_owned(),
            reason: view.reason,
            overdue_at: at_opt(view.overdue_at),
            next_attempt_at: at_opt(next_attempt_at),
        })
    }

    /// Where it stands on each target it was sent to.
    async fn deployments(&self, ctx: &Context<'_>) -> GqlResult<Vec<DeploymentNode>> {
        let scope = nested_scope(ctx, "Certificate.deployments", &self.scope)?;
        let found = loaders::of(ctx)?.load_one(DeploymentsKey(Scoped { scope, key: self.cert.id })).await?;
        Ok(found.unwrap_or_default().iter().cloned().map(DeploymentNode).collect())
    }

    /// The newest `last` events of its story (state changes and job steps), oldest first.
    #[graphql(complexity = "list_cost(Some(last), child_complexity)")]
    async fn timeline(&self, ctx: &Context<'_>, #[graphql(default = 20)] last: i32) -> GqlResult<Vec<TimelineEvent>> {
        let scope = nested_scope(ctx, "Certificate.timeline", &self.scope)?;
        let key = TimelineKey(Scoped { scope, key: (self.cert.id, Self::tail(last)?) });
        Ok(loaders::of(ctx)?.load_one(key).await?.unwrap_or_default().iter().map(TimelineEvent::from).collect())
    }

    /// What its newest job is doing now, and which DNS servers an order still waits for (REST's
    /// `GET /certificates/{id}/live`).
    async fn live(&self, ctx: &Context<'_>) -> GqlResult<CertificateLive> {
        let scope = nested_scope(ctx, "Certificate.live", &self.scope)?;
        let state = crate::graphql::state(ctx)?;
        Ok(CertificateLive(crate::service::certificates::live_of(state, &scope, &self.cert).await?))
    }

    /// Its newest `last` jobs, newest first.
    #[graphql(complexity = "list_cost(Some(last), child_complexity)")]
    async fn jobs(&self, ctx: &Context<'_>, #[graphql(default = 5)] last: i32) -> GqlResult<Vec<JobNode>> {
        let scope = nested_scope(ctx, "Certificate.jobs", &self.scope)?;
        let key = JobsKey(Scoped { scope, key: (self.cert.id, Self::tail(last)?) });
        Ok(loaders::of(ctx)?.load_one(key).await?.unwrap_or_default().iter().cloned().map(JobNode::new).collect())
    }
}

/// Loads what the query selects below a page of certificates, one batch per relation, before the
/// nodes resolve: each node then finds its relations in the request's loader cache. The loaders'
/// own batching waits a moment for keys, and a long list is polled in slices (`try_join_all`
/// yields between them), so a page could otherwise be read in several batches; this makes one per
/// relation whatever the page's length. A relation the caller may not see is not loaded (its
/// field answers the refusal itself).
async fn prefetch(ctx: &Context<'_>, page: &[&CertificateNode]) -> GqlResult<()> {
    let Some(scope) = page.first().map(|c| c.scope.clone()) else { return Ok(()) };
    let loaders = loaders::of(ctx)?;
    let look = ctx.look_ahead();
    let nodes = [look.field("edges").field("node"), look.field("nodes")];
    let selected = |path: &[&str]| {
        nodes.iter().any(|n| match path {
            [one] => n.field(one).exists(),
            [one, two] => n.field(one).field(two).exists(),
            _ => false,
        })
    };
    let allowed = |field: &str| nested_scope(ctx, field, &scope).is_ok();
    let tails = |field: &str, default: i32| -> Vec<usize> {
        let mut counts: Vec<usize> = nodes
            .iter()
            .flat_map(|n| n.field(field).selection_fields())
            .filter_map(|f| {
                let arguments = f.arguments().ok()?;
                let last = arguments.iter().find(|(name, _)| name.as_str() == "last").map(|(_, v)| v.clone());
                let last = match last {
                    Some(async_graphql::Value::Number(n)) => n.as_i64()? as i32,
                    _ => default,
                };
                CertificateNode::tail(last).ok()
            })
            .collect();
        counts.sort_unstable();
        counts.dedup();
        counts
    };
    let mut work: Vec<futures_util::future::BoxFuture<'_, Result<(), ApiError>>> = Vec::new();
    if selected(&["account"]) && allowed("Certificate.account") {
        let keys: Vec<_> =
            page.iter().filter_map(|c| c.cert.acme_account_id).map(|a| AccountKey(scoped(&scope, a))).collect();
        work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
    }
    let wanted = selected(&["targets"]) || selected(&["deployments"]) || selected(&["health"]);
    if wanted && allowed("Certificate.deployments") {
        let keys: Vec<_> = page.iter().map(|c| DeploymentsKey(scoped(&scope, c.cert.id))).collect();
        work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
    }
    if selected(&["targets", "target"]) && allowed("CertificateTarget.target") {
        let mut ids: Vec<_> = page.iter().flat_map(|c| c.cert.target_ids.iter().copied()).collect();
        ids.sort_by_key(ToString::to_string);
        ids.dedup();
        let keys: Vec<_> = ids.into_iter().map(|t| TargetKey(scoped(&scope, t))).collect();
        work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
    }
    if selected(&["zones"]) && allowed("Certificate.zones") {
        let keys = vec![ZonesKey(scoped(&scope, ()))];
        work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
    }
    if allowed("Certificate.timeline") {
        for n in tails("timeline", 20) {
            let keys: Vec<_> = page.iter().map(|c| TimelineKey(scoped(&scope, (c.cert.id, n)))).collect();
            work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
        }
    }
    if allowed("Certificate.jobs") {
        if selected(&["health"]) {
            let keys: Vec<_> = page.iter().map(|c| JobsKey(scoped(&scope, (c.cert.id, 1)))).collect();
            work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
        }
        for n in tails("jobs", 5) {
            let keys: Vec<_> = page.iter().map(|c| JobsKey(scoped(&scope, (c.cert.id, n)))).collect();
            work.push(Box::pin(async move { loaders.load_many(keys).await.map(drop) }));
        }
    }
    futures_util::future::try_join_all(work).await?;
    Ok(())
}

fn scoped<K>(scope: &ProjectScope, key: K) -> Scoped<K> {
    Scoped { scope: scope.clone(), key }
}

#[derive(Default)]
pub struct CertificateQuery;

#[Object]
impl CertificateQuery {
    /// The certificates of a project.
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn certificates(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, CertificateNode>> {
        let rules = HealthRules::at(Timestamp::now());
        let page = project_list(
            ctx,
            "Query.certificates",
            "certificates",
            &project_id,
            first,
            after,
            |c: Certificate, scope| CertificateNode::by(&rules, c, scope),
        )
        .await?;
        let certificates: Vec<&CertificateNode> = page.edges.iter().map(|e| &e.node).collect();
        prefetch(ctx, &certificates).await?;
        Ok(page)
    }

    /// One certificate.
    async fn certificate(&self, ctx: &Context<'_>, id: ID) -> GqlResult<CertificateNode> {
        let (scope, cert) =
            record_by_id::<Certificate, CertificateId>(ctx, "Query.certificate", &id, "certificate").await?;
        Ok(CertificateNode::new(cert, &scope))
    }
}
