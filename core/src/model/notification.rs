//! Notifications: a project's channels (where messages go, their secret sealed apart) and rules
//! (which events go to which channels, at once or as a digest), the events themselves as read off
//! the audit chain, and the per-certificate watch that turns a change of health or a crossed
//! expiry threshold into an audited event.
//! Invariant: every notification comes from one audit entry (or one digest window of them), so a
//! delivery is identified by (rule, channel, entry) and is queued at most once.

use serde::{Deserialize, Serialize};

use crate::ids::{CertificateId, ChannelId, ProjectId, RuleId, UserId};
use crate::model::{AuditEvent, CertificateHealth, SealedSecret};
use crate::timestamp::Timestamp;

/// At most this many rules and channels in a project, channels in a rule, and e-mail recipients.
pub const MAX_RULES: usize = 100;
pub const MAX_CHANNELS: usize = 50;
pub const MAX_RULE_CHANNELS: usize = 10;
pub const MAX_RECIPIENTS: usize = 20;
/// Digest periods, in minutes.
pub const DIGEST_MINUTES: std::ops::RangeInclusive<u32> = 1..=10_080;

/// How loud a message is, quietest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// How the connection to an SMTP relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587); refused if the relay does not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all (a relay on this host); credentials are never sent over it.
    None,
}

/// A channel's settings, without its secret. The secret is, by type: the SMTP password
/// (optional), the webhook's signing key, the incoming-webhook URL of Slack, Teams, Discord and
/// Mattermost (whoever has it can post), the ntfy access token (optional), the Telegram bot token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelSettings {
    Email {
        host: String,
        port: u16,
        security: SmtpSecurity,
        #[serde(default)]
        username: Option<String>,
        from: String,
        to: Vec<String>,
        /// Extra PEM roots to trust for the relay (a private CA).
        #[serde(default)]
        trusted_roots_pem: Option<String>,
    },
    Webhook {
        url: String,
        #[serde(default)]
        trusted_roots_pem: Option<String>,
    },
    Slack {},
    Teams {},
    Discord {},
    Mattermost {},
    Ntfy {
        server_url: String,
        topic: String,
    },
    Telegram {
        chat_id: String,
        /// The Bot API's address; `https://api.telegram.org` when absent.
        #[serde(default)]
        api_base_url: Option<String>,
    },
}

/// Whether a kind's secret must be given, may be, or (for e-mail) depends on a username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretNeed {
    Required,
    Optional,
}

impl ChannelSettings {
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Email { .. } => "email",
            ChannelSettings::Webhook { .. } => "webhook",
            ChannelSettings::Slack {} => "slack",
            ChannelSettings::Teams {} => "teams",
            ChannelSettings::Discord {} => "discord",
            ChannelSettings::Mattermost {} => "mattermost",
            ChannelSettings::Ntfy { .. } => "ntfy",
            ChannelSettings::Telegram { .. } => "telegram",
        }
    }

    /// What the secret is, in words, for errors and forms.
    pub fn secret_name(&self) -> &'static str {
        match self {
            ChannelSettings::Email { .. } => "the SMTP password",
            ChannelSettings::Webhook { .. } => "the signing secret",
            ChannelSettings::Slack {}
            | ChannelSettings::Teams {}
            | ChannelSettings::Discord {}
            | ChannelSettings::Mattermost {} => "the incoming-webhook URL",
            ChannelSettings::Ntfy { .. } => "the access token",
            ChannelSettings::Telegram { .. } => "the bot token",
        }
    }

    pub fn secret_need(&self) -> SecretNeed {
        match self {
            ChannelSettings::Email { username: Some(_), .. } => SecretNeed::Required,
            ChannelSettings::Email { .. } | ChannelSettings::Ntfy { .. } => SecretNeed::Optional,
            _ => SecretNeed::Required,
        }
    }

    /// Where the secret goes: changing it needs the secret given again, so a stored secret is never
    /// sent somewhere new by someone who does not know it.
    /// Which roots are trusted for TLS counts too: it decides who can pose as the destination.
    pub fn secret_destination(&self) -> Option<String> {
        match self {
            ChannelSettings::Email { host, port, security, trusted_roots_pem, .. } => {
                Some(format!("{host}:{port}:{security:?}:{}", trusted_roots_pem.as_deref().unwrap_or_default()))
            }
            ChannelSettings::Webhook { url, trusted_roots_pem } => {
                Some(format!("{url} {}", trusted_roots_pem.as_deref().unwrap_or_default()))
            }
            ChannelSettings::Ntfy { server_url, .. } => Some(server_url.clone()),
            ChannelSettings::Telegram { api_base_url, .. } => api_base_url.clone(),
            _ => None,
        }
    }
}

