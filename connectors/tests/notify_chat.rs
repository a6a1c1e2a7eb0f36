//! The chat and webhook notification channels against their contract stand-ins (loopback, plain
//! HTTP): what each service receives, how each answer is classified, and that no error carries a
//! secret (a credential URL, a token) or any text of the service's answer. Every behaviour is
//! checked for all seven channels where it applies.

use std::io::{Read, Write};
use std::time::Duration;

use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::notify::{
    Channel, DELIVERY_HEADER, EVENT_HEADER, Message, SendError, SendOptions, Severity, send,
};
use certautopilot_connectors::targets::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use certautopilot_connectors::testsupport::{
    ChatFault, ChatService, ChatStandIn, PortReservation, StandIn, StandInAnswer,
};
use certautopilot_core::crypto::SecretBytes;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec-0123456789abcdef0123456789";
const NTFY_TOKEN: &str = "tk_standin0123456789abcdefghij";
const TELEGRAM_TOKEN: &str = "7100200300:AAHstandinSecretPart0123456789abcd";
const TELEGRAM_CHAT: &str = "-1001234567890";
const SUBJECT: &str = "www.example.test expires in 5 days";
const TEXT: &str = "Renewal failed twice.\nNext attempt at 12:00 UTC.";

fn install_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn message() -> Message {
    Message {
        delivery_id: "dlv-42-slack".into(),
        event: "cert.expiring".into(),
        severity: Severity::Warning,
        subject: SUBJECT.into(),
        text: TEXT.into(),
        data: json!({ "certificate_id": "c1", "not_after": "2030-01-01T00:00:00Z" }),
    }
}

fn options() -> SendOptions {
    SendOptions { egress: EgressPolicy::allowing_loopback(), timeout: Duration::from_secs(10) }
}

/// One stand-in per service, each with the credential the channels here use.
fn every_service() -> Vec<ChatStandIn> {
    vec![
        ChatStandIn::webhook(WEBHOOK_SECRET),
        ChatStandIn::slack(),
        ChatStandIn::teams(),
        ChatStandIn::discord(),
        ChatStandIn::mattermost(),
        ChatStandIn::ntfy("cap-alerts", Some(NTFY_TOKEN)),
        ChatStandIn::telegram(TELEGRAM_TOKEN, &[TELEGRAM_CHAT]),
    ]
}

/// Every JSON string in an answer (or the whole answer when it is not JSON) long enough to be
/// recognisably the service's words.
fn answer_texts(body: &str) -> Vec<String> {
    fn leaves(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
            Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    match serde_json::from_str::<Value>(body) {
        Ok(value) => leaves(&value, &mut out),
        Err(_) => out.push(body.trim().to_owned()),
    }
    out.retain(|t| t.len() >= 8);
    out
}

/// `err` names no secret of `standin` and repeats none of its answers, and is one line.
fn assert_clean(err: &SendError, standin: &ChatStandIn) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    for secret in standin.secrets() {
        assert!(!text.contains(&secret), "{} error names a secret: {text}", standin.service());
    }
    for answer in standin.answers() {
        for said in answer_texts(&answer.body) {
            let (said, text) = (said.to_lowercase(), text.to_lowercase());
            assert!(!text.contains(&said), "{} error repeats the answer `{said}`: {text}", standin.service());
        }
    }
}

