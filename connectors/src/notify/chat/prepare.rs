//! Each channel's request: where it goes, its headers and body, how errors name it, and which of
//! its parts are secret. Checks a setting before anything is sent and refuses it without echoing
//! it (a malformed secret URL is still a secret).

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};

use super::exchange::Post;
use super::{DELIVERY_HEADER, EVENT_HEADER, Service, USER_AGENT, render};
use crate::notify::{Channel, Message, SendError};
use crate::targets::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

const JSON: &str = "application/json";

pub(super) fn post_for(channel: &Channel, message: &Message) -> Result<(Service, Post), SendError> {
    match channel {
        Channel::Email(_) => Err(SendError::Permanent("email is not a chat channel".into())),
        Channel::Webhook { url, secret, trusted_roots_pem } => {
            let uri = http_url(url).ok_or_else(|| refused("webhook", "the URL is not an http(s) URL"))?;
            let what = format!("webhook {}", shown(&uri));
            let body = json_body(&render::webhook(message));
            let timestamp = certautopilot_core::Timestamp::now().as_unix_millis().div_euclid(1_000).to_string();
            let signed = signature(secret.expose(), &timestamp, &body);
            let headers = vec![
                (CONTENT_TYPE, HeaderValue::from_static(JSON)),
                (HeaderName::from_static(DELIVERY_HEADER), header(&what, "the delivery id", &message.delivery_id)?),
                (HeaderName::from_static(EVENT_HEADER), header(&what, "the event", &message.event)?),
                (HeaderName::from_static(TIMESTAMP_HEADER), header(&what, "the timestamp", &timestamp)?),
                (HeaderName::from_static(SIGNATURE_HEADER), header(&what, "the signature", &signed)?),
            ];
            let sent = vec![String::from_utf8_lossy(&body).into_owned()];
            Ok((Service::Webhook, post(what, uri, headers, body, trusted_roots_pem.clone(), sent)))
        }
        Channel::Slack { url } => secret_hook(Service::Slack, url.expose_str(), render::slack(message)),
        Channel::Teams { url } => secret_hook(Service::Teams, url.expose_str(), render::teams(message)),
        Channel::Mattermost { url } => secret_hook(Service::Mattermost, url.expose_str(), render::mattermost(message)),
        Channel::Discord { url } => {
            // `wait=true`: Discord answers 200 with the message once it is stored, rather than 204
            // before, so an error in the message comes back to us.
            let url = url.expose_str().map(|u| match u.split_once('?') {
                Some((_, query)) if query.split('&').any(|p| p.starts_with("wait=")) => u.to_owned(),
                Some(_) => format!("{u}&wait=true"),
                None => format!("{u}?wait=true"),
            });
            secret_hook(Service::Discord, url.as_deref(), render::discord(message))
        }
        Channel::Ntfy { server, topic, token } => {
            let valid_topic = (1..=64).contains(&topic.len())
                && topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !valid_topic {
                return Err(refused("ntfy", "the topic must be 1 to 64 letters, digits, `-` or `_`"));
            }
            let server = server.trim_end_matches('/');
            let uri = http_url(&format!("{server}/{topic}"))
                .filter(|u| u.query().is_none())
                .ok_or_else(|| refused("ntfy", "the server is not an http(s) URL"))?;
            let what = format!("ntfy {}", shown(&uri));
            let publish = render::ntfy(message);
            let mut headers = vec![
                (CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
                (HeaderName::from_static("title"), header(&what, "the title", &publish.title)?),
                (HeaderName::from_static("priority"), HeaderValue::from_static(publish.priority)),
                (HeaderName::from_static("tags"), header(&what, "the tags", &publish.tags)?),
            ];
            let mut sent = vec![publish.body.clone()];
            if let Some(token) = token {
                let token = token.expose_str().unwrap_or_default();
                let mut bearer = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| refused(&what, "the access token is not a valid header value"))?;
                bearer.set_sensitive(true);
                headers.push((AUTHORIZATION, bearer));
                sent.push(token.to_owned());
            }
            Ok((Service::Ntfy, post(what, uri, headers, publish.body.into_bytes(), None, sent)))
        }
        Channel::Telegram { api_base, chat_id, bot_token } => {
            let token = bot_token.expose_str().unwrap_or_default();
            // Tokens are `<bot id>:<secret>`; anything else would change the path it is put in.
            if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b":_-".contains(&b)) {
                return Err(refused("telegram", "the bot token has characters a bot token never has"));
            }
            if chat_id.trim().is_empty() {
                return Err(refused("telegram", "the chat id is empty"));
            }
            let base = api_base.trim_end_matches('/');
            if http_url(base).is_none_or(|u| u.query().is_some()) {
                return Err(refused("telegram", "the API base is not an http(s) URL"));
            }
            let uri = http_url(&format!("{base}/bot{token}/sendMessage"))
                .ok_or_else(|| refused("telegram", "the API base is not an http(s) URL"))?;
            let body = json_body(&render::telegram(message, chat_id.trim()));
            let headers = vec![(CONTENT_TYPE, HeaderValue::from_static(JSON))];
            let sent = vec![String::from_utf8_lossy(&body).into_owned(), token.to_owned()];
            Ok((Service::Telegram, post("telegram".into(), uri, headers, body, None, sent)))
        }
    }
}

