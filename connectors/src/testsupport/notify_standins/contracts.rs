//! Each service's contract as its documentation publishes it: what a request must look like,
//! which credential it carries, the limits it is held to, and the answers (success and errors) in
//! the service's own shape.
//! Invariant: a request the real service would refuse is refused here with the same status.

use std::time::Duration;

use serde_json::{Value, json};

use super::super::StandInAnswer;
use super::super::StandInRequest;
use super::super::api_faults::split_query;
use super::{ChatService, Contract};

/// The texts shown and the success answer, or the refusal.
type Verdict = Result<(Vec<String>, StandInAnswer), StandInAnswer>;

pub(super) fn check(contract: &Contract, blocked: &[String], request: &StandInRequest) -> Verdict {
    match contract.service {
        ChatService::Webhook => webhook(contract, request),
        ChatService::Slack => slack(contract, request),
        ChatService::Teams => teams(contract, request),
        ChatService::Discord => discord(contract, request),
        ChatService::Mattermost => mattermost(contract, request),
        ChatService::Ntfy => ntfy(contract, request),
        ChatService::Telegram => telegram(contract, blocked, request),
    }
}

/// 429 as each service sends it.
pub(super) fn rate_limited(service: ChatService, wait: Duration) -> StandInAnswer {
    let whole = wait.as_secs_f64().ceil() as u64;
    let header = |answer: StandInAnswer| answer.header("Retry-After", &whole.to_string());
    match service {
        ChatService::Webhook => header(StandInAnswer::json(429, json!({ "error": "too many requests" }))),
        ChatService::Slack => header(text(429, "rate_limited")),
        ChatService::Teams => header(teams_error(429, "WorkflowRequestsThrottled", "Rate limit is exceeded.")),
        ChatService::Discord => header(StandInAnswer::json(
            429,
            json!({ "message": "You are being rate limited.", "retry_after": wait.as_secs_f64(), "global": false }),
        ))
        .header("X-RateLimit-Scope", "shared"),
        ChatService::Mattermost => header(text(429, "limit exceeded\n")).header("X-Ratelimit-Remaining", "0"),
        ChatService::Ntfy => ntfy_error(429, 42901, "limit reached: too many requests, please be nice"),
        ChatService::Telegram => StandInAnswer::json(
            429,
            json!({
                "ok": false, "error_code": 429, "description": format!("Too Many Requests: retry after {whole}"),
                "parameters": { "retry_after": whole },
            }),
        ),
    }
}

/// What a proxy in front of a service that is down answers.
pub(super) fn down() -> StandInAnswer {
    StandInAnswer::raw(
        503,
        "text/html",
        "<html><head><title>503 Service Temporarily Unavailable</title></head><body>upstream down</body></html>".into(),
    )
}

fn text(status: u16, body: &str) -> StandInAnswer {
    StandInAnswer::raw(status, "text/plain", body.to_owned())
}

fn is_json(request: &StandInRequest) -> bool {
    request.header("content-type").is_some_and(|t| t.starts_with("application/json"))
}

fn chars(value: &Value) -> usize {
    value.as_str().map_or(0, |s| s.chars().count())
}

/// A receiver that checks the signature over `<timestamp>.<body>` and refuses a timestamp more
/// than five minutes off, as the distribution webhook's documentation tells receivers to.
fn webhook(c: &Contract, r: &StandInRequest) -> Verdict {
    let refuse = |status: u16, error: &str| StandInAnswer::json(status, json!({ "error": error }));
    if r.method != "POST" || r.path != c.hook {
        return Err(refuse(404, "no such hook"));
    }
    let timestamp = r.header(crate::targets::TIMESTAMP_HEADER).unwrap_or_default();
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| (certautopilot_core::Timestamp::now().as_unix_millis().div_euclid(1000) - t).abs() <= 300);
    let expected = crate::targets::signature(c.secret.as_bytes(), timestamp, r.text.as_bytes());
    if !fresh || r.header(crate::targets::SIGNATURE_HEADER) != Some(expected.as_str()) {
        return Err(refuse(401, "signature does not verify"));
    }
    let headed = [crate::notify::DELIVERY_HEADER, crate::notify::EVENT_HEADER].iter().all(|h| r.header(h).is_some());
    if !is_json(r) || !headed || !r.body.is_object() {
        return Err(refuse(400, "expected a JSON event with delivery and event headers"));
    }
    let shown =
        format!("{}\n{}", r.body["subject"].as_str().unwrap_or_default(), r.body["text"].as_str().unwrap_or_default());
    Ok((vec![shown], StandInAnswer::json(200, json!({ "accepted": true }))))
}

