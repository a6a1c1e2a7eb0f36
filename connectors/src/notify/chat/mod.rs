//! Chat and webhook channels: one HTTP POST per message to a signed webhook receiver, Slack,
//! Microsoft Teams, Discord, Mattermost, ntfy or Telegram, rendered within each service's limits
//! (`render`), sent under the egress policy and the send's timeout (`exchange`), and the answer
//! read as the service documents it (`judge`).
//! Invariant: an error or log line names the channel and a classified reason only; a URL that is
//! itself the credential, a bot token or an access token never reaches one, and the service's
//! answer reaches only the debug log, scrubbed of what was sent.

mod exchange;
mod judge;
mod prepare;
mod render;

use super::{Channel, Message, SendError, SendOptions};

/// The delivery id, stable across retries of one send, so a receiver can drop a repeat.
pub const DELIVERY_HEADER: &str = "x-certautopilot-delivery";
/// The event kind (`cert.issued`), so a receiver can route without parsing the body.
pub const EVENT_HEADER: &str = "x-certautopilot-event";

const USER_AGENT: &str = concat!("certautopilot/", env!("CARGO_PKG_VERSION"));

/// The services this module speaks to, each with its own answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Webhook,
    Slack,
    Teams,
    Discord,
    Mattermost,
    Ntfy,
    Telegram,
}

impl Service {
    fn kind(self) -> &'static str {
        match self {
            Service::Webhook => "webhook",
            Service::Slack => "slack",
            Service::Teams => "teams",
            Service::Discord => "discord",
            Service::Mattermost => "mattermost",
            Service::Ntfy => "ntfy",
            Service::Telegram => "telegram",
        }
    }

    /// Who answered, in `http 404 from the <peer>`.
    fn peer(self) -> &'static str {
        match self {
            Service::Webhook => "receiver",
            Service::Ntfy => "server",
            _ => "service",
        }
    }
}

pub(super) async fn send(channel: &Channel, message: &Message, options: &SendOptions) -> Result<String, SendError> {
    let (service, post) = prepare::post_for(channel, message)?;
    let answer = exchange::exchange(&post, options).await?;
    judge::judge(service, &post, &answer)
}
