//! E-mail through an SMTP relay (RFC 5321), spoken here over tokio: one connection per send,
//! opened only through the egress policy, the whole exchange bounded by `SendOptions::timeout`.
//! Invariant: a password crosses only a TLS connection whose certificate verified, and an error
//! names the relay, the step and the reply code, never the relay's words nor a credential.
//!
//! Design:
//! - Security: `Starttls` reads EHLO, requires STARTTLS in it, upgrades, and says EHLO again
//!   (RFC 3207 §4.2: what was learnt before TLS is forgotten); `Tls` speaks TLS from the first
//!   byte (RFC 8314); `None` stays plain and is refused before connecting when credentials are set.
//!   Octets the relay sent after its STARTTLS answer, before the handshake, end the exchange: they
//!   would otherwise be read as if they had come over TLS (the STARTTLS command injection flaw).
//! - Replies: `250-…` lines continue, `250 …` (or a bare code) ends; every line of one reply has the
//!   same code; a line is at most `MAX_REPLY_LINE` octets and a reply `MAX_REPLY_LINES` lines.
//! - Classification: 4xx, connection failures and the timeout are transient; 5xx permanent, as are
//!   a refused egress address and a certificate that does not verify (`failure::NetFailure`). A
//!   malformed or unexpected reply is transient, as `NetFailure::Protocol` is.
//! - Once the relay accepted the message (2xx after the final `.`) the send has succeeded: QUIT
//!   runs after, on its own short deadline, and its fate changes nothing. A repeat that still
//!   happens (an acceptance lost to the timeout) carries the same `Message-ID`.

mod message;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use certautopilot_core::crypto::SecretBytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{EmailChannel, Message, SendError, SendOptions};
use crate::failure::{NetFailure, log_remote_detail, remote_detail_wanted};

/// How the connection to the relay is protected: the stored setting's own type.
pub use certautopilot_core::model::SmtpSecurity;

/// RFC 5321 §4.5.3.1.5 allows reply lines of 512 octets; relays with long EHLO lines exceed it, so
/// four times that, and no more, is read.
const MAX_REPLY_LINE: usize = 2048;
/// EHLO answers run to a dozen lines; a reply longer than this is not an SMTP relay's.
const MAX_REPLY_LINES: usize = 64;
/// How long QUIT may take after the message was accepted, within what is left of the send's timeout.
const QUIT_WAIT: Duration = Duration::from_secs(5);

pub(super) async fn send(email: &EmailChannel, message: &Message, options: &SendOptions) -> Result<String, SendError> {
    let relay = relay_name(email);
    let permanent = |why: String| SendError::Permanent(format!("{relay}: {why}"));
    let credentials = match (&email.username, &email.password) {
        (Some(_), Some(_)) if email.security == SmtpSecurity::None => {
            return Err(permanent(
                "credentials are never sent over a plain connection; use starttls or tls security".into(),
            ));
        }
        (Some(username), Some(_)) if username.contains('\0') => {
            return Err(permanent("the username contains a NUL character".into()));
        }
        (Some(username), Some(password)) => Some(Credentials { username, password }),
        (None, None) => None,
        _ => return Err(permanent("a username and a password go together".into())),
    };
    let data = message::render(&email.from, &email.to, message, time::OffsetDateTime::now_utc())
        .map_err(|invalid| permanent(invalid.to_string()))?;
    let tls = match email.security {
        SmtpSecurity::None => None,
        SmtpSecurity::Starttls | SmtpSecurity::Tls => {
            let config = crate::https::tls_client_config(email.trusted_roots_pem.as_deref()).map_err(permanent)?;
            let host = email.host.trim_start_matches('[').trim_end_matches(']').to_owned();
            let name = ServerName::try_from(host).map_err(|_| permanent("the host is not a valid TLS name".into()))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        }
    };
    let delivery = Delivery { email, relay: &relay, credentials, tls };
    let deadline = tokio::time::Instant::now() + options.timeout;
    let (summary, mut connection) = match tokio::time::timeout_at(deadline, delivery.run(&data, options)).await {
        Ok(result) => result?,
        Err(_) => return Err(SendError::Transient { reason: format!("{relay}: timeout"), retry_after: None }),
    };
    // QUIT gets what is left of the send's time, at most QUIT_WAIT.
    let _ = tokio::time::timeout_at(deadline.min(tokio::time::Instant::now() + QUIT_WAIT), connection.quit()).await;
    tracing::debug!(relay = %relay, recipients = email.to.len(), "smtp relay accepted a notification");
    Ok(summary)
}

