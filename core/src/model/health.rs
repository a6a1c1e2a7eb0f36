//! A certificate's health: beside its lifecycle status, the one answer to "is this certificate
//! going to be all right?", computed from its stored facts (and whether a target serves something
//! else), never set by hand. The rules are `Condition`s over `CertificateFacts`, so store backends
//! count and filter by health the way they count the overview's figures.
//! Invariant: every certificate has exactly one health; the first rule of `PRECEDENCE` that holds
//! wins, and drift only replaces a health that would otherwise say nothing is wrong.

use serde::{Deserialize, Serialize};

use crate::model::{Certificate, CertificateFacts, CertificateStatus, Condition, OverviewRules};
use crate::timestamp::Timestamp;

/// What an operator needs to know about a certificate, most severe last in `ALL`'s order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateHealth {
    /// Issued, outside its renewal window, nothing failing.
    Ok,
    /// Requested and not issued yet (the first issuance is under way).
    Pending,
    /// Inside its renewal window; the renewal has not finished yet.
    RenewalDue,
    /// Issued elsewhere (imported or discovered) and only watched.
    Unmanaged,
    /// A target serves something other than the certificate deployed there.
    Drifted,
    /// The last attempt to issue or renew it failed; another follows.
    RenewalFailing,
    /// Past the point where its renewal should have finished: less than a third of the renewal
    /// window left, or paused inside it.
    Overdue,
    Expired,
    Revoked,
}

impl CertificateHealth {
    pub const ALL: [CertificateHealth; 9] = {
        use CertificateHealth::*;
        [Ok, Pending, RenewalDue, Unmanaged, Drifted, RenewalFailing, Overdue, Expired, Revoked]
    };

    /// The healths the facts decide, in the order their rules are tried (drift is decided apart).
    pub const PRECEDENCE: [CertificateHealth; 8] = {
        use CertificateHealth::*;
        [Revoked, Expired, Overdue, RenewalFailing, RenewalDue, Pending, Unmanaged, Ok]
    };

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateHealth::Ok => "ok",
            CertificateHealth::Pending => "pending",
            CertificateHealth::RenewalDue => "renewal_due",
            CertificateHealth::Unmanaged => "unmanaged",
            CertificateHealth::Drifted => "drifted",
            CertificateHealth::RenewalFailing => "renewal_failing",
            CertificateHealth::Overdue => "overdue",
            CertificateHealth::Expired => "expired",
            CertificateHealth::Revoked => "revoked",
        }
    }

    pub fn parse(text: &str) -> Option<CertificateHealth> {
        CertificateHealth::ALL.into_iter().find(|h| h.as_str() == text)
    }

    /// Its place in `ALL` (and in `HealthCounts`).
    pub fn index(self) -> usize {
        CertificateHealth::ALL.iter().position(|h| *h == self).unwrap_or_default()
    }

    /// Whether a drifted deployment replaces this health: only the ones that say nothing is wrong.
    pub fn yields_to_drift(self) -> bool {
        matches!(self, CertificateHealth::Ok | CertificateHealth::RenewalDue | CertificateHealth::Unmanaged)
    }

    /// Whether the certificate serves as it should (cert-manager's Ready condition): `None` when
    /// that is not ours to say (not issued yet, or watched only).
    pub fn ready(self) -> Option<bool> {
        match self {
            CertificateHealth::Ok | CertificateHealth::RenewalDue => Some(true),
            CertificateHealth::Pending | CertificateHealth::Unmanaged => None,
            _ => Some(false),
        }
    }
}

/// How many certificates have each health, in `CertificateHealth::ALL`'s order.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HealthCounts(pub [usize; CertificateHealth::ALL.len()]);

impl HealthCounts {
    pub fn get(&self, health: CertificateHealth) -> usize {
        self.0[health.index()]
    }

    pub fn add(&mut self, health: CertificateHealth, n: usize) {
        self.0[health.index()] += n;
    }

    /// Moves one certificate from `from` to `to`.
    pub fn shift(&mut self, from: CertificateHealth, to: CertificateHealth) {
        self.0[from.index()] = self.0[from.index()].saturating_sub(1);
        self.0[to.index()] += 1;
    }

    pub fn merge(&mut self, other: &HealthCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// Each health with its count, in `ALL`'s order.
    pub fn iter(&self) -> impl Iterator<Item = (CertificateHealth, usize)> + '_ {
        CertificateHealth::ALL.into_iter().zip(self.0)
    }
}

/// When the renewal of a certificate renewing at `renew_at` and expiring at `not_after` should have
/// finished: with a third of its renewal window left (at `renew_at` itself for an empty window).
pub fn overdue_at(renew_at: Option<Timestamp>, not_after: Option<Timestamp>) -> Option<Timestamp> {
    let (renew, expiry) = (renew_at?.as_unix_millis(), not_after?.as_unix_millis());
    let window = expiry.saturating_sub(renew).max(0);
    Some(Timestamp::from_unix_millis(expiry.saturating_sub(window / 3).max(renew)))
}