/// https://api.slack.com/messaging/webhooks: JSON with `text` or `blocks`; errors are a bare
/// word; `ok` on success. Block Kit limits: header 150, section 3,000.
fn slack(c: &Contract, r: &StandInRequest) -> Verdict {
    let hook_prefix = c.hook.rsplit_once('/').map(|(p, _)| p).unwrap_or_default();
    if r.path != c.hook {
        let wrong_token = r.path.rsplit_once('/').is_some_and(|(p, _)| p == hook_prefix);
        return Err(if wrong_token { text(403, "invalid_token") } else { text(404, "no_service") });
    }
    if r.method != "POST" || !is_json(r) || !r.body.is_object() {
        return Err(text(400, "invalid_payload"));
    }
    let body = &r.body;
    let fallback = body["text"].as_str().unwrap_or_default();
    let blocks = body["blocks"].as_array();
    if fallback.is_empty() && blocks.is_none_or(|b| b.is_empty()) {
        return Err(text(400, "no_text"));
    }
    let mut shown = Vec::new();
    for block in blocks.into_iter().flatten() {
        let ok = match block["type"].as_str() {
            Some("header") => {
                block["text"]["type"] == "plain_text" && (1..=150).contains(&chars(&block["text"]["text"]))
            }
            Some("section") => (1..=3000).contains(&chars(&block["text"]["text"])),
            Some("context") => block["elements"].as_array().is_some_and(|e| (1..=10).contains(&e.len())),
            _ => false,
        };
        if !ok {
            return Err(text(400, "invalid_blocks"));
        }
        if let Some(t) = block["text"]["text"].as_str() {
            shown.push(t.to_owned());
        }
    }
    if shown.is_empty() {
        shown.push(fallback.to_owned());
    }
    Ok((vec![shown.join("\n")], text(200, "ok")))
}

fn teams_error(status: u16, code: &str, message: &str) -> StandInAnswer {
    StandInAnswer::json(status, json!({ "error": { "code": code, "message": message } }))
}

/// A Teams Workflows trigger ("Post to a channel when a webhook request is received"): the `sig`
/// query parameter is checked (401), the body must be a message with an Adaptive Card attachment
/// of TextBlocks (400), at most 28 KB (413); accepted with 202.
fn teams(c: &Contract, r: &StandInRequest) -> Verdict {
    let (path, query) = split_query(&r.path);
    let (hook_path, _) = split_query(&c.hook);
    if path != hook_path {
        return Err(teams_error(404, "WorkflowNotFound", "The workflow could not be found."));
    }
    if query.get("sig") != Some(&c.secret) {
        return Err(teams_error(
            401,
            "DirectApiInvalidAuthorizationSignature",
            "The provided authorization signature is not valid for this trigger.",
        ));
    }
    if r.text.len() > 28 * 1024 {
        return Err(teams_error(413, "MessageTooLarge", "The message is larger than the 28 KB allowed."));
    }
    let card = &r.body["attachments"][0];
    let blocks = card["content"]["body"].as_array();
    let valid = is_json(r)
        && r.body["type"] == "message"
        && card["contentType"] == "application/vnd.microsoft.card.adaptive"
        && card["content"]["type"] == "AdaptiveCard"
        && card["content"]["version"].is_string()
        && blocks.is_some_and(|b| !b.is_empty() && b.iter().all(|t| t["type"] != "TextBlock" || t["text"].is_string()));
    if !valid {
        return Err(teams_error(400, "InvalidRequestContent", "The request content is not a valid card message."));
    }
    let shown: Vec<&str> = blocks.into_iter().flatten().filter_map(|t| t["text"].as_str()).collect();
    Ok((vec![shown.join("\n")], text(202, "")))
}

/// Discord's form errors: `{"code":50035,"errors":{<field>:{"_errors":[…]}},"message":…}`.
fn discord_form_error(field: &str, limit: usize) -> StandInAnswer {
    let detail = json!({ "_errors": [{ "code": "BASE_TYPE_MAX_LENGTH", "message": format!("Must be {limit} or fewer in length.") }] });
    StandInAnswer::json(400, json!({ "code": 50035, "errors": { field: detail }, "message": "Invalid Form Body" }))
}

