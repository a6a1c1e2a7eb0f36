//! Reading a service's answer as it documents it: which answers mean the message was taken, how
//! long a rate-limited client must wait, and a short classified hint from the service's error
//! codes (never its words). 408, 429 and 5xx are transient, as is an answer cut short; any other
//! refusal needs a person.

use std::time::Duration;

use serde_json::Value;

use super::Service;
use super::exchange::{Answer, Post, retry_after_seconds};
use crate::failure::{http_status_reason, log_remote_detail, remote_detail_wanted};
use crate::notify::SendError;

pub(super) fn judge(service: Service, post: &Post, answer: &Answer) -> Result<String, SendError> {
    let status = answer.status;
    let body = answer.body.as_deref().unwrap_or_default();
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if (200..300).contains(&status) {
        return match (taken(service, body, json.as_ref()), &answer.body) {
            (true, _) => Ok(format!("{} answered {status}", service.kind())),
            // The status says yes, the word that confirms it did not arrive: try again rather
            // than count a message as sent that may not be (a receiver drops repeats by id).
            (false, None) => {
                Err(SendError::Transient { reason: format!("{}: connection closed", post.what), retry_after: None })
            }
            (false, Some(_)) => {
                log_answer(post, body);
                Err(SendError::Permanent(format!(
                    "{}: http {status} without the service's confirmation (is the URL the service's?)",
                    post.what
                )))
            }
        };
    }
    log_answer(post, body);
    let retry_after = service_retry_after(service, json.as_ref()).or(answer.retry_after);
    let mut reason = format!("{}: {}", post.what, http_status_reason(status, service.peer()));
    if let Some(hint) = hint(service, status, body, json.as_ref()) {
        reason.push_str(": ");
        reason.push_str(hint);
    }
    if let Some(wait) = retry_after {
        reason.push_str(&format!(" (retry after {}s)", seconds(wait)));
    }
    match status {
        408 | 429 | 500..=599 => Err(SendError::Transient { reason, retry_after }),
        _ => Err(SendError::Permanent(reason)),
    }
}

/// The answer, at debug level only, without anything of what was sent (a service echoing the
/// request must not bring a token into the log).
fn log_answer(post: &Post, body: &[u8]) {
    if remote_detail_wanted() && !body.is_empty() {
        let sent: Vec<&str> = post.sent.iter().map(String::as_str).collect();
        log_remote_detail(&post.what, &crate::targets::withhold_sent(&String::from_utf8_lossy(body), &sent));
    }
}

/// Whether a 2xx answer confirms the message: Slack and Mattermost answer `ok` (Slack's workflow
/// webhooks `{"ok":true}`), Telegram `{"ok":true,…}`; for the others the status is the answer.
fn taken(service: Service, body: &[u8], json: Option<&Value>) -> bool {
    let word = String::from_utf8_lossy(body);
    let ok_flag = json.is_some_and(|j| j["ok"] == Value::Bool(true));
    match service {
        Service::Slack => word.trim() == "ok" || ok_flag,
        Service::Mattermost => word.trim() == "ok",
        Service::Telegram => ok_flag,
        Service::Webhook | Service::Teams | Service::Discord | Service::Ntfy => true,
    }
}

/// The wait a service put in its JSON (more precise than its `Retry-After` header).
fn service_retry_after(service: Service, json: Option<&Value>) -> Option<Duration> {
    let json = json?;
    match service {
        Service::Discord => retry_after_seconds(&json["retry_after"]),
        Service::Telegram => retry_after_seconds(&json["parameters"]["retry_after"]),
        _ => None,
    }
}

fn seconds(wait: Duration) -> String {
    let s = wait.as_secs_f64();
    if s.fract() == 0.0 { format!("{s:.0}") } else { format!("{s:.3}").trim_end_matches('0').to_owned() }
}

const MALFORMED: &str = "the message was refused as malformed";
const NO_WEBHOOK: &str = "the webhook no longer exists";

/// What the service's documented error code means, in our words.
fn hint(service: Service, status: u16, body: &[u8], json: Option<&Value>) -> Option<&'static str> {
    if status == 429 {
        return Some("rate limited");
    }
    let code = |key: &str| json.and_then(|j| j[key].as_u64());
    match service {
        // https://api.slack.com/messaging/webhooks#handling_errors: a bare error word.
        Service::Slack => match String::from_utf8_lossy(body).trim() {
            "invalid_payload" | "no_text" | "invalid_blocks" | "invalid_blocks_format" | "too_many_attachments" => {
                Some(MALFORMED)
            }
            "no_service" | "no_service_id" | "no_team" | "team_disabled" | "no_active_hooks" => Some(NO_WEBHOOK),
            "channel_not_found" => Some("the webhook's channel no longer exists"),
            "channel_is_archived" => Some("the webhook's channel is archived"),
            "action_prohibited" | "posting_to_general_channel_denied" => Some("an admin restricted posting there"),
            "invalid_token" => Some("the webhook's token is not valid"),
            _ => None,
        },
        // https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
        Service::Discord => match code("code") {
            Some(10015) => Some(NO_WEBHOOK),
            Some(50027) => Some("the webhook's token is not valid"),
            Some(50006 | 50035 | 50109) => Some(MALFORMED),
            _ => None,
        },
        Service::Mattermost => match json.and_then(|j| j["id"].as_str()) {
            Some("web.incoming_webhook.invalid.app_error") => Some(NO_WEBHOOK),
            Some("web.incoming_webhook.parse.app_error" | "web.incoming_webhook.text.app_error") => Some(MALFORMED),
            Some("web.incoming_webhook.disabled.app_error") => Some("incoming webhooks are turned off on the server"),
            _ => None,
        },
        // ntfy's `{"code":40101,"http":401,"error":…}`.
        Service::Ntfy => match code("code") {
            Some(40014 | 41301) => Some("the message is larger than the server accepts"),
            Some(40009 | 40010) => Some("the server refuses this topic"),
            _ => None,
        },
        Service::Telegram => telegram_hint(status, json),
        Service::Teams => (status == 404).then_some("the workflow or webhook no longer exists"),
        Service::Webhook => None,
    }
}

/// Telegram's errors share codes (400 for an unknown chat and for an empty text): the
/// description tells them apart, and `migrate_to_chat_id` says a group became a supergroup.
fn telegram_hint(status: u16, json: Option<&Value>) -> Option<&'static str> {
    let json = json?;
    if json["parameters"]["migrate_to_chat_id"].is_i64() {
        return Some("the group became a supergroup, which has another chat id");
    }
    let description = json["description"].as_str().unwrap_or_default().to_ascii_lowercase();
    match status {
        400 if description.contains("chat not found") => Some("no such chat, or the bot is not in it"),
        400 => Some(MALFORMED),
        403 => Some("the bot was blocked or removed, or may not post in the chat"),
        404 => Some("the API knows no bot by this token"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits read as people write them: whole seconds bare, fractions without trailing zeros.
    #[test]
    fn waits_are_written_plainly() {
        assert_eq!(seconds(Duration::from_secs(30)), "30");
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25");
    }
}
