//! The overview's rules, written once: which certificates count as issued, in their renewal window,
//! overdue, expired, failing or revoked, which need attention and why, which fall on the expiry
//! calendar, and which deployments need attention. Each rule is a typed `Condition` over a few facts
//! of a record (`CertificateFacts`, `DeploymentFacts`); store backends translate the conditions into
//! their queries (`store::CertificateStats`), and `ProjectCertificateStats::reference` applies them
//! to records one by one, the answer the conformance suite holds every backend to.
//! Invariant: no backend and no interface restates a rule; they only translate these conditions.

use serde::Deserialize;

use crate::ids::CertificateId;
use crate::model::health::{CertificateHealth, HealthCounts, HealthRules, overdue_at};
use crate::model::{Certificate, CertificateStatus, Deployment, DeploymentStatus};
use crate::timestamp::Timestamp;
/// One day of the expiry calendar, which counts in UTC days.
pub const DAY_MILLIS: i64 = 86_400_000;

/// What the rules look at in a certificate: the fields a backend keeps in the clear beside the
/// record's document, so it can count and filter without reading the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateFacts {
    pub status: CertificateStatus,
    pub not_after: Option<Timestamp>,
    pub renew_at: Option<Timestamp>,
    pub paused: bool,
    /// The last attempt left an error (`last_error` is set).
    pub has_error: bool,
    /// When the renewal should have finished (`health::overdue_at`), derived from the two times.
    pub overdue_at: Option<Timestamp>,
}

impl CertificateFacts {
    pub fn of(cert: &Certificate) -> Self {
        CertificateFacts {
            status: cert.status,
            not_after: cert.not_after,
            renew_at: cert.renew_at,
            paused: cert.paused,
            has_error: cert.last_error.is_some(),
            overdue_at: overdue_at(cert.renew_at, cert.not_after),
        }
    }

    /// The facts from the stored columns (the derived `overdue_at` computed again).
    pub fn from_columns(
        status: CertificateStatus,
        not_after: Option<Timestamp>,
        renew_at: Option<Timestamp>,
        paused: bool,
        has_error: bool,
    ) -> Self {
        CertificateFacts { status, not_after, renew_at, paused, has_error, overdue_at: overdue_at(renew_at, not_after) }
    }

    /// The facts of a certificate's stored document (its JSON), as a backend derives its columns.
    pub fn from_document(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Fields {
            status: CertificateStatus,
            not_after: Option<Timestamp>,
            renew_at: Option<Timestamp>,
            #[serde(default)]
            paused: bool,
            last_error: Option<String>,
        }
        let f: Fields = serde_json::from_str(json)?;
        Ok(CertificateFacts::from_columns(f.status, f.not_after, f.renew_at, f.paused, f.last_error.is_some()))
    }
}

/// A rule over `CertificateFacts`. A time comparison with an absent time is false (a certificate
/// never issued has not expired), so `Not` of it is true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Always,
    StatusIn(Vec<CertificateStatus>),
    /// `not_after` is set and at or before the instant.
    NotAfterAtOrBefore(Timestamp),
    /// `not_after` is set and in `[from, until)`.
    NotAfterIn(Timestamp, Timestamp),
    /// `renew_at` is set and at or before the instant.
    RenewAtAtOrBefore(Timestamp),
    /// `renew_at` is set and strictly before the instant.
    RenewAtBefore(Timestamp),
    /// `overdue_at` is set and at or before the instant.
    OverdueAtAtOrBefore(Timestamp),
    Paused,
    HasError,
    Not(Box<Condition>),
    All(Vec<Condition>),
    Any(Vec<Condition>),
}

impl Condition {
    /// The reference meaning of the condition, which every backend's translation must agree with.
    pub fn holds(&self, f: &CertificateFacts) -> bool {
        match self {
            Condition::Always => true,
            Condition::StatusIn(statuses) => statuses.contains(&f.status),
            Condition::NotAfterAtOrBefore(t) => f.not_after.is_some_and(|n| n <= *t),
            Condition::NotAfterIn(from, until) => f.not_after.is_some_and(|n| *from <= n && n < *until),
            Condition::RenewAtAtOrBefore(t) => f.renew_at.is_some_and(|r| r <= *t),
            Condition::RenewAtBefore(t) => f.renew_at.is_some_and(|r| r < *t),
            Condition::OverdueAtAtOrBefore(t) => f.overdue_at.is_some_and(|o| o <= *t),
            Condition::Paused => f.paused,
            Condition::HasError => f.has_error,
            Condition::Not(c) => !c.holds(f),
            Condition::All(cs) => cs.iter().all(|c| c.holds(f)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(f)),
        }
    }

