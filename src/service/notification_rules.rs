//! Notification rules (M2.8): which events of a project (health changes, a crossed expiry
//! threshold, approvals, issuance, renewal, failed deployments, drift, revocation, a broken audit
//! chain, a KEK rotation) go to which of its channels, one message each or as a digest.
//! Invariant: a rule names only its project's channels; every change is audited
//! (`notification_rule.*`), and the router applies it from that entry on, in chain order.

use certautopilot_core::ProjectScope;
use certautopilot_core::ids::{ProjectId, RuleId};
use certautopilot_core::model::{MAX_RULES, NotificationChannel, NotificationRule};
use certautopilot_core::store::{PageRequest, RecordKind, RecordStore};
use serde_json::json;

use crate::api::views::{CreateRule, RulePage, RuleView, UpdateRule};
use crate::service::authorized::Authorized;
use crate::service::error::ApiError;
use crate::service::notification_channels::refused;
use crate::service::records;

const WHAT: &str = "notification rule";

pub async fn list(auth: &Authorized, project: ProjectId, page: PageRequest) -> Result<RulePage, ApiError> {
    Ok(records::list::<NotificationRule, RuleView>(auth, project, page).await?.into())
}

pub async fn get(auth: &Authorized, id: RuleId) -> Result<RuleView, ApiError> {
    let (_, rule): (_, NotificationRule) = records::addressed(auth, &id, WHAT).await?;
    Ok(rule.into())
}

/// The rule's checks, and its channels must be the project's, each named once.
async fn check(auth: &Authorized, scope: &ProjectScope, rule: &mut NotificationRule) -> Result<(), ApiError> {
    rule.name = rule.name.trim().to_owned();
    rule.events.sort();
    rule.events.dedup();
    let before = rule.channel_ids.len();
    let mut seen = std::collections::HashSet::new();
    rule.channel_ids.retain(|c| seen.insert(*c));
    if rule.channel_ids.len() != before {
        return Err(ApiError::invalid("channel_ids", "names a channel twice"));
    }
    rule.validate().map_err(refused)?;
    let found = auth.state().store()?.get_many::<NotificationChannel>(scope, &rule.channel_ids).await?;
    if found.len() != rule.channel_ids.len() {
        return Err(ApiError::invalid("channel_ids", "names a channel that is not the project's"));
    }
    Ok(())
}

/// Creates a rule (admin); at most `MAX_RULES` per project.
pub async fn create(auth: &Authorized, input: CreateRule) -> Result<RuleView, ApiError> {
    let scope = auth.project_scope(input.project_id).await?;
    let state = auth.state();
    let now = state.now();
    let mut rule = NotificationRule {
        id: RuleId::new(),
        project_id: scope.project_id(),
        name: input.name,
        enabled: input.enabled,
        events: input.events,
        channel_ids: input.channel_ids,
        expiry: input.expiry,
        digest_minutes: input.digest_minutes,
        created_by: auth.caller()?.user.id,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    check(auth, &scope, &mut rule).await?;
    let store = state.store()?;
    let existing = store.list::<NotificationRule>(&scope, &PageRequest::first(MAX_RULES)).await?;
    if existing.items.len() >= MAX_RULES {
        return Err(ApiError::invalid("project_id", format!("a project has at most {MAX_RULES} rules")));
    }
    let object = Some(("notification_rule", rule.id.to_string()));
    let audit = auth.audit("notification_rule.created", object, Some(scope.project_id()), rule.fields()).await?;
    store.insert_audited(&scope, &rule, audit).await?;
    Ok(rule.into())
}

/// Changes a rule (admin), version-checked; the fields left out keep their values.
pub async fn update(auth: &Authorized, id: RuleId, input: UpdateRule) -> Result<RuleView, ApiError> {
    let (scope, mut rule): (_, NotificationRule) = records::addressed(auth, &id, WHAT).await?;
    records::at_version(WHAT, rule.version, input.version)?;
    let before = rule.fields();
    if let Some(name) = input.name {
        rule.name = name;
    }
    if let Some(enabled) = input.enabled {
        rule.enabled = enabled;
    }
    if let Some(events) = input.events {
        rule.events = events;
    }
    if let Some(channels) = input.channel_ids {
        rule.channel_ids = channels;
    }
    if let Some(expiry) = input.expiry {
        rule.expiry = expiry;
    }
    if let Some(digest) = input.digest_minutes {
        rule.digest_minutes = digest;
    }
    check(auth, &scope, &mut rule).await?;
    rule.updated_at = auth.state().now();
    let object = Some(("notification_rule", id.to_string()));
    let changes = json!({ "before": before, "after": rule.fields() });
    let audit = auth.audit("notification_rule.updated", object, Some(scope.project_id()), changes).await?;
    let rule = auth.state().store()?.update_audited(&scope, &rule, audit).await?;
    Ok(rule.into())
}

/// Deletes a rule (admin): its queued notifications end without sending.
pub async fn delete(auth: &Authorized, id: RuleId) -> Result<(), ApiError> {
    let scope = auth.scope_of_record(RecordKind::NotificationRule, &id.to_string(), WHAT).await?;
    records::delete_with_audit::<NotificationRule>(
        auth,
        &scope,
        &id.to_string(),
        "notification_rule.deleted",
        "notification_rule",
    )
    .await
}