/// One place notifications go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationChannel {
    pub id: ChannelId,
    pub project_id: ProjectId,
    /// Unique in the project.
    pub name: String,
    pub settings: ChannelSettings,
    /// Sealed apart; never shown.
    pub secret: Option<SealedSecret>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// What a rule listens for. Stored and shown by name (`health.overdue`, `cert.issued`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// The certificate's health became this one.
    Health(CertificateHealth),
    /// Less than the rule's expiry threshold is left.
    Expiring,
    ApprovalRequested,
    Issued,
    Renewed,
    DistributionFailed,
    DriftDetected,
    Revoked,
    AuditChainBroken,
    KekRotated,
}

/// The audit actions that are events by themselves (health and expiry have their own).
const ACTION_EVENTS: [(&str, EventKind); 8] = [
    ("approval.requested", EventKind::ApprovalRequested),
    ("cert.issued", EventKind::Issued),
    ("cert.renewed", EventKind::Renewed),
    ("cert.distribution_failed", EventKind::DistributionFailed),
    ("cert.drift_detected", EventKind::DriftDetected),
    ("cert.revoked", EventKind::Revoked),
    ("audit.chain_broken", EventKind::AuditChainBroken),
    ("kek.rotated", EventKind::KekRotated),
];

/// The audit action of a change of health, written by the watch.
pub const HEALTH_CHANGED: &str = "cert.health_changed";
/// The audit action of a crossed expiry threshold, written by the watch (one per rule).
pub const EXPIRING: &str = "cert.expiring";

impl EventKind {
    /// Every kind, in the order forms list them.
    pub fn all() -> Vec<EventKind> {
        let mut all: Vec<EventKind> = CertificateHealth::ALL.into_iter().map(EventKind::Health).collect();
        all.push(EventKind::Expiring);
        all.extend(ACTION_EVENTS.iter().map(|(_, kind)| *kind));
        all
    }

    pub fn name(self) -> String {
        match self {
            EventKind::Health(h) => format!("health.{}", h.as_str()),
            EventKind::Expiring => "cert.expiring".into(),
            other => ACTION_EVENTS.iter().find(|(_, k)| *k == other).map(|(a, _)| (*a).to_owned()).unwrap_or_default(),
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        if let Some(health) = text.strip_prefix("health.") {
            return CertificateHealth::parse(health).map(EventKind::Health);
        }
        if text == EXPIRING {
            return Some(EventKind::Expiring);
        }
        ACTION_EVENTS.iter().find(|(a, _)| *a == text).map(|(_, k)| *k)
    }

    /// The event an audit entry is, if any.
    pub fn of_entry(entry: &AuditEvent) -> Option<EventKind> {
        let health = || entry.details.get("to").and_then(|v| v.as_str()).and_then(CertificateHealth::parse);
        let retried = entry.details.get("will_retry") == Some(&serde_json::Value::Bool(true));
        match entry.action.as_str() {
            HEALTH_CHANGED => health().map(EventKind::Health),
            EXPIRING => Some(EventKind::Expiring),
            // A failed deployment that will be retried is none yet: only its last attempt is told.
            "cert.distribution_failed" if retried => None,
            action => ACTION_EVENTS.iter().find(|(a, _)| *a == action).map(|(_, k)| *k),
        }
    }

    /// Events about the whole organization reach the rules of every project.
    pub fn is_organization_wide(self) -> bool {
        matches!(self, EventKind::AuditChainBroken | EventKind::KekRotated)
    }

    pub fn severity(self) -> Severity {
        use CertificateHealth as H;
        match self {
            EventKind::Health(H::Expired | H::Overdue | H::Revoked) | EventKind::AuditChainBroken => Severity::Critical,
            EventKind::Health(H::RenewalFailing | H::Drifted)
            | EventKind::Expiring
            | EventKind::DistributionFailed
            | EventKind::DriftDetected
            | EventKind::Revoked
            | EventKind::ApprovalRequested => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        EventKind::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown event {text:?}")))
    }
}

/// When a certificate counts as expiring for a rule: a fixed time before `not_after`, or a share of
/// its lifetime (so a six-day certificate warns hours ahead, a year-long one weeks ahead).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ExpiryThreshold {
    Days {
        days: u32,
    },
    Hours {
        hours: u32,
    },
    /// Of the lifetime (`not_after − not_before`), strictly between 0 and 1.
    Fraction {
        fraction: f64,
    },
}

impl Eq for ExpiryThreshold {}

impl ExpiryThreshold {
    /// The instant the certificate starts to count as expiring.
    pub fn warn_at(self, not_before: Option<Timestamp>, not_after: Timestamp) -> Timestamp {
        let end = not_after.as_unix_millis();
        let ahead = match self {
            ExpiryThreshold::Days { days } => i64::from(days) * 86_400_000,
            ExpiryThreshold::Hours { hours } => i64::from(hours) * 3_600_000,
            ExpiryThreshold::Fraction { fraction } => {
                let life = not_before.map(|nb| end.saturating_sub(nb.as_unix_millis()).max(0)).unwrap_or(0);
                (life as f64 * fraction) as i64
            }
        };
        Timestamp::from_unix_millis(end.saturating_sub(ahead))
    }