impl OverviewRules {
    /// The rule of a health taken alone: it may hold together with a rule before it in
    /// `PRECEDENCE` (`health_condition` is the exclusive one). Drift is no fact of the certificate:
    /// its rule never holds here.
    fn health_rule(&self, health: CertificateHealth) -> Condition {
        use CertificateStatus::*;
        let live = || Condition::StatusIn(vec![Issued, Renewing]);
        let in_window = || Condition::All(vec![live(), Condition::RenewAtAtOrBefore(self.now)]);
        // A renewal that ran out of attempts leaves the certificate `failed` with its current
        // certificate and window in place: it runs out of time like any other.
        let holding = || Condition::StatusIn(vec![Issued, Renewing, Failed]);
        match health {
            CertificateHealth::Revoked => Condition::StatusIn(vec![Revoked]),
            CertificateHealth::Expired => {
                Condition::Any(vec![Condition::StatusIn(vec![Expired]), Condition::NotAfterAtOrBefore(self.now)])
            }
            CertificateHealth::Overdue => Condition::All(vec![
                holding(),
                Condition::RenewAtAtOrBefore(self.now),
                Condition::Any(vec![Condition::Paused, Condition::OverdueAtAtOrBefore(self.now)]),
            ]),
            CertificateHealth::RenewalFailing => Condition::Any(vec![
                Condition::StatusIn(vec![Failed]),
                Condition::All(vec![live(), Condition::HasError]),
            ]),
            CertificateHealth::RenewalDue => in_window(),
            CertificateHealth::Pending => Condition::StatusIn(vec![Requested, Issuing]),
            CertificateHealth::Unmanaged => Condition::StatusIn(vec![Unmanaged]),
            CertificateHealth::Ok => Condition::Always,
            CertificateHealth::Drifted => Condition::Not(Box::new(Condition::Always)),
        }
    }

    /// The certificates whose facts give exactly this health (before drift): its rule, and none of
    /// the rules before it. For `Drifted`, none.
    pub fn health_condition(&self, health: CertificateHealth) -> Condition {
        if health == CertificateHealth::Drifted {
            return self.health_rule(health);
        }
        let mut all = vec![self.health_rule(health)];
        for earlier in CertificateHealth::PRECEDENCE.into_iter().take_while(|h| *h != health) {
            all.push(Condition::Not(Box::new(self.health_rule(earlier))));
        }
        Condition::All(all)
    }
}

/// The rules of `PRECEDENCE` at one instant, built once and applied to many certificates. A rule
/// is a tree of conditions, allocated as it is built: a page of 50 certificates that built them
/// for each certificate spent more on building than on deciding (issue 16, item 6).
#[derive(Debug, Clone)]
pub struct HealthRules {
    now: Timestamp,
    rules: Vec<(CertificateHealth, Condition)>,
}

impl HealthRules {
    pub fn at(now: Timestamp) -> Self {
        let overview = OverviewRules::at(now);
        let rules = CertificateHealth::PRECEDENCE.into_iter().map(|h| (h, overview.health_rule(h))).collect();
        HealthRules { now, rules }
    }

    /// The instant every rule compares with.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The health the facts give, before drift: the first rule that holds.
    pub fn fact_health(&self, facts: &CertificateFacts) -> CertificateHealth {
        self.rules.iter().find(|(_, rule)| rule.holds(facts)).map_or(CertificateHealth::Ok, |(health, _)| *health)
    }

    /// The health, with drift: `drifted` when a deployment of the certificate found another served.
    pub fn health(&self, facts: &CertificateFacts, drifted: bool) -> CertificateHealth {
        let health = self.fact_health(facts);
        if drifted && health.yields_to_drift() { CertificateHealth::Drifted } else { health }
    }
}

/// The reason beside `drifted`.
pub const DRIFT_REASON: &str = "a target serves a certificate other than the one deployed";

/// A certificate's health with what an operator reads next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    pub health: CertificateHealth,
    /// Why, in words (the last error for `renewal_failing`); `None` for `ok`.
    pub reason: Option<String>,
    /// When the renewal should have finished (set once the renewal window has opened).
    pub overdue_at: Option<Timestamp>,
}

impl HealthReport {
    pub fn of(cert: &Certificate, now: Timestamp, drifted: bool) -> HealthReport {
        HealthReport::by(&HealthRules::at(now), cert, drifted)
    }

    /// The report by rules built once for many certificates.
    pub fn by(rules: &HealthRules, cert: &Certificate, drifted: bool) -> HealthReport {
        let facts = CertificateFacts::of(cert);
        let health = rules.health(&facts, drifted);
        let reason = match health {
            CertificateHealth::Ok => None,
            CertificateHealth::Pending => Some("not issued yet".to_owned()),
            CertificateHealth::RenewalDue => {
                facts.renew_at.map(|at| format!("renewal window opened at {}", at.to_rfc3339()))
            }
            CertificateHealth::Unmanaged => Some("issued elsewhere; watched, not renewed".to_owned()),
            CertificateHealth::Drifted => Some(DRIFT_REASON.to_owned()),
            CertificateHealth::RenewalFailing => Some(cert.last_error.clone().unwrap_or_else(|| "failed".to_owned())),
            CertificateHealth::Overdue if cert.paused => {
                Some("inside its renewal window with automatic renewal paused".to_owned())
            }
            CertificateHealth::Overdue => Some(match (&cert.last_error, facts.overdue_at) {
                (Some(error), _) => format!("renewal has not finished: {error}"),
                (None, Some(at)) => format!("renewal should have finished by {}", at.to_rfc3339()),
                (None, None) => "renewal has not finished".to_owned(),
            }),
            CertificateHealth::Expired => cert.not_after.map(|at| format!("expired at {}", at.to_rfc3339())),
            CertificateHealth::Revoked => Some("revoked".to_owned()),
        };
        HealthReport { health, reason, overdue_at: facts.overdue_at.filter(|_| cert.renew_at.is_some()) }
    }
}

#[cfg(test)]
#[path = "health_test.rs"]
mod tests;
