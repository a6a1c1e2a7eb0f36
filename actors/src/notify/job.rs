//! The `notify` job: one rule's message for one audit entry (or one digest period) sent to one
//! channel, the channel's secret opened only for the send. Retries, backoff and `dead` with its
//! reason are the job queue's; a rule or channel deleted meanwhile ends the job without a send.
//! Invariant: a delivery carries its job's id, unchanged across attempts, so a receiver can drop
//! the repeat a crash between send and completion may cause.

use async_trait::async_trait;
use certautopilot_connectors::notify::{self, Channel, EmailChannel, Message, SendError, SendOptions};
use certautopilot_core::crypto::Envelope;
use certautopilot_core::ids::CertificateId;
use certautopilot_core::jobs::{JobSpec, NotifyDelivery};
use certautopilot_core::model::{
    AuditEvent, Certificate, ChannelSettings, EventKind, Job, JobKind, NotificationChannel, NotificationRule, Project,
};
use certautopilot_core::store::RecordStore;
use certautopilot_core::{OrgScope, ProjectScope, StoreError, Timestamp};

use super::render::{DIGEST_LINES, Names, digest_message, event_message};
use super::{NotifySettings, digest_cursor};
use crate::issuance::IssuanceDeps;
use crate::job_pump::{JobContext, JobError, JobHandler};

/// The Bot API's address when a Telegram channel names none.
pub const TELEGRAM_API: &str = "https://api.telegram.org";
/// Entries a digest reads at most per job (the rest wait for the next period's digest).
const DIGEST_SCAN: usize = 5_000;

/// Runs `notify` jobs.
pub struct NotifyJobs {
    pub deps: IssuanceDeps,
    pub settings: NotifySettings,
}

/// The channel as the connectors send to it, its secret opened.
pub fn wire_channel(envelope: &Envelope, channel: &NotificationChannel) -> Result<Channel, String> {
    let secret = match &channel.secret {
        Some(sealed) => Some(
            envelope
                .open(&channel.id.to_string(), "secret", sealed)
                .map_err(|e| format!("the channel's secret cannot be opened: {e}"))?,
        ),
        None => None,
    };
    let needed = |what: &str| format!("the channel has no {what}: set it again");
    Ok(match &channel.settings {
        ChannelSettings::Email { host, port, security, username, from, to, trusted_roots_pem } => {
            Channel::Email(EmailChannel {
                host: host.clone(),
                port: *port,
                security: *security,
                username: username.clone(),
                password: secret,
                from: from.clone(),
                to: to.clone(),
                trusted_roots_pem: trusted_roots_pem.clone(),
            })
        }
        ChannelSettings::Webhook { url, trusted_roots_pem } => Channel::Webhook {
            url: url.clone(),
            secret: secret.ok_or_else(|| needed("signing secret"))?,
            trusted_roots_pem: trusted_roots_pem.clone(),
        },
        ChannelSettings::Slack {} => Channel::Slack { url: secret.ok_or_else(|| needed("webhook URL"))? },
        ChannelSettings::Teams {} => Channel::Teams { url: secret.ok_or_else(|| needed("webhook URL"))? },
        ChannelSettings::Discord {} => Channel::Discord { url: secret.ok_or_else(|| needed("webhook URL"))? },
        ChannelSettings::Mattermost {} => Channel::Mattermost { url: secret.ok_or_else(|| needed("webhook URL"))? },
        ChannelSettings::Ntfy { server_url, topic } => {
            Channel::Ntfy { server: server_url.clone(), topic: topic.clone(), token: secret }
        }
        ChannelSettings::Telegram { chat_id, api_base_url } => Channel::Telegram {
            api_base: api_base_url.clone().unwrap_or_else(|| TELEGRAM_API.to_owned()),
            chat_id: chat_id.clone(),
            bot_token: secret.ok_or_else(|| needed("bot token"))?,
        },
    })
}