fn transient(result: Result<String, SendError>) -> (String, Option<Duration>) {
    match result {
        Err(SendError::Transient { reason, retry_after }) => (reason, retry_after),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

fn permanent(result: Result<String, SendError>) -> String {
    match result {
        Err(SendError::Permanent(reason)) => reason,
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

/// Each channel delivers one message its service accepts, with the subject and every line of the
/// text in what a reader sees, and reports the service's success status.
#[tokio::test]
async fn every_channel_delivers_subject_and_text() {
    install_ring();
    for standin in every_service() {
        let summary = send(&standin.channel(), &message(), &options()).await.unwrap();
        let status = match standin.service() {
            ChatService::Teams => 202,
            _ => 200,
        };
        assert_eq!(summary, format!("{} answered {status}", standin.service()));
        let delivered = standin.delivered();
        assert_eq!(delivered.len(), 1, "{}: one message", standin.service());
        let shown = &delivered[0].shown;
        for line in [SUBJECT, "Renewal failed twice.", "Next attempt at 12:00 UTC."] {
            assert!(shown.contains(line), "{}: `{line}` shown in {shown:?}", standin.service());
        }
        let request = &delivered[0].request;
        assert_eq!(request.method, "POST");
        assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("certautopilot/")), "{request:?}");
    }
}

/// The webhook's body is the message with its event data; its headers identify the delivery and
/// the event; the signature is HMAC-SHA256 over `<timestamp>.<body>` with the shared secret,
/// computed here independently with ring.
#[tokio::test]
async fn webhook_delivery_is_signed_and_identified() {
    install_ring();
    let standin = ChatStandIn::webhook(WEBHOOK_SECRET);
    send(&standin.channel(), &message(), &options()).await.unwrap();
    let request = standin.delivered().remove(0).request;
    assert_eq!(request.path, "/hooks/certautopilot");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header(DELIVERY_HEADER), Some("dlv-42-slack"));
    assert_eq!(request.header(EVENT_HEADER), Some("cert.expiring"));
    assert_eq!(
        request.body,
        json!({
            "delivery_id": "dlv-42-slack", "event": "cert.expiring", "severity": "warning",
            "subject": SUBJECT, "text": TEXT, "data": message().data,
        })
    );
    let timestamp = request.header(TIMESTAMP_HEADER).unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{timestamp}.{}", request.text).as_bytes());
    let expected: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(request.header(SIGNATURE_HEADER), Some(format!("sha256={expected}").as_str()));
}

/// Each service's own request details: Slack's blocks, Teams' Adaptive Card, Discord's
/// `wait=true` and disabled mentions, Mattermost's Markdown, ntfy's headers and bearer token
/// (a non-ASCII title arrives decoded), Telegram's plain text to the chat.
#[tokio::test]
async fn each_service_gets_its_own_format() {
    install_ring();
    let mut umlaut = message();
    umlaut.subject = "Zertifikat für straße.example läuft ab".into();
    umlaut.severity = Severity::Critical;
    for standin in every_service() {
        send(&standin.channel(), &umlaut, &options()).await.unwrap();
        let delivery = standin.delivered().remove(0);
        let (request, body) = (&delivery.request, &delivery.request.body);
        match standin.service() {
            ChatService::Webhook => {}
            ChatService::Slack => {
                assert_eq!(body["blocks"][0]["type"], "header");
                assert_eq!(body["blocks"][0]["text"]["text"], umlaut.subject.as_str());
            }
            ChatService::Teams => {
                assert!(request.path.contains("&sig="), "the query is kept: {}", request.path);
                let card = &body["attachments"][0]["content"];
                assert_eq!((card["type"].as_str(), card["version"].as_str()), (Some("AdaptiveCard"), Some("1.4")));
                assert_eq!(card["body"][0]["color"], "Attention");
            }
            ChatService::Discord => {
                assert!(request.path.ends_with("?wait=true"), "{}", request.path);
                assert_eq!(body["content"], umlaut.subject.as_str());
                assert_eq!(body["embeds"][0]["description"], TEXT);
                assert_eq!(body["allowed_mentions"], json!({ "parse": [] }));
            }
            ChatService::Mattermost => {
                assert!(body["text"].as_str().unwrap().starts_with(&format!("#### {}\n\n", umlaut.subject)));
            }
            ChatService::Ntfy => {
                assert_eq!(request.path, "/cap-alerts");
                assert!(delivery.shown.starts_with(&format!("{}\n", umlaut.subject)), "{}", delivery.shown);
                assert_eq!(request.text, TEXT);
                assert_eq!(request.header("priority"), Some("5"));
                assert_eq!(request.header("tags"), Some("rotating_light,cert.expiring"));
                assert_eq!(request.header("authorization"), Some(format!("Bearer {NTFY_TOKEN}").as_str()));
            }
            ChatService::Telegram => {
                assert_eq!(request.path, format!("/bot{TELEGRAM_TOKEN}/sendMessage"));
                assert_eq!(body["chat_id"], json!(-1001234567890i64));
                assert_eq!(body["text"], format!("{}\n\n{TEXT}", umlaut.subject));
                assert_eq!(body["disable_web_page_preview"], true);
                assert!(body.get("parse_mode").is_none());
            }
        }
    }
}

/// A message far over every limit is cut to each service's limits and accepted whole: the
/// stand-ins refuse what the services refuse (Discord's 2,000-character content, Slack's
/// 3,000-character section, Telegram's 4,096, ntfy's 4,096 bytes, Teams' 28 KB), and Mattermost
/// keeps it as one post.
#[tokio::test]
async fn long_messages_are_cut_to_each_services_limits() {
    install_ring();
    let mut long = message();
    long.subject = "s".repeat(3000);
    long.text = "line of text ✓\n".repeat(3000);
    for standin in every_service() {
        let result = send(&standin.channel(), &long, &options()).await;
        assert!(result.is_ok(), "{}: {result:?}", standin.service());
        assert_eq!(standin.delivered().len(), 1, "{}: one post", standin.service());
        if standin.service() != ChatService::Webhook {
            assert!(standin.delivered()[0].shown.contains('…'), "{}: cut with an ellipsis", standin.service());
        }
    }
}

/// A 429 is transient and carries the wait the service asked for, in the service's own form:
/// `Retry-After` rounded up to 2 s, Discord's fractional `retry_after` (1.5 s, preferred to its
/// header), Telegram's `parameters.retry_after`; ntfy states none. The error says `rate limited`
/// and repeats nothing of the answer; the next send goes through.
#[tokio::test]
async fn rate_limits_are_transient_with_the_services_wait() {
    install_ring();
    for standin in every_service() {
        standin.fail_next(ChatFault::RateLimited(Duration::from_millis(1500)));
        let err = send(&standin.channel(), &message(), &options()).await.unwrap_err();
        let (reason, retry_after) = transient(Err(err.clone()));
        let expected = match standin.service() {
            ChatService::Discord => Some(Duration::from_millis(1500)),
            ChatService::Ntfy => None,
            _ => Some(Duration::from_secs(2)),
        };
        assert_eq!(retry_after, expected, "{}: {reason}", standin.service());
        assert!(reason.contains("http 429") && reason.contains("rate limited"), "{reason}");
        assert_clean(&err, &standin);
        assert!(standin.delivered().is_empty());
        send(&standin.channel(), &message(), &options()).await.unwrap();
    }
}

/// A service that is down (503) is transient without a wait, for as long as it is down; once it
/// is back, the same send succeeds.
#[tokio::test]
async fn a_service_that_is_down_is_transient_until_it_is_back() {
    install_ring();
    for standin in every_service() {
        standin.set_fault(Some(ChatFault::Down));
        for _ in 0..2 {
            let err = send(&standin.channel(), &message(), &options()).await.unwrap_err();
            let (reason, retry_after) = transient(Err(err.clone()));
            assert!(reason.contains("http 503") && retry_after.is_none(), "{reason}");
            assert!(
                reason.starts_with(&format!("{} ", standin.service()))
                    || reason.starts_with(&format!("{}:", standin.service()))
            );
            assert_clean(&err, &standin);
        }
        standin.set_fault(None);
        send(&standin.channel(), &message(), &options()).await.unwrap();
        assert_eq!(standin.delivered().len(), 1);
    }
}

/// A credential the service refuses (another signing secret, hook token, hook, access token or
/// bot token) is permanent; the error names neither the refused nor the real credential, nor the
/// URL that carries it, and repeats nothing of the answer.
#[tokio::test]
async fn refused_credentials_are_permanent_and_unnamed() {
    install_ring();
    for standin in every_service() {
        let refused = standin.refused_channel();
        let err = send(&refused, &message(), &options()).await.unwrap_err();
        let reason = permanent(Err(err.clone()));
        assert_clean(&err, &standin);
        let refused_secret = match &refused {
            Channel::Webhook { secret, .. } => secret.expose_str().unwrap().to_owned(),
            Channel::Slack { url }
            | Channel::Teams { url }
            | Channel::Discord { url }
            | Channel::Mattermost { url } => url.expose_str().unwrap().rsplit(['/', '=']).next().unwrap().to_owned(),
            Channel::Ntfy { token, .. } => token.as_ref().unwrap().expose_str().unwrap().to_owned(),
            Channel::Telegram { bot_token, .. } => bot_token.expose_str().unwrap().to_owned(),
            Channel::Email(_) => unreachable!(),
        };
        assert!(!reason.contains(&refused_secret), "{reason}");
        let expected = match standin.service() {
            ChatService::Mattermost => "the webhook no longer exists",
            ChatService::Slack => "the credential was refused (403): the webhook's token is not valid",
            ChatService::Discord => "the credential was refused (401): the webhook's token is not valid",
            _ => "the credential was refused (401)",
        };
        assert!(reason.contains(expected), "{}: {reason}", standin.service());
        assert!(standin.delivered().is_empty());
    }
}

/// Telegram's refusals that are not the token's: a chat the bot is not in (400 "chat not found")
/// and a user who blocked the bot (403) are permanent and named in our words.
#[tokio::test]
async fn telegram_unknown_and_blocked_chats_are_permanent() {
    install_ring();
    let standin = ChatStandIn::telegram(TELEGRAM_TOKEN, &[TELEGRAM_CHAT, "@alerts"]);
    let unknown = Channel::Telegram {
        api_base: standin.url(),
        chat_id: "987654".into(),
        bot_token: SecretBytes::from_text(TELEGRAM_TOKEN),
    };
    let err = send(&unknown, &message(), &options()).await.unwrap_err();
    let reason = permanent(Err(err.clone()));
    assert_eq!(reason, "telegram: http 400 from the service: no such chat, or the bot is not in it");
    assert_clean(&err, &standin);

    standin.block_chat(TELEGRAM_CHAT);
    let err = send(&standin.channel(), &message(), &options()).await.unwrap_err();
    assert!(permanent(Err(err.clone())).contains("the bot was blocked"), "{err}");
    assert_clean(&err, &standin);

    let by_name = Channel::Telegram {
        api_base: format!("{}/", standin.url()),
        chat_id: "@alerts".into(),
        bot_token: SecretBytes::from_text(TELEGRAM_TOKEN),
    };
    send(&by_name, &message(), &options()).await.unwrap();
    assert_eq!(standin.delivered()[0].request.body["chat_id"], "@alerts");
}

/// A Discord webhook that was deleted (another id: 404 code 10015) is permanent.
#[tokio::test]
async fn a_deleted_discord_webhook_is_permanent() {
    install_ring();
    let standin = ChatStandIn::discord();
    let url = standin.url().replace("/api/webhooks/", "/api/webhooks/9");
    let err = send(&Channel::Discord { url: SecretBytes::from_text(&url) }, &message(), &options()).await.unwrap_err();
    assert_eq!(permanent(Err(err.clone())), "discord: http 404 from the service: the webhook no longer exists");
    assert_clean(&err, &standin);
}

/// A service that holds the request past the send's timeout is a transient `timeout`; the held
/// request is served once released (the outcome of a timed-out send is unknown, which is why
/// receivers drop repeats by delivery id).
#[tokio::test]
async fn a_held_request_times_out_as_transient() {
    install_ring();
    let standin = ChatStandIn::slack();
    standin.set_fault(Some(ChatFault::Hold));
    let short = SendOptions { timeout: Duration::from_millis(300), ..options() };
    let err = send(&standin.channel(), &message(), &short).await.unwrap_err();
    assert_eq!(transient(Err(err)), ("slack: timeout".to_owned(), None));
    assert_eq!(standin.requests().len(), 1, "the request arrived and was held");
    standin.set_fault(None);
    standin.wait_delivered(1, Duration::from_secs(10)).await.unwrap();
}

/// A 2xx that is not the service's confirmation (a lookalike answering every POST with a page)
/// is not counted as sent: permanent, and the page is not repeated.
#[tokio::test]
async fn a_lookalike_answering_200_is_not_a_delivery() {
    install_ring();
    let page = "<html><title>Welcome to nginx!</title></html>";
    let lookalike = StandIn::start_raw(move |_| (200, "text/html", page.to_owned()));
    for channel in [
        Channel::Slack { url: SecretBytes::from_text(&format!("{}/services/T1/B1/secretsecret", lookalike.url())) },
        Channel::Mattermost { url: SecretBytes::from_text(&format!("{}/hooks/secretsecret", lookalike.url())) },
        Channel::Telegram {
            api_base: lookalike.url(),
            chat_id: "1".into(),
            bot_token: SecretBytes::from_text(TELEGRAM_TOKEN),
        },
    ] {
        let reason = permanent(send(&channel, &message(), &options()).await);
        assert!(reason.contains("without the service's confirmation"), "{reason}");
        assert!(!reason.contains("nginx") && !reason.contains("secretsecret") && !reason.contains(TELEGRAM_TOKEN));
    }
}

/// With loopback refused (the production default), every channel pointed at a stand-in on
/// 127.0.0.1 is refused by the policy, permanently, and the stand-in received nothing: a sentinel
/// request made afterwards is the only one it saw.
#[tokio::test]
async fn egress_policy_refuses_loopback_before_any_request() {
    install_ring();
    let refused = SendOptions { egress: EgressPolicy::default(), timeout: Duration::from_secs(5) };
    for standin in every_service() {
        let err = send(&standin.channel(), &message(), &refused).await.unwrap_err();
        let reason = permanent(Err(err.clone()));
        assert!(reason.contains("egress policy refuses 127.0.0.1"), "{reason}");
        assert_clean(&err, &standin);
        let sentinel = std::thread::spawn({
            let addr = standin.url().trim_start_matches("http://").split('/').next().unwrap().to_owned();
            move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                stream.write_all(b"GET /sentinel HTTP/1.1\r\nHost: standin\r\n\r\n").unwrap();
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                answer
            }
        });
        assert!(tokio::task::spawn_blocking(move || sentinel.join().unwrap()).await.unwrap().starts_with("HTTP/1.1"));
        let paths: Vec<String> = standin.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/sentinel"], "{}: nothing before the sentinel", standin.service());
    }
}

