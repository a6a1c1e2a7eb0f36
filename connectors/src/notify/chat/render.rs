//! Each service's payload for one `Message`, cut to the limits the service documents (a cut text
//! ends with `…`) and escaped as its format needs (Slack's `&<>`; Telegram gets plain text, no
//! `parse_mode`). Pure: no clock, no network. Invariant: a rendered field never exceeds its limit
//! as the service counts it (characters, UTF-16 units, or bytes), escapes included.

use serde_json::{Value, json};

use crate::notify::{Message, Severity};

/// How a service counts a text's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Measure {
    /// Unicode scalar values (Discord, Slack, Mattermost's runes).
    Chars,
    /// UTF-16 code units: Telegram counts entities and lengths in them; never more than characters.
    Utf16,
    /// UTF-8 bytes (ntfy's message limit, Teams' payload limit).
    Bytes,
}

impl Measure {
    fn of_char(self, c: char) -> usize {
        match self {
            Measure::Chars => 1,
            Measure::Utf16 => c.len_utf16(),
            Measure::Bytes => c.len_utf8(),
        }
    }

    pub(super) fn of(self, text: &str) -> usize {
        text.chars().map(|c| self.of_char(c)).sum()
    }
}

const ELLIPSIS: char = '…';

/// An escape: the replacement for a character that needs one.
type Escape = fn(char) -> Option<&'static str>;

fn verbatim(_: char) -> Option<&'static str> {
    None
}

/// Slack's mrkdwn and fallback text treat `&`, `<` and `>` as markup (`<!channel>` pings a channel);
/// its formatting reference asks for exactly these three entities.
fn slack_escape(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    }
}

/// `text` escaped with `escape` and cut to at most `limit` as `measure` counts, ending with `…`
/// when cut. An escape is never split: a cut falls before or after it.
fn fit(text: &str, limit: usize, measure: Measure, escape: Escape) -> String {
    let piece = |c: char| escape(c).map_or_else(|| measure.of_char(c), |e| measure.of(e));
    let whole: usize = text.chars().map(piece).sum();
    let budget = if whole <= limit { limit } else { limit.saturating_sub(measure.of_char(ELLIPSIS)) };
    let mut out = String::with_capacity(text.len().min(limit * 4));
    let mut used = 0;
    for c in text.chars() {
        let n = piece(c);
        if used + n > budget {
            out.push(ELLIPSIS);
            return out;
        }
        used += n;
        match escape(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// `text` cut to `limit`, unescaped.
pub(super) fn cut(text: &str, limit: usize, measure: Measure) -> String {
    fit(text, limit, measure, verbatim)
}

fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Info => "Info",
        Severity::Warning => "Warning",
        Severity::Critical => "Critical",
    }
}

/// The signed webhook's document: the message as is, with the structured event.
pub(super) fn webhook(message: &Message) -> Value {
    json!({
        "delivery_id": message.delivery_id,
        "event": message.event,
        "severity": message.severity,
        "subject": message.subject,
        "text": message.text,
        "data": message.data,
    })
}

/// Slack Block Kit limits: a header's plain text 150 characters, a section's or context
/// element's text 3,000 (https://api.slack.com/reference/block-kit/blocks).
pub(super) const SLACK_HEADER_LIMIT: usize = 150;
pub(super) const SLACK_TEXT_LIMIT: usize = 3000;

/// Slack: the subject as the notification's fallback `text` and as a header, the text as a mrkdwn
/// section, the severity and event as context. A header is plain text: Slack shows it as written.
pub(super) fn slack(message: &Message) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": cut(&message.subject, SLACK_HEADER_LIMIT, Measure::Chars) },
    })];
    if !message.text.trim().is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": { "type": "mrkdwn", "text": fit(&message.text, SLACK_TEXT_LIMIT, Measure::Chars, slack_escape) },
        }));
    }
    let context = format!("{} · {}", severity_label(message.severity), message.event);
    blocks.push(json!({
        "type": "context",
        "elements": [{ "type": "mrkdwn", "text": fit(&context, SLACK_TEXT_LIMIT, Measure::Chars, slack_escape) }],
    }));
    json!({ "text": fit(&message.subject, SLACK_TEXT_LIMIT, Measure::Chars, slack_escape), "blocks": blocks })
}

/// Teams refuses a webhook payload over 28 KB: the card's texts stay well inside it.
pub(super) const TEAMS_SUBJECT_LIMIT: usize = 1024;
pub(super) const TEAMS_TEXT_LIMIT: usize = 20 * 1024;

/// Microsoft Teams (incoming webhook or Workflows): one Adaptive Card 1.4 of TextBlocks. A
/// TextBlock renders a little Markdown, where a single line break does not break the line, so
/// each line of the text becomes its own paragraph.
pub(super) fn teams(message: &Message) -> Value {
    let color = match message.severity {
        Severity::Info => "Default",
        Severity::Warning => "Warning",
        Severity::Critical => "Attention",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": cut(&message.subject, TEAMS_SUBJECT_LIMIT, Measure::Bytes),
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    })];
    if !message.text.trim().is_empty() {
        let paragraphs = message.text.lines().collect::<Vec<_>>().join("\n\n");
        body.push(
            json!({ "type": "TextBlock", "text": cut(&paragraphs, TEAMS_TEXT_LIMIT, Measure::Bytes), "wrap": true }),
        );
    }
    body.push(json!({
        "type": "TextBlock",
        "text": format!("{} · {}", severity_label(message.severity), cut(&message.event, 256, Measure::Chars)),
        "isSubtle": true,
        "size": "Small",
        "wrap": true,
    }));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}