    pub fn describe(self) -> String {
        match self {
            ExpiryThreshold::Days { days } => format!("{days} days"),
            ExpiryThreshold::Hours { hours } => format!("{hours} hours"),
            ExpiryThreshold::Fraction { fraction } => format!("{:.0}% of its lifetime", fraction * 100.0),
        }
    }
}

/// One rule: events of the project (and of the organization) to its channels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRule {
    pub id: RuleId,
    pub project_id: ProjectId,
    /// Unique in the project.
    pub name: String,
    pub enabled: bool,
    pub events: Vec<EventKind>,
    pub channel_ids: Vec<ChannelId>,
    /// Required with the `cert.expiring` event, refused without it.
    #[serde(default)]
    pub expiry: Option<ExpiryThreshold>,
    /// Send one message per this many minutes listing the period's events, instead of one each.
    #[serde(default)]
    pub digest_minutes: Option<u32>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

/// Why a rule or channel cannot be kept, with the field it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct NotificationError {
    pub field: &'static str,
    pub reason: String,
}

fn refuse<T>(field: &'static str, reason: impl Into<String>) -> Result<T, NotificationError> {
    Err(NotificationError { field, reason: reason.into() })
}

impl NotificationRule {
    /// Checks the bounds; that the channels exist in the project is the caller's to check.
    pub fn validate(&self) -> Result<(), NotificationError> {
        check_name(&self.name)?;
        if self.events.is_empty() {
            return refuse("events", "name at least one event");
        }
        if self.channel_ids.is_empty() || self.channel_ids.len() > MAX_RULE_CHANNELS {
            return refuse("channel_ids", "name 1 to 10 channels");
        }
        let wants_expiry = self.events.contains(&EventKind::Expiring);
        match (wants_expiry, self.expiry) {
            (true, None) => return refuse("expiry", "the cert.expiring event needs a threshold"),
            (false, Some(_)) => return refuse("expiry", "a threshold needs the cert.expiring event"),
            (true, Some(t)) => check_threshold(t)?,
            (false, None) => {}
        }
        if let Some(minutes) = self.digest_minutes
            && !DIGEST_MINUTES.contains(&minutes)
        {
            return refuse("digest_minutes", "must be 1 to 10080 (a week)");
        }
        Ok(())
    }

    /// Whether `entry` (an event of kind `kind`) is one this rule sends: never one from before the
    /// rule existed.
    pub fn wants(&self, entry: &AuditEvent, kind: EventKind) -> bool {
        if !self.enabled || !self.events.contains(&kind) || entry.at < self.created_at {
            return false;
        }
        let here =
            entry.project_id == Some(self.project_id) || (kind.is_organization_wide() && entry.project_id.is_none());
        // A crossed threshold is written once per rule: only that rule sends it.
        let mine = kind != EventKind::Expiring
            || entry.details.get("rule_id").and_then(|v| v.as_str()) == Some(self.id.to_string().as_str());
        here && mine
    }

    /// The health changes and expiry thresholds this rule needs the watch for.
    pub fn watches(&self) -> bool {
        self.enabled && self.events.iter().any(|e| matches!(e, EventKind::Health(_) | EventKind::Expiring))
    }
}

