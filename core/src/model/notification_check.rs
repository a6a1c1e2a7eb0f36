//! Checks of a notification channel's settings and secret before anything is stored: addresses,
//! URLs, topics and tokens in the shapes the services accept, so a typo is refused with the field
//! it is in rather than found at the first failed delivery.
//! Invariant: an error names the field and what is wrong with it, never the secret's value.

use crate::model::notification::{MAX_RECIPIENTS, NotificationError};
use crate::model::{ChannelSettings, SecretNeed, SmtpSecurity};

fn refuse(field: &'static str, reason: impl Into<String>) -> Result<(), NotificationError> {
    Err(NotificationError { field, reason: reason.into() })
}

/// An `https://` URL, or `http://` to a loopback host (`checks::url`, as for every URL we send to).
fn check_url(field: &'static str, url: &str) -> Result<(), NotificationError> {
    crate::model::checks::url(field, url).map(drop).map_err(|e| NotificationError { field, reason: e.message })
}

/// An address as e-mail channels send it (bare, in angle brackets on the envelope): printable
/// ASCII, one `@` with something on both sides, nothing that could end a command or a header, at
/// most 254 characters (RFC 5321 §4.5.3.1.3: a path is 256 octets with its angle brackets). The one
/// check: the SMTP sender applies it too.
pub fn mail_address_ok(address: &str) -> bool {
    let plain = |b: u8| b.is_ascii_graphic() && !b"<>()[]\\,;:\"".contains(&b);
    address.len() <= 254
        && address.bytes().all(plain)
        && address.bytes().filter(|b| *b == b'@').count() == 1
        && !address.starts_with('@')
        && !address.ends_with('@')
}

fn check_address(field: &'static str, address: &str) -> Result<(), NotificationError> {
    if mail_address_ok(address) { Ok(()) } else { refuse(field, format!("{address:?} is not an e-mail address")) }
}

/// PEM certificates, at most 64 KiB: what is trusted for the relay or receiver.
fn check_roots(field: &'static str, pem: Option<&str>) -> Result<(), NotificationError> {
    let Some(pem) = pem else { return Ok(()) };
    let certificates = pem.matches("-----BEGIN CERTIFICATE-----").count();
    if pem.len() > 65_536 || certificates == 0 || certificates != pem.matches("-----END CERTIFICATE-----").count() {
        return refuse(field, "PEM certificates (-----BEGIN CERTIFICATE-----), at most 64 KiB");
    }
    Ok(())
}

fn check_host(field: &'static str, host: &str) -> Result<(), NotificationError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok { Ok(()) } else { refuse(field, "must be a host name or an IP address") }
}

impl ChannelSettings {
    /// Checks the settings alone.
    pub fn validate(&self) -> Result<(), NotificationError> {
        match self {
            ChannelSettings::Email { host, port, security, username, from, to, trusted_roots_pem } => {
                check_host("settings.host", host)?;
                check_roots("settings.trusted_roots_pem", trusted_roots_pem.as_deref())?;
                if *port == 0 {
                    return refuse("settings.port", "must be 1 to 65535");
                }
                if username.is_some() && *security == SmtpSecurity::None {
                    return refuse("settings.security", "credentials are never sent without TLS: use starttls or tls");
                }
                if let Some(user) = username
                    && (user.is_empty() || user.len() > 256 || user.chars().any(char::is_control))
                {
                    return refuse("settings.username", "1 to 256 characters, no control characters");
                }
                check_address("settings.from", from)?;
                if to.is_empty() || to.len() > MAX_RECIPIENTS {
                    return refuse("settings.to", "name 1 to 20 recipients");
                }
                to.iter().try_for_each(|a| check_address("settings.to", a))
            }
            ChannelSettings::Webhook { url, trusted_roots_pem } => {
                check_url("settings.url", url)?;
                check_roots("settings.trusted_roots_pem", trusted_roots_pem.as_deref())
            }
            ChannelSettings::Ntfy { server_url, topic } => {
                check_url("settings.server_url", server_url)?;
                let ok = !topic.is_empty()
                    && topic.len() <= 64
                    && topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
                if ok { Ok(()) } else { refuse("settings.topic", "1 to 64 letters, digits, - or _") }
            }
            ChannelSettings::Telegram { chat_id, api_base_url } => {
                let digits = chat_id.strip_prefix('-').unwrap_or(chat_id);
                let numeric = !digits.is_empty() && digits.len() <= 20 && digits.chars().all(|c| c.is_ascii_digit());
                let username = chat_id.strip_prefix('@').is_some_and(|u| {
                    (5..=32).contains(&u.len()) && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
                if !numeric && !username {
                    return refuse("settings.chat_id", "a numeric chat id or an @channelusername");
                }
                match api_base_url {
                    Some(url) => check_url("settings.api_base_url", url),
                    None => Ok(()),
                }
            }
            ChannelSettings::Slack {}
            | ChannelSettings::Teams {}
            | ChannelSettings::Discord {}
            | ChannelSettings::Mattermost {} => Ok(()),
        }
    }

    /// Checks a secret given for these settings (`None`: none given), whether one is needed, and its
    /// shape; `stored` says a secret is already kept (an update may leave it out).
    pub fn check_secret(&self, secret: Option<&str>, stored: bool) -> Result<(), NotificationError> {
        let Some(secret) = secret else {
            return if self.secret_need() == SecretNeed::Required && !stored {
                refuse("secret", format!("{} is required", self.secret_name()))
            } else {
                Ok(())
            };
        };
        if secret.is_empty() || secret.len() > 4_096 || secret.chars().any(char::is_control) {
            return refuse(
                "secret",
                format!("{} must be 1 to 4096 characters, no control characters", self.secret_name()),
            );
        }
        match self {
            ChannelSettings::Email { username: None, .. } => refuse("secret", "a password needs a username"),
            ChannelSettings::Webhook { .. } if secret.len() < 16 => {
                refuse("secret", "the signing secret must be at least 16 characters")
            }
            ChannelSettings::Slack {}
            | ChannelSettings::Teams {}
            | ChannelSettings::Discord {}
            | ChannelSettings::Mattermost {} => {
                // The URL is the secret: checked without echoing it.
                check_url("secret", secret).map_err(|_| NotificationError {
                    field: "secret",
                    reason:
                        "the incoming-webhook URL must be an https:// URL with a host (http:// only to a loopback host)"
                            .into(),
                })
            }
            ChannelSettings::Telegram { .. } => {
                let ok = secret.split_once(':').is_some_and(|(id, key)| {
                    !id.is_empty()
                        && id.chars().all(|c| c.is_ascii_digit())
                        && key.len() >= 20
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
                });
                if ok { Ok(()) } else { refuse("secret", "a bot token looks like 123456:ABC-DEF…") }
            }
            _ => Ok(()),
        }
    }
}