/// Nothing listening is a transient `connection refused`, and even then no credential URL or
/// token is named.
#[tokio::test]
async fn nothing_listening_is_transient() {
    install_ring();
    // Bound and never listening, held for the whole test: connections are refused.
    let held = PortReservation::tcp();
    let base = format!("http://127.0.0.1:{}", held.port());
    let secret = |path: &str| SecretBytes::from_text(&format!("{base}{path}"));
    let channels = [
        Channel::Webhook {
            url: format!("{base}/hook"),
            secret: SecretBytes::from_text(WEBHOOK_SECRET),
            trusted_roots_pem: None,
        },
        Channel::Slack { url: secret("/services/T1/B1/slacksecret0123") },
        Channel::Teams { url: secret("/workflows/w/triggers/manual/paths/invoke?sig=teamssecret0123") },
        Channel::Discord { url: secret("/api/webhooks/1/discordsecret0123") },
        Channel::Mattermost { url: secret("/hooks/mattermostsecret0123") },
        Channel::Ntfy { server: base.clone(), topic: "cap".into(), token: Some(SecretBytes::from_text(NTFY_TOKEN)) },
        Channel::Telegram {
            api_base: base.clone(),
            chat_id: "1".into(),
            bot_token: SecretBytes::from_text(TELEGRAM_TOKEN),
        },
    ];
    for channel in channels {
        let (reason, retry_after) = transient(send(&channel, &message(), &options()).await);
        assert!(reason.ends_with(": connection refused") && retry_after.is_none(), "{reason}");
        for secret in ["secret0123", NTFY_TOKEN, TELEGRAM_TOKEN] {
            assert!(!reason.contains(secret), "{reason}");
        }
    }
}

