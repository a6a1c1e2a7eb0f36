//! The watch's decision for one certificate: given what was last announced, its health now and the
//! rules that watch, which events to audit. Pure: the notification router feeds it facts and writes
//! what it returns (the new watch with its audit entries, in one transaction).
//! Invariant: a health is announced once per change, and a threshold once per rule and `not_after`;
//! one decision carries at most one event, so the watch and its event commit in one transaction
//! (what is left is found by the next decision, which the event itself triggers).

use serde_json::json;

use crate::ids::RuleId;
use crate::model::{
    Certificate, CertificateHealth, CertificateStatus, CertificateWatch, EXPIRING, ExpiryThreshold, HEALTH_CHANGED,
    HealthReport, HealthRules, NotificationRule,
};
use crate::timestamp::Timestamp;

/// One audit entry the watch writes: an action and its details (the object is the certificate).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchEvent {
    pub action: &'static str,
    pub details: serde_json::Value,
}

/// What to write for one certificate: `None` when nothing changed.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchOutcome {
    pub watch: CertificateWatch,
    pub event: Option<WatchEvent>,
    /// The watch is new (insert rather than update).
    pub first: bool,
}

/// Healths worth telling about when a certificate is first seen already in them.
fn alarming(health: CertificateHealth) -> bool {
    use CertificateHealth::*;
    matches!(health, RenewalFailing | Overdue | Expired | Revoked | Drifted)
}

/// Decides for `cert` (with `drifted` deployments or not) by the health rules of one instant
/// (`health`, built once for a round: the instant is `now` here); `rules` are the project's rules
/// that watch (`NotificationRule::watches`).
pub fn decide(
    cert: &Certificate,
    drifted: bool,
    health: &HealthRules,
    previous: Option<&CertificateWatch>,
    rules: &[NotificationRule],
) -> Option<WatchOutcome> {
    // A read older than the one last decided on (a renewal landed in between) decides nothing.
    if previous.is_some_and(|w| cert.version < w.cert_version) {
        return None;
    }
    let now = health.now();
    let report = HealthReport::by(health, cert, drifted);
    let mut watch = match previous {
        Some(w) => w.clone(),
        None => CertificateWatch {
            id: cert.id,
            project_id: cert.project_id,
            health: report.health,
            since: now,
            warned: Vec::new(),
            cert_version: cert.version,
            created_at: now,
            updated_at: now,
            version: 1,
        },
    };
    let changed = match previous {
        Some(w) => w.health != report.health,
        None => alarming(report.health),
    };
    let first = previous.is_none();
    let newer = watch.cert_version != cert.version;
    watch.cert_version = cert.version;
    if changed {
        watch.health = report.health;
        watch.since = now;
        let event = WatchEvent {
            action: HEALTH_CHANGED,
            details: json!({
                "from": previous.map(|w| w.health.as_str()),
                "to": report.health.as_str(),
                "reason": report.reason,
                "name": cert.common_name,
                "not_after": cert.not_after.map(|t| t.to_rfc3339()),
            }),
        };
        return Some(WatchOutcome { watch, event: Some(event), first });
    }
    watch.health = report.health;
    let current = cert.not_after.map(|t| t.as_unix_millis());
    let before = watch.warned.len();
    watch.warned.retain(|(_, not_after)| Some(*not_after) == current);
    let pruned = watch.warned.len() != before;
    let event = crossed_thresholds(cert, now, &watch, rules).into_iter().next().map(|(rule, threshold, not_after)| {
        watch.warned.push((rule, not_after));
        WatchEvent {
            action: EXPIRING,
            details: json!({
                "rule_id": rule.to_string(),
                "threshold": threshold.describe(),
                "name": cert.common_name,
                "not_after": Timestamp::from_unix_millis(not_after).to_rfc3339(),
                "reason": format!("expires at {}, within {}", Timestamp::from_unix_millis(not_after).to_rfc3339(), threshold.describe()),
            }),
        }
    });
    if event.is_none() && !first && !pruned && !newer {
        return None;
    }
    Some(WatchOutcome { watch, event, first })
}

/// The rules whose threshold `cert` crossed and that have not warned for its `not_after` yet. A
/// certificate already expired, revoked or not issued never counts as expiring.
fn crossed_thresholds(
    cert: &Certificate,
    now: Timestamp,
    watch: &CertificateWatch,
    rules: &[NotificationRule],
) -> Vec<(RuleId, ExpiryThreshold, i64)> {
    use CertificateStatus::*;
    let Some(not_after) = cert.not_after else { return Vec::new() };
    if !matches!(cert.status, Issued | Renewing | Failed | Unmanaged) || now >= not_after {
        return Vec::new();
    }
    let end = not_after.as_unix_millis();
    rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| r.expiry.map(|t| (r.id, t)))
        .filter(|(rule, t)| t.warn_at(cert.not_before, not_after) <= now && !watch.warned.contains(&(*rule, end)))
        .map(|(rule, t)| (rule, t, end))
        .collect()
}