/// Discord's execute-webhook limits: `content` 2,000 characters, an embed's title 256 and
/// description 4,096.
pub(super) const DISCORD_CONTENT_LIMIT: usize = 2000;
pub(super) const DISCORD_TITLE_LIMIT: usize = 256;
pub(super) const DISCORD_DESCRIPTION_LIMIT: usize = 4096;

/// Discord: the subject as `content` (what a push notification shows), one embed coloured by
/// severity with the severity and event as its title and the text as its description. Mentions
/// are switched off: a name in a message must not ping `@everyone`.
pub(super) fn discord(message: &Message) -> Value {
    let color = match message.severity {
        Severity::Info => 0x2E_B6_7D,
        Severity::Warning => 0xEC_B2_2E,
        Severity::Critical => 0xE0_1E_5A,
    };
    let title = format!("{} · {}", severity_label(message.severity), message.event);
    let mut embed = json!({ "title": cut(&title, DISCORD_TITLE_LIMIT, Measure::Chars), "color": color });
    if !message.text.trim().is_empty() {
        embed["description"] = cut(&message.text, DISCORD_DESCRIPTION_LIMIT, Measure::Chars).into();
    }
    json!({
        "content": cut(&message.subject, DISCORD_CONTENT_LIMIT, Measure::Chars),
        "embeds": [embed],
        "allowed_mentions": { "parse": [] },
    })
}

/// Mattermost keeps at most 16,383 characters in one post (a longer webhook text is split into
/// several posts): one message stays one post.
pub(super) const MATTERMOST_TEXT_LIMIT: usize = 16_383;

/// Mattermost: Markdown text, the subject as a heading (a heading needs no closing mark, so a
/// `*.example.com` in the subject cannot unbalance one).
pub(super) fn mattermost(message: &Message) -> Value {
    let mut text = format!("#### {}", message.subject);
    if !message.text.trim().is_empty() {
        text.push_str("\n\n");
        text.push_str(&message.text);
    }
    text.push_str(&format!("\n\n_{} · {}_", severity_label(message.severity), message.event));
    json!({ "text": cut(&text, MATTERMOST_TEXT_LIMIT, Measure::Chars) })
}

/// ntfy turns a message body over 4,096 bytes into an attachment (refused where attachments are
/// off); a title has no documented limit, and a header this long is accepted by any proxy.
pub(super) const NTFY_MESSAGE_LIMIT: usize = 4096;
pub(super) const NTFY_TITLE_LIMIT: usize = 256;

/// ntfy's publish: the body is the text (the subject when there is none), with headers.
pub(super) struct NtfyPublish {
    pub body: String,
    /// ASCII, RFC 2047 encoded words where the subject is not (ntfy decodes them).
    pub title: String,
    pub priority: &'static str,
    pub tags: String,
}

pub(super) fn ntfy(message: &Message) -> NtfyPublish {
    let body = if message.text.trim().is_empty() { &message.subject } else { &message.text };
    let (priority, emoji) = match message.severity {
        Severity::Critical => ("5", "rotating_light"),
        Severity::Warning => ("4", "warning"),
        Severity::Info => ("3", "information_source"),
    };
    // A tag is a word of a comma-separated list: the event kind keeps only characters that cannot
    // split or end it.
    let event: String = message.event.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
    let tags = if event.is_empty() { emoji.to_owned() } else { format!("{emoji},{}", cut(&event, 64, Measure::Chars)) };
    NtfyPublish {
        body: cut(body, NTFY_MESSAGE_LIMIT, Measure::Bytes),
        title: header_text(&cut(&message.subject, NTFY_TITLE_LIMIT, Measure::Chars)),
        priority,
        tags,
    }
}

/// `text` as a header value: printable ASCII as is, control characters as spaces, and anything
/// else as RFC 2047 `B` encoded words (each under the 75-character limit, split between
/// characters; whitespace between encoded words is dropped by the decoder).
pub(super) fn header_text(text: &str) -> String {
    use base64::Engine;
    let text: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.is_ascii() {
        return text;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        // 45 bytes of input make 60 of base64: with `=?UTF-8?B?` and `?=`, 72 characters.
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    words.push(chunk);
    let encode = |w: &String| format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(w));
    words.iter().map(encode).collect::<Vec<_>>().join(" ")
}

/// Telegram's `sendMessage` takes 1 to 4,096 characters of text.
pub(super) const TELEGRAM_TEXT_LIMIT: usize = 4096;

/// Telegram: plain text (no `parse_mode`, so nothing in it is markup), subject first; link
/// previews off.
pub(super) fn telegram(message: &Message, chat_id: &str) -> Value {
    let mut text = message.subject.clone();
    if !message.text.trim().is_empty() {
        text.push_str("\n\n");
        text.push_str(&message.text);
    }
    // A numeric id is sent as the Integer the API documents; `@channelusername` as a String.
    let chat_id: Value = chat_id.parse::<i64>().map(Value::from).unwrap_or_else(|_| chat_id.into());
    json!({
        "chat_id": chat_id,
        "text": cut(&text, TELEGRAM_TEXT_LIMIT, Measure::Utf16),
        "disable_web_page_preview": true,
    })
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