/// https://discord.com/developers/docs/resources/webhook#execute-webhook: `content` ≤ 2,000,
/// at most 10 embeds (title ≤ 256, description ≤ 4,096); 200 with the message when `wait=true`,
/// else 204.
fn discord(c: &Contract, r: &StandInRequest) -> Verdict {
    let (path, query) = split_query(&r.path);
    let rest = path.strip_prefix("/api").unwrap_or_default();
    // `/api/v10/webhooks/…` and `/api/webhooks/…` are the same endpoint.
    let rest = match rest.strip_prefix("/v") {
        Some(versioned) => versioned.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => rest,
    };
    let ours: Vec<&str> = c.hook.trim_start_matches("/api/webhooks/").split('/').collect();
    let asked: Vec<&str> = rest.strip_prefix("/webhooks/").unwrap_or_default().split('/').collect();
    if asked.first() != ours.first() {
        return Err(StandInAnswer::json(404, json!({ "message": "Unknown Webhook", "code": 10015 })));
    }
    if asked.get(1) != ours.get(1) {
        return Err(StandInAnswer::json(401, json!({ "message": "Invalid Webhook Token", "code": 50027 })));
    }
    let body = if is_json(r) { &r.body } else { &Value::Null };
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if chars(&body["content"]) == 0 && embeds.is_empty() {
        return Err(StandInAnswer::json(400, json!({ "message": "Cannot send an empty message", "code": 50006 })));
    }
    if chars(&body["content"]) > 2000 {
        return Err(discord_form_error("content", 2000));
    }
    if embeds.len() > 10 {
        return Err(discord_form_error("embeds", 10));
    }
    for (i, embed) in embeds.iter().enumerate() {
        if chars(&embed["title"]) > 256 {
            return Err(discord_form_error(&format!("embeds.{i}.title"), 256));
        }
        if chars(&embed["description"]) > 4096 {
            return Err(discord_form_error(&format!("embeds.{i}.description"), 4096));
        }
    }
    let mut shown = vec![body["content"].as_str().unwrap_or_default().to_owned()];
    for embed in &embeds {
        shown.extend(["title", "description"].iter().filter_map(|k| embed[*k].as_str().map(str::to_owned)));
    }
    let answer = if query.get("wait").map(String::as_str) == Some("true") {
        let message =
            json!({ "id": "1", "type": 0, "content": body["content"], "embeds": embeds, "webhook_id": ours[0] });
        StandInAnswer::json(200, message)
    } else {
        StandInAnswer::json(204, Value::Null)
    };
    Ok((vec![shown.join("\n")], answer))
}

fn mattermost_error(id: &str, message: &str) -> StandInAnswer {
    let body =
        json!({ "id": id, "message": message, "detailed_error": "", "request_id": "standin", "status_code": 400 });
    StandInAnswer::json(400, body)
}

/// Mattermost's incoming webhook, checked in its server's order: the body parses (JSON), has a
/// text (or attachments), then the hook exists; all refusals are 400 app errors. A text over
/// 16,383 characters is split into several posts.
fn mattermost(c: &Contract, r: &StandInRequest) -> Verdict {
    if r.method != "POST" || !is_json(r) || !r.body.is_object() {
        return Err(mattermost_error("web.incoming_webhook.parse.app_error", "Unable to parse incoming data."));
    }
    let posted = r.body["text"].as_str().unwrap_or_default();
    if posted.is_empty() && r.body["attachments"].is_null() {
        return Err(mattermost_error("web.incoming_webhook.text.app_error", "No text specified."));
    }
    if r.path != c.hook {
        return Err(mattermost_error("web.incoming_webhook.invalid.app_error", "Invalid webhook."));
    }
    let chars: Vec<char> = posted.chars().collect();
    let posts = chars.chunks(16_383).map(|p| p.iter().collect()).collect();
    Ok((posts, text(200, "ok")))
}

fn ntfy_error(status: u16, code: u32, error: &str) -> StandInAnswer {
    let body = json!({ "code": code, "http": status, "error": error, "link": "https://ntfy.sh/docs/publish/" });
    StandInAnswer::json(status, body)
}

