use serde_json::json;

use super::*;

fn message(subject: &str, text: &str) -> Message {
    Message {
        delivery_id: "d-1".into(),
        event: "cert.expiring".into(),
        severity: Severity::Critical,
        subject: subject.into(),
        text: text.into(),
        data: json!({ "certificate_id": "c1" }),
    }
}

/// A text within the limit is kept whole; a longer one is cut to exactly the limit, ellipsis
/// included, in the unit the service counts.
#[test]
fn texts_are_cut_at_the_limit_in_the_service_unit() {
    assert_eq!(cut("abc", 3, Measure::Chars), "abc");
    assert_eq!(cut("abcd", 3, Measure::Chars), "ab…");
    // 😀 is one character, two UTF-16 units and four bytes.
    let smileys = "😀".repeat(10);
    assert_eq!(Measure::Chars.of(&cut(&smileys, 5, Measure::Chars)), 5);
    let utf16 = cut(&smileys, 5, Measure::Utf16);
    assert_eq!((utf16.chars().count(), Measure::Utf16.of(&utf16)), (3, 5));
    let bytes = cut(&smileys, 10, Measure::Bytes);
    assert_eq!((bytes.len(), bytes.ends_with('…')), (11 - 4, true));
    assert!(Measure::Bytes.of(&bytes) <= 10);
}

/// Slack's escapes are counted against the limit and never split; the raw text reaches no field
/// that Slack reads as markup.
#[test]
fn slack_escapes_and_never_splits_an_entity() {
    // 2,997 characters, then `&lt;` would pass the budget of 2,999 (3,000 less the ellipsis).
    let text = format!("{}<!channel> & more", "x".repeat(SLACK_TEXT_LIMIT - 3));
    let payload = slack(&message("a <b> & c", &text));
    assert_eq!(payload["text"], "a &lt;b&gt; &amp; c");
    let section = payload["blocks"][1]["text"]["text"].as_str().unwrap();
    assert_eq!(section, format!("{}…", "x".repeat(SLACK_TEXT_LIMIT - 3)));
    let whole = slack(&message("s", "<!channel> & more"));
    assert_eq!(whole["blocks"][1]["text"]["text"], "&lt;!channel&gt; &amp; more");
    // The header is plain text: shown as written, cut at 150.
    assert_eq!(payload["blocks"][0]["text"]["text"], "a <b> & c");
    let long = slack(&message(&"s".repeat(400), ""));
    assert_eq!(long["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), SLACK_HEADER_LIMIT);
    assert_eq!(long["blocks"].as_array().unwrap().len(), 2, "no empty section");
}

/// Discord's content, title and description stay inside 2,000, 256 and 4,096 characters, and
/// mentions are off.
#[test]
fn discord_fields_respect_their_limits() {
    let payload = discord(&message(&"s".repeat(3000), &"t".repeat(5000)));
    assert_eq!(payload["content"].as_str().unwrap().chars().count(), DISCORD_CONTENT_LIMIT);
    let embed = &payload["embeds"][0];
    assert_eq!(embed["description"].as_str().unwrap().chars().count(), DISCORD_DESCRIPTION_LIMIT);
    assert_eq!(embed["title"], "Critical · cert.expiring");
    assert_eq!(payload["allowed_mentions"], json!({ "parse": [] }));
}

/// Telegram gets plain text, subject first, within 4,096 UTF-16 units, and a numeric chat id as
/// a number.
#[test]
fn telegram_text_is_plain_and_bounded() {
    let payload = telegram(&message("Subject *x*", &"😀".repeat(3000)), "-100123");
    let text = payload["text"].as_str().unwrap();
    assert!(text.starts_with("Subject *x*\n\n😀"));
    assert!(Measure::Utf16.of(text) <= TELEGRAM_TEXT_LIMIT && text.ends_with('…'));
    assert_eq!(payload["chat_id"], json!(-100123));
    assert_eq!(telegram(&message("s", ""), "@alerts")["chat_id"], "@alerts");
    assert!(payload.get("parse_mode").is_none());
}

/// ntfy's title header is ASCII whatever the subject; non-ASCII goes as RFC 2047 words of at most
/// 75 characters; priority follows severity.
#[test]
fn ntfy_headers_are_ascii() {
    let publish = ntfy(&message("Zertifikat für straße läuft ab\nbald", "body"));
    assert!(publish.title.is_ascii() && publish.title.starts_with("=?UTF-8?B?"), "{}", publish.title);
    assert!(publish.title.split(' ').all(|w| w.len() <= 75));
    assert_eq!(
        (publish.priority, publish.tags.as_str(), publish.body.as_str()),
        ("5", "rotating_light,cert.expiring", "body")
    );
    assert_eq!(header_text("plain\r\ntitle"), "plain  title");
    assert_eq!(ntfy(&message("s", &"b".repeat(5000))).body.len(), NTFY_MESSAGE_LIMIT);
}

/// The Teams card is an Adaptive Card 1.4 message whose lines are paragraphs.
#[test]
fn teams_card_shape() {
    let payload = teams(&message("Subject", "line one\nline two"));
    let attachment = &payload["attachments"][0];
    assert_eq!(attachment["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(attachment["content"]["version"], "1.4");
    assert_eq!(attachment["content"]["body"][1]["text"], "line one\n\nline two");
    assert_eq!(attachment["content"]["body"][0]["color"], "Attention");
}
