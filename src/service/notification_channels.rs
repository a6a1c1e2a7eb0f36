//! Notification channels (M2.8): where a project's notifications go. Settings are typed
//! (`ChannelSettings`) and checked before anything is stored; the secret (an SMTP password, a
//! signing key, a chat service's webhook URL, a bot token) is sealed apart and never returned.
//! Invariant: a kept secret never follows a channel to a new destination; a channel a rule sends
//! to is not deleted; a test sends one message now and says only the classified outcome.

use certautopilot_actors::notify::send_once;
use certautopilot_connectors::notify::{Message, Severity};
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::ids::{ChannelId, ProjectId};
use certautopilot_core::model::{MAX_CHANNELS, NotificationChannel, NotificationRule, check_name};
use certautopilot_core::store::{PageRequest, RecordKind, RecordStore};
use serde_json::json;

use crate::api::views::{ChannelPage, ChannelTested, ChannelView, CreateChannel, UpdateChannel};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::records;

const WHAT: &str = "notification channel";

pub(crate) fn refused(e: certautopilot_core::model::NotificationError) -> ApiError {
    ApiError::invalid(e.field, e.reason)
}

pub async fn list(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<ChannelPage, ApiError> {
    Ok(records::list::<NotificationChannel, ChannelView>(auth, project, page).await?.into())
}

pub async fn get(auth: &Authorized, id: ChannelId) -> Result<ChannelView, ApiError> {
    let (_, channel): (_, NotificationChannel) = records::addressed(auth, &id, WHAT).await?;
    Ok(channel.into())
}

fn seal(
    auth: &Authorized,
    channel: &NotificationChannel,
    secret: &str,
) -> Result<certautopilot_core::model::SealedSecret, ApiError> {
    Ok(auth.state().envelope.seal(&channel.id.to_string(), "secret", &SecretBytes::from_text(secret))?)
}

/// Creates a channel (admin); at most `MAX_CHANNELS` per project.
pub async fn create(auth: &Authorized, input: CreateChannel) -> Result<ChannelView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    check_name(&input.name).map_err(refused)?;
    input.settings.validate().map_err(refused)?;
    input.settings.check_secret(input.secret.as_deref(), false).map_err(refused)?;
    let store = state.store()?;
    let existing = store.list::<NotificationChannel>(&scope, &PageRequest::first(MAX_CHANNELS)).await?;
    if existing.items.len() >= MAX_CHANNELS {
        return Err(ApiError::invalid("project_id", format!("a project has at most {MAX_CHANNELS} channels")));
    }
    let now = state.now();
    let mut channel = NotificationChannel {
        id: ChannelId::new(),
        project_id: scope.project_id(),
        name: input.name.trim().to_owned(),
        settings: input.settings,
        secret: None,
        created_by: auth.caller()?.user.id,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    if let Some(secret) = &input.secret {
        channel.secret = Some(seal(auth, &channel, secret)?);
    }
    let details = json!({ "name": channel.name, "type": channel.settings.kind(), "settings": channel.settings });
    let audit = auth
        .audit(
            "notification_channel.created",
            Some(("notification_channel", channel.id.to_string())),
            Some(scope.project_id()),
            details,
        )
        .await?;
    store.insert_audited(&scope, &channel, audit).await?;
    Ok(channel.into())
}

/// Changes a channel's name, settings or secret (admin), version-checked. A secret left out is
/// kept, unless the new settings are of another type or send it somewhere else.
pub async fn update(auth: &Authorized, id: ChannelId, input: UpdateChannel) -> Result<ChannelView, ApiError> {
    let (scope, mut channel): (_, NotificationChannel) = records::addressed(auth, &id, WHAT).await?;
    records::at_version(WHAT, channel.version, input.version)?;
    if let Some(name) = &input.name {
        check_name(name).map_err(refused)?;
        channel.name = name.trim().to_owned();
    }
    let before = channel.settings.clone();
    if let Some(settings) = input.settings {
        settings.validate().map_err(refused)?;
        // Another type's secret, or a password once no username is left, is no secret of these
        // settings any more: it goes.
        let unusable = settings.kind() != channel.settings.kind()
            || matches!(settings, certautopilot_core::model::ChannelSettings::Email { username: None, .. });
        let moved = settings.secret_destination() != channel.settings.secret_destination();
        if moved && !unusable && channel.secret.is_some() && input.secret.is_none() {
            return Err(ApiError::invalid(
                "secret",
                "these settings send the stored secret somewhere new (another host, URL or trusted roots): give the secret again in the same request",
            ));
        }
        if unusable && input.secret.is_none() {
            channel.secret = None;
        }
        channel.settings = settings;
    }
    channel.settings.check_secret(input.secret.as_deref(), channel.secret.is_some()).map_err(refused)?;
    if let Some(secret) = &input.secret {
        channel.secret = Some(seal(auth, &channel, secret)?);
    }
    channel.updated_at = auth.state().now();
    let details = json!({ "name": channel.name, "type": channel.settings.kind(), "secret_changed": input.secret.is_some(),
        "before": before, "after": channel.settings });
    let audit = auth
        .audit(
            "notification_channel.updated",
            Some(("notification_channel", id.to_string())),
            Some(scope.project_id()),
            details,
        )
        .await?;
    let channel = auth.state().store()?.update_audited(&scope, &channel, audit).await?;
    Ok(channel.into())
}

/// Deletes a channel no rule sends to (admin).
pub async fn delete(auth: &Authorized, id: ChannelId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::NotificationChannel, &id.to_string(), WHAT).await?;
    records::ensure_unreferenced::<NotificationRule>(auth, &scope, WHAT, |r| r.channel_ids.contains(&id)).await?;
    records::delete_with_audit::<NotificationChannel>(
        auth,
        &scope,
        &id.to_string(),
        "notification_channel.deleted",
        "notification_channel",
    )
    .await
}

/// Sends a test message through the channel now (admin), audited with its outcome.
pub async fn test(auth: &Authorized, id: ChannelId) -> Result<ChannelTested, ApiError> {
    let (scope, channel): (_, NotificationChannel) = records::addressed(auth, &id, WHAT).await?;
    let state = auth.state();
    let caller = auth.caller()?;
    let message = Message {
        // Unique per test: a receiver dropping repeats must not drop the next test.
        delivery_id: format!("test-{}", ChannelId::new()),
        event: "test".into(),
        severity: Severity::Info,
        subject: format!("[CertAutoPilot] test of channel {}", channel.name),
        text: format!(
            "This is a test of the notification channel {} ({}), sent by {} at {}.\nIf you read this, notifications reach you here.\n",
            channel.name,
            channel.settings.kind(),
            caller.user.email,
            state.now().to_rfc3339()
        ),
        data: json!({ "event": "test", "channel": { "id": channel.id, "name": channel.name } }),
    };
    let outcome = send_once(&state.envelope, state.notify_send(), &channel, &message).await;
    let tested = match outcome {
        Ok(summary) => ChannelTested { ok: true, summary: Some(summary), error: None, transient: false },
        Err(e) => ChannelTested { ok: false, summary: None, transient: e.is_transient(), error: Some(e.to_string()) },
    };
    let details =
        json!({ "name": channel.name, "type": channel.settings.kind(), "ok": tested.ok, "error": tested.error });
    let audit = auth
        .audit(
            "notification_channel.tested",
            Some(("notification_channel", id.to_string())),
            Some(scope.project_id()),
            details,
        )
        .await?;
    state.store()?.append_audit(audit).await?;
    Ok(tested)
}