/// https://docs.ntfy.sh/publish/: POST or PUT `/<topic>`, the body the message (over 4,096
/// bytes it would be an attachment, refused here as on a server without an attachment cache),
/// `Title` (RFC 2047 words decoded), `Priority` 1-5 or its names, `Tags`. A token that is not the
/// account's is 401; a protected topic without one is 403.
fn ntfy(c: &Contract, r: &StandInRequest) -> Verdict {
    let topic = r.path.trim_start_matches('/');
    let valid =
        (1..=64).contains(&topic.len()) && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if !matches!(r.method.as_str(), "POST" | "PUT") || !valid {
        return Err(ntfy_error(400, 40009, "invalid request: topic invalid"));
    }
    match r.header("authorization") {
        Some(auth) if c.secret.is_empty() || auth != format!("Bearer {}", c.secret) => {
            return Err(ntfy_error(401, 40101, "unauthorized"));
        }
        None if !c.secret.is_empty() => return Err(ntfy_error(403, 40301, "forbidden")),
        _ => {}
    }
    if !c.secret.is_empty() && topic != c.topic {
        return Err(ntfy_error(403, 40301, "forbidden"));
    }
    if r.text.len() > 4096 {
        return Err(ntfy_error(400, 40014, "invalid request: attachments not allowed"));
    }
    let priority = r.header("priority").unwrap_or("3");
    if !["1", "2", "3", "4", "5", "min", "low", "default", "high", "max", "urgent"].contains(&priority) {
        return Err(ntfy_error(400, 40007, "invalid priority parameter"));
    }
    let title = decode_encoded_words(r.header("title").unwrap_or_default());
    let tags: Vec<&str> = r.header("tags").unwrap_or_default().split(',').filter(|t| !t.is_empty()).collect();
    let message = json!({
        "id": "standin1", "time": certautopilot_core::Timestamp::now().as_unix_millis() / 1000, "event": "message",
        "topic": topic, "title": title, "message": r.text, "priority": priority.parse::<u8>().unwrap_or(3), "tags": tags,
    });
    Ok((vec![format!("{title}\n{}", r.text)], StandInAnswer::json(200, message)))
}

/// RFC 2047 `=?UTF-8?B?…?=` words (whitespace between them dropped) decoded; other text as is.
fn decode_encoded_words(value: &str) -> String {
    use base64::Engine;
    let words: Vec<&str> = value.split_whitespace().collect();
    let decoded: Option<Vec<u8>> = words
        .iter()
        .map(|w| {
            let inner = w.strip_prefix("=?UTF-8?B?").or_else(|| w.strip_prefix("=?utf-8?b?"))?.strip_suffix("?=")?;
            base64::engine::general_purpose::STANDARD.decode(inner).ok()
        })
        .try_fold(Vec::new(), |mut all, word| {
            all.extend(word?);
            Some(all)
        });
    match decoded {
        Some(bytes) if !words.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => value.to_owned(),
    }
}

fn telegram_error(status: u16, description: &str) -> StandInAnswer {
    StandInAnswer::json(status, json!({ "ok": false, "error_code": status, "description": description }))
}

/// https://core.telegram.org/bots/api#sendmessage: `/bot<token>/sendMessage`, a known chat the
/// bot may post to, 1-4,096 characters of text (counted in UTF-16 units, as the API counts).
fn telegram(c: &Contract, blocked: &[String], r: &StandInRequest) -> Verdict {
    let Some((token, method)) = r.path.strip_prefix("/bot").and_then(|rest| rest.split_once('/')) else {
        return Err(telegram_error(404, "Not Found"));
    };
    if token != c.secret {
        return Err(telegram_error(401, "Unauthorized"));
    }
    if !method.eq_ignore_ascii_case("sendMessage") {
        return Err(telegram_error(404, "Not Found"));
    }
    let body = if is_json(r) { &r.body } else { &Value::Null };
    let chat = match &body["chat_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(telegram_error(400, "Bad Request: chat_id is empty")),
    };
    if !c.chats.contains(&chat) {
        return Err(telegram_error(400, "Bad Request: chat not found"));
    }
    if blocked.contains(&chat) {
        return Err(telegram_error(403, "Forbidden: bot was blocked by the user"));
    }
    let posted = body["text"].as_str().unwrap_or_default();
    if posted.trim().is_empty() {
        return Err(telegram_error(400, "Bad Request: message text is empty"));
    }
    if posted.encode_utf16().count() > 4096 {
        return Err(telegram_error(400, "Bad Request: message is too long"));
    }
    let bot_id: i64 = c.secret.split(':').next().and_then(|id| id.parse().ok()).unwrap_or(1);
    let result = json!({
        "message_id": 1,
        "from": { "id": bot_id, "is_bot": true, "first_name": "CertAutoPilot stand-in" },
        "chat": { "id": body["chat_id"], "type": "private" },
        "date": certautopilot_core::Timestamp::now().as_unix_millis() / 1000,
        "text": posted,
    });
    Ok((vec![posted.to_owned()], StandInAnswer::json(200, json!({ "ok": true, "result": result }))))
}
