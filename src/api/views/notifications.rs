//! Views of notification channels and rules. Invariant: a channel's secret is write-only: a view
//! shows its settings and `has_secret`, never the secret (for chat services, the webhook URL).

use certautopilot_core::Timestamp;
use certautopilot_core::ids::*;
use certautopilot_core::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    /// `{"type": "email"|"webhook"|"slack"|"teams"|"discord"|"mattermost"|"ntfy"|"telegram", …}`.
    #[schema(schema_with = crate::api::schema::channel_settings)]
    pub settings: ChannelSettings,
    /// The SMTP password, the webhook's signing secret, the incoming-webhook URL (Slack, Teams,
    /// Discord, Mattermost), the ntfy token or the Telegram bot token. Never shown again.
    pub secret: Option<String>,
}

/// A channel's new name, settings and/or secret; a secret left out is kept, unless the settings
/// send it somewhere new.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    pub name: Option<String>,
    #[schema(schema_with = crate::api::schema::channel_settings_optional)]
    pub settings: Option<ChannelSettings>,
    pub secret: Option<String>,
    pub version: u64,
}

/// The secret never reaches a debug line.
impl std::fmt::Debug for CreateChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateChannel")
            .field("project_id", &self.project_id)
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("secret", &self.secret.as_ref().map(|_| "[given]"))
            .finish()
    }
}

impl std::fmt::Debug for UpdateChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateChannel")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("secret", &self.secret.as_ref().map(|_| "[given]"))
            .field("version", &self.version)
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    #[schema(value_type = String, format = "uuid")]
    pub id: ChannelId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(schema_with = crate::api::schema::channel_settings)]
    pub settings: ChannelSettings,
    pub has_secret: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl From<NotificationChannel> for ChannelView {
    fn from(c: NotificationChannel) -> Self {
        ChannelView {
            id: c.id,
            project_id: c.project_id,
            name: c.name,
            kind: c.settings.kind().to_owned(),
            settings: c.settings,
            has_secret: c.secret.is_some(),
            created_at: c.created_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

page_type!(ChannelPage, ChannelView);

/// What a channel's test did: sent, or why not (a classified reason, never the service's answer).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelTested {
    pub ok: bool,
    pub summary: Option<String>,
    pub error: Option<String>,
    /// The failure would be retried (the service was down or rate-limiting), not a setting to fix.
    pub transient: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRule {
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Event names: `health.<health>`, `cert.expiring`, `approval.requested`, `cert.issued`,
    /// `cert.renewed`, `cert.distribution_failed`, `cert.drift_detected`, `cert.revoked`,
    /// `audit.chain_broken`, `kek.rotated`.
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventKind>,
    #[schema(value_type = Vec<String>)]
    pub channel_ids: Vec<ChannelId>,
    /// With `cert.expiring`: `{"kind":"days","days":7}`, `{"kind":"hours","hours":12}` or
    /// `{"kind":"fraction","fraction":0.2}` (of the certificate's lifetime).
    #[schema(value_type = Option<Object>)]
    pub expiry: Option<ExpiryThreshold>,
    /// One message per this many minutes (1 to 10080) listing the events, instead of one each.
    #[schema(schema_with = crate::api::schema::digest_minutes)]
    pub digest_minutes: Option<u32>,
}

fn enabled() -> bool {
    true
}

/// A rule's new fields; absent ones are kept (`expiry` and `digest_minutes` are cleared with null).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRule {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    #[schema(value_type = Option<Vec<String>>)]
    pub events: Option<Vec<EventKind>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub channel_ids: Option<Vec<ChannelId>>,
    #[serde(default, deserialize_with = "crate::api::views::edits::explicit")]
    #[schema(value_type = Option<Object>)]
    pub expiry: Option<Option<ExpiryThreshold>>,
    #[serde(default, deserialize_with = "crate::api::views::edits::explicit")]
    #[schema(schema_with = crate::api::schema::digest_minutes)]
    pub digest_minutes: Option<Option<u32>>,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleView {
    #[schema(value_type = String, format = "uuid")]
    pub id: RuleId,
    #[schema(value_type = String, format = "uuid")]
    pub project_id: ProjectId,
    pub name: String,
    pub enabled: bool,
    #[schema(value_type = Vec<String>)]
    pub events: Vec<EventKind>,
    #[schema(value_type = Vec<String>)]
    pub channel_ids: Vec<ChannelId>,
    #[schema(value_type = Option<Object>)]
    pub expiry: Option<ExpiryThreshold>,
    pub digest_minutes: Option<u32>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: u64,
}

impl From<NotificationRule> for RuleView {
    fn from(r: NotificationRule) -> Self {
        RuleView {
            id: r.id,
            project_id: r.project_id,
            name: r.name,
            enabled: r.enabled,
            events: r.events,
            channel_ids: r.channel_ids,
            expiry: r.expiry,
            digest_minutes: r.digest_minutes,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

page_type!(RulePage, RuleView);