/// The actions that change a rule, each recording its fields (`updated`: under `after`).
pub const RULE_CREATED: &str = "notification_rule.created";
pub const RULE_UPDATED: &str = "notification_rule.updated";
pub const RULE_DELETED: &str = "notification_rule.deleted";

/// A rule as its audit entry leaves it.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleChange {
    Set(Box<NotificationRule>),
    Deleted(RuleId),
}

/// The fields a rule's entries record (`NotificationRule::fields`).
#[derive(Serialize, Deserialize)]
struct RuleFields {
    name: String,
    enabled: bool,
    events: Vec<EventKind>,
    channel_ids: Vec<ChannelId>,
    #[serde(default)]
    expiry: Option<ExpiryThreshold>,
    #[serde(default)]
    digest_minutes: Option<u32>,
}

impl NotificationRule {
    /// What a rule's audit entries record of it: everything that decides what it sends.
    pub fn fields(&self) -> serde_json::Value {
        let fields = RuleFields {
            name: self.name.clone(),
            enabled: self.enabled,
            events: self.events.clone(),
            channel_ids: self.channel_ids.clone(),
            expiry: self.expiry,
            digest_minutes: self.digest_minutes,
        };
        serde_json::to_value(fields).unwrap_or_default()
    }

    /// The rule as `entry` (one of its `notification_rule.*` entries) leaves it, after `previous`:
    /// so a reader of the chain applies each change where it happened.
    pub fn change_of(entry: &AuditEvent, previous: Option<&NotificationRule>) -> Option<RuleChange> {
        let id: RuleId = entry.object.as_ref()?.id.parse().ok()?;
        let project_id = entry.project_id?;
        let recorded = match entry.action.as_str() {
            RULE_CREATED => &entry.details,
            RULE_UPDATED => entry.details.get("after")?,
            RULE_DELETED => return Some(RuleChange::Deleted(id)),
            _ => return None,
        };
        let f: RuleFields = serde_json::from_value(recorded.clone()).ok()?;
        let created_by = match (previous, &entry.actor) {
            (Some(p), _) => p.created_by,
            (None, crate::scope::Principal::User(user)) => *user,
            (None, _) => UserId::default(),
        };
        Some(RuleChange::Set(Box::new(NotificationRule {
            id,
            project_id,
            name: f.name,
            enabled: f.enabled,
            events: f.events,
            channel_ids: f.channel_ids,
            expiry: f.expiry,
            digest_minutes: f.digest_minutes,
            created_by,
            created_at: previous.map_or(entry.at, |p| p.created_at.min(entry.at)),
            updated_at: entry.at,
            version: previous.map_or(1, |p| p.version + 1),
        })))
    }
}

fn check_threshold(t: ExpiryThreshold) -> Result<(), NotificationError> {
    let ok = match t {
        ExpiryThreshold::Days { days } => (1..=365).contains(&days),
        ExpiryThreshold::Hours { hours } => (1..=24 * 365).contains(&hours),
        ExpiryThreshold::Fraction { fraction } => fraction.is_finite() && fraction > 0.0 && fraction < 1.0,
    };
    if ok { Ok(()) } else { refuse("expiry", "days 1 to 365, hours 1 to 8760, or a fraction between 0 and 1") }
}

/// A channel's or rule's name: 1 to 64 printable characters.
pub fn check_name(name: &str) -> Result<(), NotificationError> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return refuse("name", "1 to 64 characters, no control characters");
    }
    Ok(())
}

/// What the watch last announced of one certificate: its health, and the expiry thresholds already
/// crossed (per rule, for the certificate it then had).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateWatch {
    /// The certificate's id: one watch per certificate.
    pub id: CertificateId,
    pub project_id: ProjectId,
    pub health: CertificateHealth,
    pub since: Timestamp,
    /// Rules whose threshold was crossed, with the `not_after` it was crossed for: a renewed
    /// certificate (a new `not_after`) can cross it again.
    #[serde(default)]
    pub warned: Vec<(RuleId, i64)>,
    /// The certificate's record version this watch last decided on: an older read never overrides.
    #[serde(default)]
    pub cert_version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub version: u64,
}

#[cfg(test)]
#[path = "notification_test.rs"]
mod tests;
