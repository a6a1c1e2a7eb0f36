//! Notification channels: one message sent to e-mail (SMTP), a signed webhook, or a chat service
//! (Slack, Microsoft Teams, Discord, Mattermost, ntfy, Telegram). Each send is one attempt; retrying
//! is the job queue's business. Invariant: an error names a classified reason (status, refusal,
//! timeout) and never the remote's answer body nor a secret (a webhook URL that is itself the
//! credential is never named in an error either).

mod chat;
mod smtp;

use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use serde::Serialize;

pub use chat::{DELIVERY_HEADER, EVENT_HEADER};
pub use smtp::SmtpSecurity;

use crate::egress::EgressPolicy;

/// How loud a message is; chat channels colour or prioritise by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One notification, rendered once and sent as each channel's format needs.
#[derive(Debug, Clone)]
pub struct Message {
    /// Stable for one (rule, event, channel): sent again unchanged when a send is retried, so a
    /// receiver can drop a repeat (webhook header `X-CertAutoPilot-Delivery`, e-mail `Message-ID`).
    pub delivery_id: String,
    /// The event kind (`health.overdue`, `cert.issued`, `digest`).
    pub event: String,
    pub severity: Severity,
    /// One line.
    pub subject: String,
    /// Plain text, possibly several lines.
    pub text: String,
    /// The structured event, sent as is by the webhook channel.
    pub data: serde_json::Value,
}

/// E-mail through an SMTP relay.
#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// Both or neither: AUTH PLAIN (or LOGIN) after TLS.
    pub username: Option<String>,
    pub password: Option<SecretBytes>,
    pub from: String,
    pub to: Vec<String>,
    /// Extra PEM roots to trust for the relay's certificate (a private CA, tests).
    pub trusted_roots_pem: Option<String>,
}

/// A channel with what it needs to send, secrets unsealed.
#[derive(Debug, Clone)]
pub enum Channel {
    Email(EmailChannel),
    /// A JSON POST signed like the distribution webhook (`x-certautopilot-signature`).
    Webhook {
        url: String,
        secret: SecretBytes,
        trusted_roots_pem: Option<String>,
    },
    /// Incoming-webhook URLs: the URL is the credential.
    Slack {
        url: SecretBytes,
    },
    Teams {
        url: SecretBytes,
    },
    Discord {
        url: SecretBytes,
    },
    Mattermost {
        url: SecretBytes,
    },
    /// `server` (`https://ntfy.sh`), a topic, and an access token for protected topics.
    Ntfy {
        server: String,
        topic: String,
        token: Option<SecretBytes>,
    },
    /// The Bot API (`api_base` defaults to `https://api.telegram.org`) and a chat id.
    Telegram {
        api_base: String,
        chat_id: String,
        bot_token: SecretBytes,
    },
}

impl Channel {
    /// The channel's kind as stored and shown.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Email(_) => "email",
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Teams { .. } => "teams",
            Channel::Discord { .. } => "discord",
            Channel::Mattermost { .. } => "mattermost",
            Channel::Ntfy { .. } => "ntfy",
            Channel::Telegram { .. } => "telegram",
        }
    }
}

/// Why a send failed: the classified reason only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Unreachable, timed out, 5xx, rate limited (with the wait the service asked for): try again.
    #[error("{reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// Refused (bad credential, unknown chat, malformed setting): a person has to look.
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient { .. })
    }
}

/// Where channels may connect and how long one send may take.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub egress: EgressPolicy,
    pub timeout: Duration,
}

/// Sends `message` once; on success, a short summary for the job's log (`slack answered 200`).
pub async fn send(channel: &Channel, message: &Message, options: &SendOptions) -> Result<String, SendError> {
    match channel {
        Channel::Email(email) => smtp::send(email, message, options).await,
        other => chat::send(other, message, options).await,
    }
}
