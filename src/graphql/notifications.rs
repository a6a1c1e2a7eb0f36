//! Notifications in GraphQL: a project's channels and rules, one of each, and every write (create,
//! update, delete, a channel's test), each through the service layer (REST's views, policies and
//! decoding, field by field). Invariant: a channel's secret is an input only; nodes show
//! `hasSecret`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use certautopilot_core::ids::{ChannelId, RuleId};
use certautopilot_core::store::cursor_after;
use serde::Serialize;

use crate::api::views::{ChannelTested, ChannelView, RuleView};
use crate::graphql::cursor::{Binding, PageArgs, connection, list_cost, page_of};
use crate::graphql::errors::GqlResult;
use crate::graphql::mutations::decode;
use crate::graphql::scalars::{DateTime, Json, at};
use crate::graphql::{authorize, parse_id, parse_project, state};
use crate::service::{notification_channels as channels, notification_rules as rules};

const CHANNEL: &str = "notification channel";
const RULE: &str = "notification rule";

/// Where a project's notifications go (REST's `ChannelView`); the secret is never shown.
#[derive(SimpleObject)]
#[graphql(name = "NotificationChannel")]
pub struct ChannelNode {
    id: ID,
    project_id: ID,
    name: String,
    /// `email`, `webhook`, `slack`, `teams`, `discord`, `mattermost`, `ntfy` or `telegram`.
    r#type: String,
    /// The settings as REST shows them (`{"type": …, …}`).
    settings: Json,
    has_secret: bool,
    created_at: DateTime,
    updated_at: DateTime,
    version: u64,
}

impl From<ChannelView> for ChannelNode {
    fn from(v: ChannelView) -> Self {
        ChannelNode {
            id: ID(v.id.to_string()),
            project_id: ID(v.project_id.to_string()),
            name: v.name,
            r#type: v.kind,
            settings: async_graphql::Json(serde_json::to_value(&v.settings).unwrap_or_default()),
            has_secret: v.has_secret,
            created_at: at(v.created_at),
            updated_at: at(v.updated_at),
            version: v.version,
        }
    }
}

/// Which events of a project go to which channels (REST's `RuleView`).
#[derive(SimpleObject)]
#[graphql(name = "NotificationRule")]
pub struct RuleNode {
    id: ID,
    project_id: ID,
    name: String,
    enabled: bool,
    /// Event names (`health.overdue`, `cert.expiring`, `cert.issued`, …).
    events: Vec<String>,
    channel_ids: Vec<ID>,
    /// `{"kind": "days"|"hours"|"fraction", …}` with `cert.expiring`.
    expiry: Option<Json>,
    digest_minutes: Option<u32>,
    created_at: DateTime,
    updated_at: DateTime,
    version: u64,
}

impl From<RuleView> for RuleNode {
    fn from(v: RuleView) -> Self {
        RuleNode {
            id: ID(v.id.to_string()),
            project_id: ID(v.project_id.to_string()),
            name: v.name,
            enabled: v.enabled,
            events: v.events.iter().map(|e| e.name()).collect(),
            channel_ids: v.channel_ids.iter().map(|c| ID(c.to_string())).collect(),
            expiry: v.expiry.map(|e| async_graphql::Json(serde_json::to_value(e).unwrap_or_default())),
            digest_minutes: v.digest_minutes,
            created_at: at(v.created_at),
            updated_at: at(v.updated_at),
            version: v.version,
        }
    }
}

/// What a channel's test did (REST's `ChannelTested`).
#[derive(SimpleObject)]
pub struct ChannelTestPayload {
    ok: bool,
    summary: Option<String>,
    error: Option<String>,
    transient: bool,
}