/// Settings that cannot work are refused before anything is sent, without echoing a secret: an
/// ntfy topic outside `[-_A-Za-z0-9]{1,64}`, a bot token that would change the path, a hook URL
/// that is not a URL.
#[tokio::test]
async fn malformed_settings_are_refused_before_sending() {
    install_ring();
    let ntfy = ChatStandIn::ntfy("cap-alerts", None);
    for topic in ["", "a/b", "naïve", &"t".repeat(65)] {
        let channel = Channel::Ntfy { server: ntfy.url(), topic: topic.into(), token: None };
        let reason = permanent(send(&channel, &message(), &options()).await);
        assert!(reason.starts_with("ntfy: the topic must be"), "{reason}");
    }
    let bad_token = "123:abc/../../other?x=secretsecret";
    let channel =
        Channel::Telegram { api_base: ntfy.url(), chat_id: "1".into(), bot_token: SecretBytes::from_text(bad_token) };
    let reason = permanent(send(&channel, &message(), &options()).await);
    assert!(reason.starts_with("telegram: the bot token") && !reason.contains("secretsecret"), "{reason}");
    let channel = Channel::Slack { url: SecretBytes::from_text("hooks.slack.com/services/T1/B1/secretsecret") };
    let reason = permanent(send(&channel, &message(), &options()).await);
    assert_eq!(reason, "slack: the webhook URL is not an http(s) URL");
    assert!(ntfy.requests().is_empty());
    // An open topic takes no token.
    send(&ntfy.channel(), &message(), &options()).await.unwrap();
    assert!(ntfy.delivered()[0].request.header("authorization").is_none());
}