/// `smtp host:port`, as errors and summaries name the relay.
fn relay_name(email: &EmailChannel) -> String {
    let host = email.host.escape_debug().to_string();
    if host.contains(':') && !host.starts_with('[') {
        format!("smtp [{host}]:{}", email.port)
    } else {
        format!("smtp {host}:{}", email.port)
    }
}

struct Credentials<'a> {
    username: &'a str,
    password: &'a SecretBytes,
}

/// One send's settings, checked; `run` is the exchange itself.
struct Delivery<'a> {
    email: &'a EmailChannel,
    relay: &'a str,
    credentials: Option<Credentials<'a>>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Delivery<'_> {
    /// Connects, sends the message, and returns the summary with the connection still open for QUIT.
    async fn run(self, data: &[u8], options: &SendOptions) -> Result<(String, Connection), SendError> {
        let relay = self.relay;
        let tcp = options
            .egress
            .connect_tcp(&self.email.host, self.email.port)
            .await
            .map_err(|e| unreachable(relay, None, &e))?;
        let ehlo_name = match tcp.local_addr() {
            Ok(std::net::SocketAddr::V4(local)) => format!("[{}]", local.ip()),
            Ok(std::net::SocketAddr::V6(local)) => format!("[IPv6:{}]", local.ip()),
            Err(_) => "localhost".to_owned(),
        };
        let stream = match (&self.tls, self.email.security) {
            (Some((connector, name)), SmtpSecurity::Tls) => {
                let tls = connector.connect(name.clone(), tcp).await.map_err(|e| unreachable(relay, None, &e))?;
                Stream::Tls(Box::new(tls))
            }
            _ => Stream::Plain(tcp),
        };
        let mut connection = Connection { relay: relay.to_owned(), stream, buffer: Vec::new() };
        let greeting = connection.reply("greeting").await?;
        connection.expect("greeting", &greeting, 2)?;
        // HELO is good enough for an old local relay; STARTTLS and AUTH need EHLO.
        let helo_allowed = self.email.security == SmtpSecurity::None && self.credentials.is_none();
        let mut extensions = connection.ehlo(&ehlo_name, helo_allowed).await?;
        if self.email.security == SmtpSecurity::Starttls {
            if !extensions.offers("STARTTLS") {
                return Err(SendError::Permanent(format!("{relay}: the relay does not offer STARTTLS")));
            }
            connection.command_expecting("STARTTLS", b"STARTTLS\r\n", 2).await?;
            let Some((connector, name)) = &self.tls else {
                return Err(SendError::Permanent(format!("{relay}: no TLS settings for STARTTLS")));
            };
            connection = connection.start_tls(connector, name.clone()).await?;
            extensions = connection.ehlo(&ehlo_name, false).await?;
        }
        if let Some(credentials) = &self.credentials {
            connection.authenticate(&extensions, credentials).await?;
        }
        connection.command_expecting("MAIL FROM", format!("MAIL FROM:<{}>\r\n", self.email.from).as_bytes(), 2).await?;
        for recipient in &self.email.to {
            let step = format!("RCPT TO <{recipient}>");
            connection.command_expecting(&step, format!("RCPT TO:<{recipient}>\r\n").as_bytes(), 2).await?;
        }
        connection.command_expecting("DATA", b"DATA\r\n", 3).await?;
        connection.write("message", data).await?;
        connection.command_expecting("message", b".\r\n", 2).await?;
        let count = self.email.to.len();
        let summary =
            format!("{relay} accepted the message for {count} recipient{}", if count == 1 { "" } else { "s" });
        Ok((summary, connection))
    }
}