    fn negated(self) -> Condition {
        Condition::Not(Box::new(self))
    }
}

/// The figures of `StatusCounts`, one rule each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusCounter {
    Issued,
    Renewing,
    Pending,
    InWindow,
    Overdue,
    Expired,
    Failing,
    Revoked,
    Total,
    /// Certificates whose facts give this health (drift is added from the deployments).
    Health(CertificateHealth),
}

impl StatusCounter {
    pub const ALL: [StatusCounter; 17] = {
        use CertificateHealth as H;
        [
            StatusCounter::Issued,
            StatusCounter::Renewing,
            StatusCounter::Pending,
            StatusCounter::InWindow,
            StatusCounter::Overdue,
            StatusCounter::Expired,
            StatusCounter::Failing,
            StatusCounter::Revoked,
            StatusCounter::Total,
            StatusCounter::Health(H::Revoked),
            StatusCounter::Health(H::Expired),
            StatusCounter::Health(H::Overdue),
            StatusCounter::Health(H::RenewalFailing),
            StatusCounter::Health(H::RenewalDue),
            StatusCounter::Health(H::Pending),
            StatusCounter::Health(H::Unmanaged),
            StatusCounter::Health(H::Ok),
        ]
    };
}

/// Certificates by what an operator asks first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatusCounts {
    pub issued: usize,
    pub renewing: usize,
    /// Requested or issuing: not yet issued.
    pub pending: usize,
    /// Issued or renewing, and inside the renewal window (`renew_at` passed, not yet expired).
    pub in_window: usize,
    /// In the window with less than a third of it left (`health::overdue_at`), or paused in it.
    pub overdue: usize,
    /// Past `not_after` (or marked expired) and not revoked.
    pub expired: usize,
    /// Failed, or issued with an error from the last renewal attempt.
    pub failing: usize,
    pub revoked: usize,
    pub total: usize,
    /// Every certificate under exactly one health.
    pub health: HealthCounts,
}

impl StatusCounts {
    pub fn add(&mut self, counter: StatusCounter, n: usize) {
        *match counter {
            StatusCounter::Issued => &mut self.issued,
            StatusCounter::Renewing => &mut self.renewing,
            StatusCounter::Pending => &mut self.pending,
            StatusCounter::InWindow => &mut self.in_window,
            StatusCounter::Overdue => &mut self.overdue,
            StatusCounter::Expired => &mut self.expired,
            StatusCounter::Failing => &mut self.failing,
            StatusCounter::Revoked => &mut self.revoked,
            StatusCounter::Total => &mut self.total,
            StatusCounter::Health(health) => return self.health.add(health, n),
        } += n;
    }

    /// Adds another project's counts.
    pub fn merge(&mut self, other: &StatusCounts) {
        self.issued += other.issued;
        self.renewing += other.renewing;
        self.pending += other.pending;
        self.in_window += other.in_window;
        self.overdue += other.overdue;
        self.expired += other.expired;
        self.failing += other.failing;
        self.revoked += other.revoked;
        self.total += other.total;
        self.health.merge(&other.health);
    }

    /// Moves the certificates with a drifted deployment (their facts given) whose health yields
    /// to drift from the health their facts give to `drifted`.
    pub fn add_drift(&mut self, rules: &OverviewRules, drifted: &[CertificateFacts]) {
        let rules = HealthRules::at(rules.now);
        for facts in drifted {
            let health = rules.fact_health(facts);
            if health.yields_to_drift() {
                self.health.shift(health, CertificateHealth::Drifted);
            }
        }
    }
}

/// Why a certificate is on the attention list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttentionKind {
    Failing,
    Overdue,
    Expired,
    Drift,
    DeploymentFailed,
}

impl AttentionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AttentionKind::Failing => "failing",
            AttentionKind::Overdue => "overdue",
            AttentionKind::Expired => "expired",
            AttentionKind::Drift => "drift",
            AttentionKind::DeploymentFailed => "deployment failed",
        }
    }
}

/// The rules at one instant (`now`): every condition compares with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverviewRules {
    pub now: Timestamp,
}

impl OverviewRules {
    pub fn at(now: Timestamp) -> Self {
        OverviewRules { now }
    }

    /// Past `not_after` or marked expired, and not revoked: revocation wins over expiry.
    fn expired(&self) -> Condition {
        use CertificateStatus::*;
        Condition::All(vec![
            Condition::StatusIn(vec![Revoked]).negated(),
            Condition::Any(vec![Condition::StatusIn(vec![Expired]), Condition::NotAfterAtOrBefore(self.now)]),
        ])
    }