/// Sends `message` to `channel` once (a job's attempt, or a channel's test).
pub async fn send_once(
    envelope: &Envelope,
    options: &SendOptions,
    channel: &NotificationChannel,
    message: &Message,
) -> Result<String, SendError> {
    let wire = wire_channel(envelope, channel).map_err(SendError::Permanent)?;
    notify::send(&wire, message, options).await
}

#[async_trait]
impl JobHandler for NotifyJobs {
    fn kind(&self) -> JobKind {
        JobKind::Notify
    }

    async fn run(&self, job: &Job, _ctx: JobContext) -> Result<String, JobError> {
        let (Ok(JobSpec::Notify { rule_id, channel_id, delivery }), Some(project_id)) =
            (JobSpec::decode(job), job.project_id)
        else {
            return Err(JobError::permanent("the job names no rule, channel or project"));
        };
        let deps = &self.deps;
        let org = deps.org().await.map_err(|e| JobError::retryable(e.to_string()))?;
        let org_scope = OrgScope::for_system("notifications", &org.org);
        let project: Project = match deps.store.get(&org_scope, &project_id).await {
            Ok(project) => project,
            Err(StoreError::NotFound { .. }) => return Ok("the project was deleted; nothing sent".into()),
            Err(e) => return Err(e.into()),
        };
        let scope = ProjectScope::for_system("notifications", &project);
        let rule: NotificationRule = match deps.store.get(&scope, &rule_id).await {
            Ok(rule) => rule,
            Err(StoreError::NotFound { .. }) => return Ok("the rule was deleted; nothing sent".into()),
            Err(e) => return Err(e.into()),
        };
        if !rule.channel_ids.contains(&channel_id) {
            return Ok("the rule no longer sends to this channel; nothing sent".into());
        }
        let channel: NotificationChannel = match deps.store.get(&scope, &channel_id).await {
            Ok(channel) => channel,
            Err(StoreError::NotFound { .. }) => return Ok("the channel was deleted; nothing sent".into()),
            Err(e) => return Err(e.into()),
        };
        let delivery_id = job.id.to_string();
        let (message, digest_to) = match delivery {
            NotifyDelivery::Event { seq } => {
                let entry = self.entry(&org_scope, seq).await?;
                let Some(kind) = EventKind::of_entry(&entry) else {
                    return Err(JobError::permanent(format!("audit entry {seq} is no notifiable event")));
                };
                // Disabled, or changed to want other events, since it was queued: nothing to send.
                if !rule.wants(&entry, kind) {
                    return Ok("the rule no longer sends this event; nothing sent".into());
                }
                let names = self.names(&scope, std::slice::from_ref(&entry)).await?;
                (event_message(delivery_id, &entry, kind, &project, &rule, &names), None)
            }
            NotifyDelivery::Digest { window, minutes } => {
                let end = NotifyDelivery::digest_end(window, minutes);
                let cursor_name = digest_cursor(rule.id, channel.id);
                let from = deps.store.siem_cursor(&cursor_name, org.org.id).await?;
                let (entries, more, last, capped) = self.digest_entries(&org_scope, &rule, from, end).await?;
                if capped {
                    // What the scan left is picked up by the next period's digest, queued now.
                    let delivery = NotifyDelivery::digest_at(Timestamp::now(), minutes);
                    let mut follow =
                        JobSpec::Notify { rule_id, channel_id, delivery }.into_job(&scope, job.max_attempts);
                    if let NotifyDelivery::Digest { window, minutes } = delivery {
                        follow.delay = NotifyDelivery::digest_end(window, minutes).duration_since(Timestamp::now());
                    }
                    deps.store.enqueue_job(follow).await?;
                }
                if entries.is_empty() {
                    if last > from {
                        deps.store.advance_siem_cursor(&cursor_name, org.org.id, last).await?;
                    }
                    return Ok("no events in this period; nothing sent".into());
                }
                let listed: Vec<AuditEvent> = entries.iter().map(|(e, _)| e.clone()).collect();
                let names = self.names(&scope, &listed).await?;
                let message = digest_message(delivery_id, &entries, more, &project, &rule, minutes, &names);
                (message, Some((cursor_name, last)))
            }
        };
        let options = SendOptions { egress: deps.settings.egress.clone(), timeout: self.settings.send_timeout };
        let summary = send_once(&deps.envelope, &options, &channel, &message).await.map_err(|e| match e {
            SendError::Transient { .. } => JobError::retryable(format!("channel {}: {e}", channel.name)),
            SendError::Permanent(_) => JobError::permanent(format!("channel {}: {e}", channel.name)),
        })?;
        if let Some((cursor_name, last)) = digest_to {
            deps.store.advance_siem_cursor(&cursor_name, org.org.id, last).await?;
        }
        Ok(format!("{} to {} ({}): {summary}", message.event, channel.name, channel.settings.kind()))
    }
}