/// The classified reason a connection failed or broke; permanent when retrying cannot help (the
/// egress policy, a certificate that does not verify).
fn unreachable(relay: &str, step: Option<&str>, error: &(dyn std::error::Error + 'static)) -> SendError {
    let what = match step {
        Some(step) => format!("{relay}: {step}"),
        None => relay.to_owned(),
    };
    let reason = NetFailure::classify(&what, error);
    if reason.is_transient() {
        SendError::Transient { reason: format!("{what}: {reason}"), retry_after: None }
    } else {
        SendError::Permanent(format!("{what}: {reason}"))
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One reply: its code and the text of each line (kept for EHLO's keywords and the debug log).
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    code: u16,
    lines: Vec<String>,
}

/// What EHLO announced: each line after the first, as a keyword and its parameters (uppercased).
struct Extensions(Vec<Vec<String>>);

impl Extensions {
    fn offers(&self, keyword: &str) -> bool {
        self.0.iter().any(|words| words.first().is_some_and(|k| k == keyword))
    }

    /// The AUTH mechanisms offered, in `AUTH PLAIN LOGIN` or the older `AUTH=PLAIN LOGIN` form.
    fn auth_mechanisms(&self) -> Vec<&str> {
        let mut mechanisms = Vec::new();
        for words in &self.0 {
            match words.split_first() {
                Some((keyword, rest)) if keyword == "AUTH" => mechanisms.extend(rest.iter().map(String::as_str)),
                Some((keyword, rest)) if keyword.starts_with("AUTH=") => {
                    mechanisms.push(&keyword["AUTH=".len()..]);
                    mechanisms.extend(rest.iter().map(String::as_str));
                }
                _ => {}
            }
        }
        mechanisms
    }
}

struct Connection {
    relay: String,
    stream: Stream,
    /// Read from the relay, not yet taken as a line.
    buffer: Vec<u8>,
}

impl Connection {
    async fn write(&mut self, step: &str, bytes: &[u8]) -> Result<(), SendError> {
        let written = match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(bytes).await,
            Stream::Tls(tls) => match tls.write_all(bytes).await {
                Ok(()) => tls.flush().await,
                Err(e) => Err(e),
            },
        };
        written.map_err(|e| unreachable(&self.relay, Some(step), &e))
    }

    /// One line without its CRLF (a bare LF is accepted too).
    async fn read_line(&mut self, step: &str) -> Result<Vec<u8>, SendError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                if end > MAX_REPLY_LINE {
                    return Err(self.malformed(step));
                }
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buffer.len() > MAX_REPLY_LINE {
                return Err(self.malformed(step));
            }
            let mut chunk = [0u8; 1024];
            let read = match &mut self.stream {
                Stream::Plain(tcp) => tcp.read(&mut chunk).await,
                Stream::Tls(tls) => tls.read(&mut chunk).await,
            };
            match read {
                Ok(0) => {
                    let closed = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
                    return Err(unreachable(&self.relay, Some(step), &closed));
                }
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(unreachable(&self.relay, Some(step), &e)),
            }
        }
    }

    async fn reply(&mut self, step: &str) -> Result<Reply, SendError> {
        let (mut code, mut lines) = (None, Vec::new());
        loop {
            let line = self.read_line(step).await?;
            let Some((this, more, text)) = parse_reply_line(&line) else {
                return Err(self.malformed(step));
            };
            if code.is_some_and(|c| c != this) || lines.len() >= MAX_REPLY_LINES {
                return Err(self.malformed(step));
            }
            code = Some(this);
            lines.push(text);
            if !more {
                return Ok(Reply { code: this, lines });
            }
        }
    }

    /// Sends `command` (with its CRLF) and takes the reply, which must be of class `class` (2, 3).
    async fn command_expecting(&mut self, step: &str, command: &[u8], class: u16) -> Result<Reply, SendError> {
        self.write(step, command).await?;
        let reply = self.reply(step).await?;
        self.expect(step, &reply, class)?;
        Ok(reply)
    }

    /// `Ok` when `reply` is of class `class`; otherwise the step and the code, the relay's text
    /// only in the debug log. 4xx: transient; 5xx: permanent.
    fn expect(&self, step: &str, reply: &Reply, class: u16) -> Result<(), SendError> {
        if reply.code / 100 == class {
            return Ok(());
        }
        if remote_detail_wanted() {
            log_remote_detail(&format!("{}: {step}", self.relay), &reply.lines.join("\n"));
        }
        let code = reply.code;
        let relay = &self.relay;
        Err(match code / 100 {
            4 => SendError::Transient { reason: format!("{relay}: {step} refused ({code})"), retry_after: None },
            5 => SendError::Permanent(format!("{relay}: {step} refused ({code})")),
            _ => SendError::Transient {
                reason: format!("{relay}: {step}: unexpected reply ({code})"),
                retry_after: None,
            },
        })
    }

    fn malformed(&self, step: &str) -> SendError {
        SendError::Transient { reason: format!("{}: {step}: {}", self.relay, NetFailure::Protocol), retry_after: None }
    }

    /// EHLO (HELO when allowed and EHLO is refused permanently), and what it announced.
    async fn ehlo(&mut self, name: &str, helo_allowed: bool) -> Result<Extensions, SendError> {
        self.write("EHLO", format!("EHLO {name}\r\n").as_bytes()).await?;
        let reply = self.reply("EHLO").await?;
        if helo_allowed && reply.code / 100 == 5 {
            self.command_expecting("HELO", format!("HELO {name}\r\n").as_bytes(), 2).await?;
            return Ok(Extensions(Vec::new()));
        }
        self.expect("EHLO", &reply, 2)?;
        let announced = reply.lines.iter().skip(1);
        Ok(Extensions(announced.map(|l| l.split_whitespace().map(str::to_ascii_uppercase).collect()).collect()))
    }

    /// Upgrades the plain connection after the relay's 220 to STARTTLS.
    async fn start_tls(self, connector: &TlsConnector, name: ServerName<'static>) -> Result<Connection, SendError> {
        let Connection { relay, stream, buffer } = self;
        let Stream::Plain(tcp) = stream else {
            return Err(SendError::Permanent(format!("{relay}: STARTTLS on a TLS connection")));
        };
        if !buffer.is_empty() {
            // Sent before the handshake, so not protected by it: never to be read as if it were.
            return Err(SendError::Permanent(format!("{relay}: STARTTLS: the relay sent data before the handshake")));
        }
        let tls = connector.connect(name, tcp).await.map_err(|e| unreachable(&relay, Some("STARTTLS"), &e))?;
        Ok(Connection { relay, stream: Stream::Tls(Box::new(tls)), buffer })
    }

    /// AUTH PLAIN when offered, else AUTH LOGIN. What carries the password is wiped once sent.
    async fn authenticate(&mut self, extensions: &Extensions, credentials: &Credentials<'_>) -> Result<(), SendError> {
        let mechanisms = extensions.auth_mechanisms();
        let relay = self.relay.clone();
        if mechanisms.contains(&"PLAIN") {
            let mut plain = Vec::with_capacity(credentials.username.len() + credentials.password.len() + 2);
            plain.push(0);
            plain.extend_from_slice(credentials.username.as_bytes());
            plain.push(0);
            plain.extend_from_slice(credentials.password.expose());
            let plain = SecretBytes::new(plain);
            let line = secret_line("AUTH PLAIN ", &plain);
            self.write("AUTH PLAIN", line.expose()).await?;
            let reply = self.reply("AUTH PLAIN").await?;
            return self.authenticated("AUTH PLAIN", &reply);
        }
        if mechanisms.contains(&"LOGIN") {
            self.command_expecting("AUTH LOGIN", b"AUTH LOGIN\r\n", 3).await?;
            let username = SecretBytes::from_text(credentials.username);
            self.write("AUTH LOGIN", secret_line("", &username).expose()).await?;
            let reply = self.reply("AUTH LOGIN").await?;
            if reply.code / 100 != 3 {
                return self.authenticated("AUTH LOGIN", &reply);
            }
            self.write("AUTH LOGIN", secret_line("", credentials.password).expose()).await?;
            let reply = self.reply("AUTH LOGIN").await?;
            return self.authenticated("AUTH LOGIN", &reply);
        }
        Err(SendError::Permanent(format!("{relay}: the relay offers neither AUTH PLAIN nor AUTH LOGIN")))
    }

    /// The outcome of AUTH: 235 (any 2xx) passes; 535 is the credentials' refusal.
    fn authenticated(&self, step: &str, reply: &Reply) -> Result<(), SendError> {
        if reply.code == 535 {
            if remote_detail_wanted() {
                log_remote_detail(&format!("{}: {step}", self.relay), &reply.lines.join("\n"));
            }
            return Err(SendError::Permanent(format!("{}: the relay refused the credentials (535)", self.relay)));
        }
        self.expect(step, reply, 2)
    }

    /// QUIT, its reply, and TLS's close_notify; failures change nothing (the message is accepted).
    async fn quit(&mut self) {
        if self.write("QUIT", b"QUIT\r\n").await.is_ok() {
            let _ = self.reply("QUIT").await;
        }
        let _ = match &mut self.stream {
            Stream::Plain(tcp) => tcp.shutdown().await,
            Stream::Tls(tls) => tls.shutdown().await,
        };
    }
}