    /// Neither revoked nor expired: only these count by status, window and failure.
    fn current(&self) -> Condition {
        use CertificateStatus::*;
        Condition::All(vec![
            Condition::StatusIn(vec![Revoked, Expired]).negated(),
            Condition::NotAfterAtOrBefore(self.now).negated(),
        ])
    }

    fn current_with(&self, more: Vec<Condition>) -> Condition {
        let mut all = vec![self.current()];
        all.extend(more);
        Condition::All(all)
    }

    fn live() -> Condition {
        Condition::StatusIn(vec![CertificateStatus::Issued, CertificateStatus::Renewing])
    }

    fn in_window(&self) -> Condition {
        self.current_with(vec![Self::live(), Condition::RenewAtAtOrBefore(self.now)])
    }

    /// In the window with less than a third of it left (`health::overdue_at`), or paused in it.
    fn overdue(&self) -> Condition {
        Condition::All(vec![
            self.in_window(),
            Condition::Any(vec![Condition::Paused, Condition::OverdueAtAtOrBefore(self.now)]),
        ])
    }

    fn failing(&self) -> Condition {
        self.current_with(vec![Condition::Any(vec![
            Condition::StatusIn(vec![CertificateStatus::Failed]),
            Condition::All(vec![Self::live(), Condition::HasError]),
        ])])
    }

    /// The rule of one figure.
    pub fn counter(&self, counter: StatusCounter) -> Condition {
        use CertificateStatus::*;
        match counter {
            StatusCounter::Issued => self.current_with(vec![Condition::StatusIn(vec![Issued])]),
            StatusCounter::Renewing => self.current_with(vec![Condition::StatusIn(vec![Renewing])]),
            StatusCounter::Pending => self.current_with(vec![Condition::StatusIn(vec![Requested, Issuing])]),
            StatusCounter::InWindow => self.in_window(),
            StatusCounter::Overdue => self.overdue(),
            StatusCounter::Expired => self.expired(),
            StatusCounter::Failing => self.failing(),
            StatusCounter::Revoked => Condition::StatusIn(vec![Revoked]),
            StatusCounter::Total => Condition::Always,
            StatusCounter::Health(health) => self.health_condition(health),
        }
    }

    /// Why a certificate needs attention, first rule that holds wins (expired before failing
    /// before overdue).
    pub fn attention(&self) -> [(AttentionKind, Condition); 3] {
        [
            (AttentionKind::Expired, self.expired()),
            (AttentionKind::Failing, self.failing()),
            (AttentionKind::Overdue, self.overdue()),
        ]
    }

    /// Whether a certificate is on the attention list at all.
    pub fn needs_attention(&self) -> Condition {
        Condition::Any(self.attention().into_iter().map(|(_, c)| c).collect())
    }

    pub fn attention_kind(&self, facts: &CertificateFacts) -> Option<AttentionKind> {
        self.attention().into_iter().find(|(_, c)| c.holds(facts)).map(|(kind, _)| kind)
    }

    /// On the calendar from `start` for `days` days: not revoked, expiring within it.
    pub fn on_calendar(start: Timestamp, days: usize) -> Condition {
        let until = Timestamp::from_unix_millis(start.as_unix_millis() + days as i64 * DAY_MILLIS);
        Condition::All(vec![
            Condition::StatusIn(vec![CertificateStatus::Revoked]).negated(),
            Condition::NotAfterIn(start, until),
        ])
    }
}

/// What the rules look at in a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentFacts {
    pub status: DeploymentStatus,
    /// The last scan found something other than the expected certificate.
    pub drifted: bool,
}

impl DeploymentFacts {
    pub fn of(deployment: &Deployment) -> Self {
        DeploymentFacts { status: deployment.status, drifted: deployment.drift.is_some() }
    }

    pub fn from_document(json: &str) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Fields {
            status: DeploymentStatus,
            #[serde(default)]
            drift: Option<String>,
        }
        let f: Fields = serde_json::from_str(json)?;
        Ok(DeploymentFacts { status: f.status, drifted: f.drift.is_some() })
    }
}

/// A rule over `DeploymentFacts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentCondition {
    Drifted,
    StatusIs(DeploymentStatus),
}

impl DeploymentCondition {
    pub fn holds(self, f: &DeploymentFacts) -> bool {
        match self {
            DeploymentCondition::Drifted => f.drifted,
            DeploymentCondition::StatusIs(status) => f.status == status,
        }
    }