/// Everything logged on this thread, fields written out.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<String>>);

impl CapturedLog {
    fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

impl tracing::Subscriber for CapturedLog {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        span.record(&mut FieldWriter(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        values.record(&mut FieldWriter(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut log = self.0.lock().unwrap();
        event.record(&mut FieldWriter(&mut log));
        log.push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct FieldWriter<'a>(&'a mut String);

impl tracing::field::Visit for FieldWriter<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

/// A service that echoes the whole request (path, credential header, body) in its refusal, and a
/// port where nothing listens: with everything logged at debug level, the answer reaches the log
/// with what was sent withheld, and no credential URL or token appears anywhere in it.
#[tokio::test]
async fn the_debug_log_never_carries_a_secret() {
    install_ring();
    let log = CapturedLog::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(log.clone()));
    let echo = StandIn::start_answering(|r| {
        StandInAnswer::json(400, json!({ "path": r.path, "authorization": r.header("authorization"), "body": r.text }))
    });
    let held = PortReservation::tcp();
    let secrets = ["slacksecret0123456789", NTFY_TOKEN, TELEGRAM_TOKEN];
    for base in [echo.url(), format!("http://127.0.0.1:{}", held.port())] {
        let channels = [
            Channel::Slack { url: SecretBytes::from_text(&format!("{base}/services/T1/B1/{}", secrets[0])) },
            Channel::Ntfy {
                server: base.clone(),
                topic: "cap".into(),
                token: Some(SecretBytes::from_text(NTFY_TOKEN)),
            },
            Channel::Telegram {
                api_base: base.clone(),
                chat_id: "1".into(),
                bot_token: SecretBytes::from_text(TELEGRAM_TOKEN),
            },
        ];
        for channel in channels {
            send(&channel, &message(), &options()).await.unwrap_err();
        }
    }
    let text = log.text();
    assert!(text.contains("remote detail") && text.contains("[sent]"), "the echoes were logged, withheld: {text}");
    for secret in secrets {
        assert!(!text.contains(secret), "`{secret}` logged: {text}");
    }
}

/// One raw HTTP/1.1 POST, for checking a stand-in's own contract.
async fn post_raw(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut request = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let addr = addr.to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    })
    .await
    .unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// The stand-ins refuse what their services document refusing, so a client that passes them
/// keeps to the contract: Discord's 2,001-character content (400, 50035), Slack without text
/// (`no_text`), Telegram's 4,097-character text, ntfy's 4,097-byte body (an attachment, refused),
/// a Teams body that is no card, Mattermost without text, a webhook signed with another secret.
#[tokio::test]
async fn standins_refuse_what_their_services_refuse() {
    const JSON: (&str, &str) = ("Content-Type", "application/json");
    let discord = ChatStandIn::discord();
    let (status, body) = post_raw(&discord.url(), &[JSON], &json!({ "content": "x".repeat(2001) }).to_string()).await;
    assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()["code"].clone()), (400, json!(50035)));
    assert_eq!(post_raw(&discord.url(), &[JSON], "{}").await.0, 400);