impl NotifyJobs {
    /// The names of the project's certificates `entries` are about (deleted ones are left out).
    async fn names(&self, scope: &ProjectScope, entries: &[AuditEvent]) -> Result<Names, JobError> {
        let ids: Vec<CertificateId> = entries
            .iter()
            .filter_map(|e| e.object.as_ref().filter(|o| o.kind == "certificate").and_then(|o| o.id.parse().ok()))
            .collect();
        if ids.is_empty() {
            return Ok(Names::new());
        }
        let certs: Vec<Certificate> = self.deps.store.get_many(scope, &ids).await?;
        Ok(certs.into_iter().map(|c| (c.id.to_string(), c.common_name)).collect())
    }

    async fn entry(&self, scope: &OrgScope, seq: u64) -> Result<AuditEvent, JobError> {
        let found = self.deps.store.list_audit_events(scope, seq.saturating_sub(1), 1).await?;
        found
            .into_iter()
            .find(|e| e.seq == seq)
            .ok_or_else(|| JobError::permanent(format!("audit entry {seq} is not in the chain")))
    }

    /// The rule's events after `from` that happened before `end`: the first `DIGEST_LINES` with their
    /// kind, how many more, the last `seq` read (the digest's cursor moves there once sent), and
    /// whether the scan stopped at `DIGEST_SCAN` with entries left. Reading stops at the first entry
    /// at or after `end`, which belongs to a later digest.
    async fn digest_entries(
        &self,
        scope: &OrgScope,
        rule: &NotificationRule,
        from: u64,
        end: Timestamp,
    ) -> Result<(Vec<(AuditEvent, EventKind)>, usize, u64, bool), JobError> {
        let (mut listed, mut more, mut last, mut read) = (Vec::new(), 0, from, 0);
        let mut capped = false;
        // A rule's first digest starts where the rule did, not at the start of the chain.
        let start = if from == 0 { Some(rule.created_at) } else { None };
        'pages: loop {
            let page = match start.filter(|_| last == 0) {
                Some(since) => {
                    let filter = certautopilot_core::store::AuditFilter { from: Some(since), ..Default::default() };
                    self.deps.store.search_audit_events(scope, &filter, 0, 500).await?
                }
                None => self.deps.store.list_audit_events(scope, last, 500).await?,
            };
            if page.is_empty() {
                break;
            }
            for entry in page {
                if entry.at >= end {
                    break 'pages;
                }
                if read >= DIGEST_SCAN {
                    capped = true;
                    break 'pages;
                }
                read += 1;
                last = entry.seq;
                if let Some(kind) = EventKind::of_entry(&entry)
                    && rule.wants(&entry, kind)
                {
                    if listed.len() < DIGEST_LINES {
                        listed.push((entry, kind));
                    } else {
                        more += 1;
                    }
                }
            }
        }
        Ok((listed, more, last, capped))
    }
}