/// An incoming webhook whose URL is the credential: errors call it by its kind only.
fn secret_hook(service: Service, url: Option<&str>, document: serde_json::Value) -> Result<(Service, Post), SendError> {
    let kind = service.kind();
    let uri = url.and_then(http_url).ok_or_else(|| refused(kind, "the webhook URL is not an http(s) URL"))?;
    let body = json_body(&document);
    let mut sent = vec![String::from_utf8_lossy(&body).into_owned()];
    sent.extend(secret_parts(&uri));
    let headers = vec![(CONTENT_TYPE, HeaderValue::from_static(JSON))];
    Ok((service, post(kind.to_owned(), uri, headers, body, None, sent)))
}

fn post(
    what: String,
    url: http::Uri,
    mut headers: Vec<(HeaderName, HeaderValue)>,
    body: Vec<u8>,
    trusted_roots_pem: Option<String>,
    sent: Vec<String>,
) -> Post {
    headers.push((http::header::USER_AGENT, HeaderValue::from_static(USER_AGENT)));
    Post { what, url, headers, body, trusted_roots_pem, sent }
}

fn refused(what: &str, why: &str) -> SendError {
    SendError::Permanent(format!("{what}: {why}"))
}

fn json_body(document: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(document).expect("a JSON value serializes")
}

fn header(what: &str, name: &str, value: &str) -> Result<HeaderValue, SendError> {
    HeaderValue::from_str(value).map_err(|_| refused(what, &format!("{name} is not a valid header value")))
}

/// `text` as an absolute http or https URL with a host.
fn http_url(text: &str) -> Option<http::Uri> {
    let uri: http::Uri = text.trim().parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    (scheme_ok && uri.host().is_some_and(|h| !h.is_empty())).then_some(uri)
}

/// A URL that is no secret, as errors show it: without user information or query.
fn shown(uri: &http::Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", uri.scheme_str().unwrap_or("https"), uri.path())
}

/// The parts of a secret URL an answer might echo: the whole, its path and query, and each
/// path segment and query value long enough to be a token.
fn secret_parts(uri: &http::Uri) -> Vec<String> {
    let mut parts = vec![uri.to_string()];
    if let Some(pq) = uri.path_and_query() {
        parts.push(pq.as_str().to_owned());
    }
    parts.extend(uri.path().split('/').filter(|s| s.len() >= 8).map(str::to_owned));
    let query = uri.query().unwrap_or_default();
    parts.extend(form_urlencoded::parse(query.as_bytes()).map(|(_, v)| v.into_owned()).filter(|v| v.len() >= 8));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret URL's parts are all listed for scrubbing; a shown URL drops user information and
    /// the query; only absolute http(s) URLs pass.
    #[test]
    fn urls_are_checked_shown_and_split() {
        let uri = http_url("https://user:pw@hooks.example.com:8443/a/b?sig=0123456789abcdef&x=1").unwrap();
        assert_eq!(shown(&uri), "https://hooks.example.com:8443/a/b");
        let parts = secret_parts(&http_url("https://h.example/services/T1/B2/abcdefghijkl?sig=0123456789").unwrap());
        for part in ["/services/T1/B2/abcdefghijkl?sig=0123456789", "abcdefghijkl", "services", "0123456789"] {
            assert!(parts.iter().any(|p| p == part), "{part} in {parts:?}");
        }
        for bad in ["hooks.slack.com/services/x", "ftp://h/x", "https:///x", "not a url", ""] {
            assert!(http_url(bad).is_none(), "{bad}");
        }
    }
}