    let slack = ChatStandIn::slack();
    assert_eq!(post_raw(&slack.url(), &[JSON], r#"{"blocks":[]}"#).await, (400, "no_text".to_owned()));
    let header = json!({ "text": "t", "blocks": [{ "type": "header", "text": { "type": "plain_text", "text": "h".repeat(151) } }] });
    assert_eq!(post_raw(&slack.url(), &[JSON], &header.to_string()).await, (400, "invalid_blocks".to_owned()));

    let telegram = ChatStandIn::telegram(TELEGRAM_TOKEN, &[TELEGRAM_CHAT]);
    let url = format!("{}/bot{TELEGRAM_TOKEN}/sendMessage", telegram.url());
    let long = json!({ "chat_id": TELEGRAM_CHAT, "text": "x".repeat(4097) }).to_string();
    let (status, body) = post_raw(&url, &[JSON], &long).await;
    assert_eq!((status, body.contains("message is too long")), (400, true));

    let ntfy = ChatStandIn::ntfy("cap-alerts", None);
    let (status, body) = post_raw(&format!("{}/cap-alerts", ntfy.url()), &[], &"x".repeat(4097)).await;
    assert_eq!((status, body.contains("40014")), (400, true));
    assert_eq!(post_raw(&format!("{}/cap-alerts", ntfy.url()), &[("Priority", "9")], "x").await.0, 400);

    let teams = ChatStandIn::teams();
    assert_eq!(post_raw(&teams.url(), &[JSON], r#"{"text":"not a card"}"#).await.0, 400);

    let mattermost = ChatStandIn::mattermost();
    assert_eq!(post_raw(&mattermost.url(), &[JSON], r#"{"props":{}}"#).await.0, 400);

    let webhook = ChatStandIn::webhook(WEBHOOK_SECRET);
    let now = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).to_string();
    let forged = certautopilot_connectors::targets::signature(b"another secret", &now, b"{}");
    let headers = [JSON, (TIMESTAMP_HEADER, now.as_str()), (SIGNATURE_HEADER, forged.as_str())];
    assert_eq!(post_raw(&webhook.url(), &headers, "{}").await.0, 401);

    for standin in [&discord, &slack, &telegram, &ntfy, &teams, &mattermost, &webhook] {
        assert!(standin.delivered().is_empty(), "{}", standin.service());
    }
}