    /// Why a deployment needs attention, first rule that holds wins (drift before failure).
    pub fn attention() -> [(AttentionKind, DeploymentCondition); 2] {
        [
            (AttentionKind::Drift, DeploymentCondition::Drifted),
            (AttentionKind::DeploymentFailed, DeploymentCondition::StatusIs(DeploymentStatus::Failed)),
        ]
    }

    pub fn attention_kind(f: &DeploymentFacts) -> Option<AttentionKind> {
        Self::attention().into_iter().find(|(_, c)| c.holds(f)).map(|(kind, _)| kind)
    }
}

/// What `CertificateStats::certificate_stats` is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsRequest {
    pub now: Timestamp,
    /// Midnight UTC of the calendar's first day.
    pub calendar_start: Timestamp,
    pub calendar_days: usize,
    /// At most this many certificates, and this many deployments, needing attention.
    pub attention_limit: usize,
}

impl StatsRequest {
    pub fn rules(&self) -> OverviewRules {
        OverviewRules::at(self.now)
    }

    /// The calendar day of a certificate on the calendar.
    pub fn calendar_day(&self, not_after: Timestamp) -> Option<usize> {
        let offset = not_after.as_unix_millis() - self.calendar_start.as_unix_millis();
        usize::try_from(offset.div_euclid(DAY_MILLIS)).ok().filter(|d| *d < self.calendar_days)
    }
}

/// One project's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectCertificateStats {
    pub counts: StatusCounts,
    /// Certificates on the calendar per day, `calendar_days` entries.
    pub calendar: Vec<usize>,
    /// Certificates needing attention, soonest `not_after` first (none last), then by id.
    pub attention: Vec<Certificate>,
    /// Deployments needing attention, by certificate id, then by id.
    pub deployments: Vec<Deployment>,
    /// The certificates with a drifted deployment, each once, by id (the counts' `drifted` health
    /// is those among them whose facts give a health that yields to drift).
    pub drifted: Vec<CertificateId>,
}

impl ProjectCertificateStats {
    /// The answer from the records themselves, one at a time: what every backend must return.
    pub fn reference(request: &StatsRequest, certificates: &[Certificate], deployments: &[Deployment]) -> Self {
        let rules = request.rules();
        let mut counts = StatusCounts::default();
        let mut calendar = vec![0; request.calendar_days];
        let on_calendar = OverviewRules::on_calendar(request.calendar_start, request.calendar_days);
        let needs_attention = rules.needs_attention();
        let mut attention = Vec::new();
        for cert in certificates {
            let facts = CertificateFacts::of(cert);
            for counter in StatusCounter::ALL {
                counts.add(counter, usize::from(rules.counter(counter).holds(&facts)));
            }
            if on_calendar.holds(&facts)
                && let Some(day) = cert.not_after.and_then(|t| request.calendar_day(t))
            {
                calendar[day] += 1;
            }
            if needs_attention.holds(&facts) {
                attention.push(cert.clone());
            }
        }
        attention.sort_by_key(attention_order);
        attention.truncate(request.attention_limit);
        let mut flagged: Vec<Deployment> = deployments
            .iter()
            .filter(|d| DeploymentCondition::attention_kind(&DeploymentFacts::of(d)).is_some())
            .cloned()
            .collect();
        flagged.sort_by_key(|d| (d.certificate_id.to_string(), d.id.to_string()));
        flagged.truncate(request.attention_limit);
        let drifted = drifted_certificates(deployments);
        let drifted_facts: Vec<CertificateFacts> =
            certificates.iter().filter(|c| drifted.contains(&c.id)).map(CertificateFacts::of).collect();
        counts.add_drift(&rules, &drifted_facts);
        ProjectCertificateStats { counts, calendar, attention, deployments: flagged, drifted }
    }
}

/// The certificates of `deployments` with a drifted one, each once, by id.
pub fn drifted_certificates(deployments: &[Deployment]) -> Vec<CertificateId> {
    let mut ids: Vec<CertificateId> =
        deployments.iter().filter(|d| DeploymentFacts::of(d).drifted).map(|d| d.certificate_id).collect();
    ids.sort_by_key(|id| id.to_string());
    ids.dedup();
    ids
}

/// A status as stored documents spell it (its serde name), for backends that keep it beside them.
pub fn stored_name(value: impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The attention list's order: soonest expiry first, certificates without one last, then by id.
pub fn attention_order(cert: &Certificate) -> (i64, String) {
    (cert.not_after.map_or(i64::MAX, Timestamp::as_unix_millis), cert.id.to_string())
}

#[cfg(test)]
#[path = "certificate_stats_test.rs"]
mod tests;