impl From<ChannelTested> for ChannelTestPayload {
    fn from(t: ChannelTested) -> Self {
        ChannelTestPayload { ok: t.ok, summary: t.summary, error: t.error, transient: t.transient }
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn notification_channels(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, ChannelNode>> {
        let project = parse_project(&project_id)?;
        let binding = Binding::new("notificationChannels", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let page = channels::list(&authorize(ctx, "Query.notificationChannels")?, project, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |c| cursor_after(&c.id.to_string()), ChannelNode::from))
    }

    async fn notification_channel(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ChannelNode> {
        let id: ChannelId = parse_id(&id, CHANNEL)?;
        Ok(channels::get(&authorize(ctx, "Query.notificationChannel")?, id).await?.into())
    }

    #[graphql(complexity = "list_cost(first, child_complexity)")]
    async fn notification_rules(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, RuleNode>> {
        let project = parse_project(&project_id)?;
        let binding = Binding::new("notificationRules", project);
        let args = PageArgs::new(&binding, first, after, state(ctx)?.graphql.max_list_size)?;
        let page = rules::list(&authorize(ctx, "Query.notificationRules")?, project, args.request()).await?;
        let page = page_of(page.items, page.next_cursor);
        Ok(connection(&binding, &args, page, |r| cursor_after(&r.id.to_string()), RuleNode::from))
    }

    async fn notification_rule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<RuleNode> {
        let id: RuleId = parse_id(&id, RULE)?;
        Ok(rules::get(&authorize(ctx, "Query.notificationRule")?, id).await?.into())
    }
}

/// A channel's settings: `type` and the fields that type takes (REST's `settings`; a field another
/// type takes is refused).
#[derive(InputObject, Serialize)]
pub struct ChannelSettingsInput {
    r#type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    security: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trusted_roots_pem: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_base_url: Option<String>,
}

#[derive(InputObject, Serialize)]
pub struct CreateNotificationChannelInput {
    project_id: ID,
    name: String,
    settings: ChannelSettingsInput,
    /// Write-only: the SMTP password, signing secret, webhook URL or token.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

#[derive(InputObject, Serialize)]
pub struct UpdateNotificationChannelInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings: Option<ChannelSettingsInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    version: u64,
}

/// `kind` (`days`, `hours` or `fraction`) and its value.
#[derive(InputObject, Serialize)]
pub struct ExpiryThresholdInput {
    kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hours: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fraction: Option<f64>,
}

#[derive(InputObject, Serialize)]
pub struct CreateNotificationRuleInput {
    project_id: ID,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    events: Vec<String>,
    channel_ids: Vec<ID>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<ExpiryThresholdInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest_minutes: Option<u32>,
}

/// Fields left out keep their values; `clearExpiry` / `clearDigest` remove those settings.
#[derive(InputObject, Serialize)]
pub struct UpdateNotificationRuleInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel_ids: Option<Vec<ID>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry: Option<ExpiryThresholdInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest_minutes: Option<u32>,
    #[serde(skip)]
    #[graphql(default)]
    clear_expiry: bool,
    #[serde(skip)]
    #[graphql(default)]
    clear_digest: bool,
    version: u64,
}

/// The REST body of a rule update: the clears become nulls.
fn rule_update_body(input: &UpdateNotificationRuleInput) -> serde_json::Value {
    let mut body = serde_json::to_value(input).unwrap_or_default();
    if input.clear_expiry {
        body["expiry"] = serde_json::Value::Null;
    }
    if input.clear_digest {
        body["digest_minutes"] = serde_json::Value::Null;
    }
    body
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    async fn create_notification_channel(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationChannelInput,
    ) -> GqlResult<ChannelNode> {
        let auth = authorize(ctx, "Mutation.createNotificationChannel")?;
        Ok(channels::create(&auth, decode(&input)?).await?.into())
    }

    async fn update_notification_channel(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateNotificationChannelInput,
    ) -> GqlResult<ChannelNode> {
        let auth = authorize(ctx, "Mutation.updateNotificationChannel")?;
        Ok(channels::update(&auth, parse_id(&id, CHANNEL)?, decode(&input)?).await?.into())
    }

    /// Deletes a channel no rule sends to; answers its id.
    async fn delete_notification_channel(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        channels::delete(&authorize(ctx, "Mutation.deleteNotificationChannel")?, parse_id(&id, CHANNEL)?).await?;
        Ok(id)
    }

    /// Sends a test message through the channel now.
    async fn test_notification_channel(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ChannelTestPayload> {
        let auth = authorize(ctx, "Mutation.testNotificationChannel")?;
        Ok(channels::test(&auth, parse_id(&id, CHANNEL)?).await?.into())
    }

    async fn create_notification_rule(
        &self,
        ctx: &Context<'_>,
        input: CreateNotificationRuleInput,
    ) -> GqlResult<RuleNode> {
        let auth = authorize(ctx, "Mutation.createNotificationRule")?;
        Ok(rules::create(&auth, decode(&input)?).await?.into())
    }

    async fn update_notification_rule(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateNotificationRuleInput,
    ) -> GqlResult<RuleNode> {
        let auth = authorize(ctx, "Mutation.updateNotificationRule")?;
        Ok(rules::update(&auth, parse_id(&id, RULE)?, decode(&rule_update_body(&input))?).await?.into())
    }

    /// Deletes a rule; answers its id.
    async fn delete_notification_rule(&self, ctx: &Context<'_>, id: ID) -> GqlResult<ID> {
        rules::delete(&authorize(ctx, "Mutation.deleteNotificationRule")?, parse_id(&id, RULE)?).await?;
        Ok(id)
    }
}