/// `prefix` and `secret` in base64, with CRLF, in a buffer sized once and wiped when dropped.
fn secret_line(prefix: &str, secret: &SecretBytes) -> SecretBytes {
    let encoded = base64::encoded_len(secret.len(), true).unwrap_or(0);
    let mut line = String::with_capacity(prefix.len() + encoded + 2);
    line.push_str(prefix);
    BASE64.encode_string(secret.expose(), &mut line);
    line.push_str("\r\n");
    SecretBytes::new(line.into_bytes())
}

/// `250-text` → (250, true, "text"); `250 text` and `250` → (250, false, …). The code's first digit
/// is 2 to 5 (RFC 5321 §4.2.1); anything else is not a reply line.
fn parse_reply_line(line: &[u8]) -> Option<(u16, bool, String)> {
    let digits = line.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) || !(b'2'..=b'5').contains(&digits[0]) {
        return None;
    }
    let code = digits.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let (more, text) = match line.get(3) {
        None => (false, &line[3..]),
        Some(b' ') => (false, &line[4..]),
        Some(b'-') => (true, &line[4..]),
        Some(_) => return None,
    };
    Some((code, more, String::from_utf8_lossy(text).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reply lines parse to code, continuation and text; a line that is not one is refused.
    #[test]
    fn reply_lines_parse() {
        assert_eq!(parse_reply_line(b"250-smtp.test"), Some((250, true, "smtp.test".into())));
        assert_eq!(parse_reply_line(b"250 HELP"), Some((250, false, "HELP".into())));
        assert_eq!(parse_reply_line(b"354"), Some((354, false, String::new())));
        for bad in [&b"25"[..], b"250x", b"hello", b"150 x", b"650 x", b"2a0 x"] {
            assert_eq!(parse_reply_line(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    /// AUTH mechanisms are read from both spellings; other keywords are not mechanisms.
    #[test]
    fn auth_mechanisms_are_read_from_ehlo() {
        let words = |l: &str| l.split_whitespace().map(str::to_ascii_uppercase).collect::<Vec<_>>();
        let extensions = Extensions(vec![words("SIZE 1000"), words("AUTH=LOGIN"), words("auth plain cram-md5")]);
        assert_eq!(extensions.auth_mechanisms(), vec!["LOGIN", "PLAIN", "CRAM-MD5"]);
        assert!(!extensions.offers("STARTTLS"));
        assert!(Extensions(vec![words("starttls")]).offers("STARTTLS"));
    }

    /// The credential line is base64 of the secret, with CRLF.
    #[test]
    fn secret_lines_are_base64() {
        let line = secret_line("AUTH PLAIN ", &SecretBytes::new(b"\0u\0p".to_vec()));
        assert_eq!(line.expose(), b"AUTH PLAIN AHUAcA==\r\n");
    }
}
