//! The e-mail notification channel against a real SMTP server (aiosmtpd, `testsupport::SmtpServer`)
//! on loopback: STARTTLS, implicit TLS and plain delivery, AUTH PLAIN and LOGIN, what the message
//! looks like to an independent parser (Python's `email`), and how every refusal is classified and
//! worded: the step and the reply code, never the server's text nor the password.
//! "No connection was made" is proven without waiting: a later send that does connect is accepted
//! only after any earlier connection would have been, so the server's connection count after it
//! says whether the refused send reached the server.

use std::time::Duration;

use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::notify::{
    Channel, EmailChannel, Message, SendError, SendOptions, Severity, SmtpSecurity, send,
};
use certautopilot_connectors::testsupport::{PortReservation, SmtpServer, SmtpServerOptions};
use certautopilot_core::crypto::SecretBytes;

const USERNAME: &str = "cap-mailer";
const PASSWORD: &str = "correct-horse-battery-staple";
/// Put into the server's refusals, so a test can show its words never reach an error.
const SERVER_WORDS: &str = "SERVER-SIDE-WORDS";

fn options() -> SendOptions {
    SendOptions { egress: EgressPolicy::allowing_loopback(), timeout: Duration::from_secs(20) }
}

fn message(subject: &str, text: &str) -> Message {
    Message {
        delivery_id: "rule-7.cert_issued.mail-1".into(),
        event: "cert.issued".into(),
        severity: Severity::Info,
        subject: subject.into(),
        text: text.into(),
        data: serde_json::json!({"certificate": "www.example.test"}),
    }
}

fn email(addr: std::net::SocketAddr, security: SmtpSecurity, ca_pem: Option<&str>) -> EmailChannel {
    EmailChannel {
        host: addr.ip().to_string(),
        port: addr.port(),
        security,
        username: None,
        password: None,
        from: "certautopilot@example.test".into(),
        to: vec!["ops@example.test".into()],
        trusted_roots_pem: ca_pem.map(str::to_owned),
    }
}

fn with_credentials(mut email: EmailChannel, password: &str) -> EmailChannel {
    email.username = Some(USERNAME.into());
    email.password = Some(SecretBytes::from_text(password));
    email
}

fn authenticating() -> SmtpServerOptions {
    SmtpServerOptions { auth: Some((USERNAME.into(), PASSWORD.into())), ..SmtpServerOptions::default() }
}

async fn send_email(email: EmailChannel, message: &Message, options: &SendOptions) -> Result<String, SendError> {
    send(&Channel::Email(email), message, options).await
}

fn relay(addr: std::net::SocketAddr) -> String {
    format!("smtp {addr}")
}

/// STARTTLS then AUTH PLAIN delivers one message to two recipients, and Python's own parser reads
/// it back whole: From, To, the non-ASCII subject (RFC 2047), Message-ID from the delivery id, the
/// event header, the body through quoted-printable, and no defects. Lines starting with a dot come
/// out as sent, which they do only if they were stuffed (the server strips one leading dot, and a
/// lone unstuffed `.` would have ended DATA early).
#[tokio::test]
async fn starttls_with_auth_plain_delivers_a_well_formed_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), authenticating());
    let mut channel =
        with_credentials(email(server.starttls_addr(), SmtpSecurity::Starttls, Some(server.ca_pem())), PASSWORD);
    channel.to = vec!["ops@example.test".into(), "security@example.test".into()];
    let subject = "Zertifikat läuft ab: www.example.test ☃";
    let text = "The certificate expires soon.\n.hidden line starting with a dot\n.\nlast line: é = e-acute\n";

    let summary = send_email(channel, &message(subject, text), &options()).await.unwrap();

    assert_eq!(summary, format!("{} accepted the message for 2 recipients", relay(server.starttls_addr())));
    let received = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!((mail.listener.as_str(), mail.secure), ("starttls", true));
    let auth = mail.auth.as_ref().expect("authenticated");
    assert_eq!((auth.mechanism.as_str(), auth.login.as_str()), ("PLAIN", USERNAME));
    assert_eq!(mail.mail_from, "certautopilot@example.test");
    assert_eq!(mail.rcpt_tos, ["ops@example.test", "security@example.test"]);
    assert!(mail.parsed.defects.is_empty(), "{:?}", mail.parsed.defects);
    assert_eq!(mail.header("From"), Some("certautopilot@example.test"));
    assert_eq!(mail.header("To"), Some("ops@example.test, security@example.test"));
    assert_eq!(mail.header("Subject"), Some(subject));
    assert_eq!(mail.header("Message-ID"), Some("<rule-7.cert_issued.mail-1@certautopilot>"));
    assert_eq!(mail.header("X-CertAutoPilot-Event"), Some("cert.issued"));
    assert_eq!(mail.header("MIME-Version"), Some("1.0"));
    assert_eq!(mail.header("Content-Type"), Some("text/plain; charset=\"utf-8\""));
    assert!(mail.header("Date").is_some_and(|d| d.ends_with("+0000")), "{:?}", mail.header("Date"));
    assert_eq!(mail.parsed.body.as_deref().map(|b| b.replace("\r\n", "\n")), Some(text.to_owned()));

    let data = String::from_utf8(mail.data()).unwrap();
    assert!(data.contains("\r\n.hidden line starting with a dot\r\n.\r\nlast line"), "{data}");
    assert!(!data.replace("\r\n", "").contains(['\r', '\n']), "CRLF line endings only: {data:?}");
    assert!(data.split("\r\n").all(|line| line.len() <= 998 && line.is_ascii()), "{data}");
}

/// A relay offering AUTH LOGIN but not PLAIN gets LOGIN.
#[tokio::test]
async fn auth_login_is_used_when_plain_is_not_offered() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        SmtpServer::start(dir.path(), SmtpServerOptions { auth_exclude: vec!["PLAIN".into()], ..authenticating() });
    let channel =
        with_credentials(email(server.starttls_addr(), SmtpSecurity::Starttls, Some(server.ca_pem())), PASSWORD);

    send_email(channel, &message("login", "body"), &options()).await.unwrap();

    let received = server.wait_for_messages(1, Duration::from_secs(10));
    let auth = received[0].auth.as_ref().expect("authenticated");
    assert_eq!((auth.mechanism.as_str(), auth.login.as_str()), ("LOGIN", USERNAME));
}

/// `Tls` security speaks TLS from the first byte (the server's implicit-TLS listener answers
/// nothing else) and authenticates over it.
#[tokio::test]
async fn implicit_tls_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), authenticating());
    let channel = with_credentials(email(server.tls_addr(), SmtpSecurity::Tls, Some(server.ca_pem())), PASSWORD);

    let summary = send_email(channel, &message("implicit", "over tls"), &options()).await.unwrap();

    assert_eq!(summary, format!("{} accepted the message for 1 recipient", relay(server.tls_addr())));
    let received = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!((received[0].listener.as_str(), received[0].secure), ("tls", true));
    assert_eq!(received[0].auth.as_ref().map(|a| a.login.as_str()), Some(USERNAME));
}

/// `None` security without credentials delivers in plain text to a local relay (one that offers
/// STARTTLS, which is not used).
#[tokio::test]
async fn plain_relay_without_auth_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), SmtpServerOptions::default());
    let channel = email(server.starttls_addr(), SmtpSecurity::None, None);

    send_email(channel, &message("plain", "local relay"), &options()).await.unwrap();

    let received = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!((received[0].secure, received[0].auth.is_none()), (false, true));
    assert_eq!(received[0].parsed.body.as_deref().map(str::trim_end), Some("local relay"));
}

/// A wrong password is the relay's 535: permanent, worded as the credentials' refusal with the
/// code, and neither the password nor the server's text ("5.7.8 Authentication credentials
/// invalid") is in it; nothing is delivered.
#[tokio::test]
async fn wrong_password_is_permanent_and_quotes_neither_password_nor_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), authenticating());
    let wrong = "wrong-password-never-in-errors";
    let channel = with_credentials(email(server.starttls_addr(), SmtpSecurity::Starttls, Some(server.ca_pem())), wrong);

    let error = send_email(channel, &message("s", "t"), &options()).await.unwrap_err();

    let expected = format!("{}: the relay refused the credentials (535)", relay(server.starttls_addr()));
    assert_eq!(error, SendError::Permanent(expected));
    let text = format!("{error} {error:?}");
    for secret in [wrong, PASSWORD, "5.7.8", "invalid"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(server.messages().is_empty());
}

/// Without the private CA in `trusted_roots_pem` the relay's certificate does not verify, over
/// STARTTLS and over implicit TLS alike: permanent, and named as such; the password is never sent
/// (the server saw no AUTH, and nothing was delivered).
#[tokio::test]
async fn an_untrusted_certificate_is_a_permanent_tls_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), authenticating());
    for (addr, security, step) in
        [(server.starttls_addr(), SmtpSecurity::Starttls, ": STARTTLS"), (server.tls_addr(), SmtpSecurity::Tls, "")]
    {
        let channel = with_credentials(email(addr, security, None), PASSWORD);
        let error = send_email(channel, &message("s", "t"), &options()).await.unwrap_err();
        let SendError::Permanent(reason) = &error else { panic!("{security:?}: {error:?}") };
        let prefix = format!("{}{step}: the server's certificate is not trusted", relay(addr));
        assert!(reason.starts_with(&prefix), "{security:?}: {reason}");
    }
    assert!(server.messages().is_empty());
}

/// `Starttls` security against a relay that does not offer STARTTLS is refused, permanently,
/// before anything (credentials included) is sent in plain text.
#[tokio::test]
async fn starttls_required_but_not_offered_is_permanent() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), SmtpServerOptions { starttls: false, ..SmtpServerOptions::default() });
    let channel =
        with_credentials(email(server.starttls_addr(), SmtpSecurity::Starttls, Some(server.ca_pem())), PASSWORD);

    let error = send_email(channel, &message("s", "t"), &options()).await.unwrap_err();

    let expected = format!("{}: the relay does not offer STARTTLS", relay(server.starttls_addr()));
    assert_eq!(error, SendError::Permanent(expected));
    assert!(server.messages().is_empty());
}

/// A 451 to a recipient is transient and a 550 permanent; either names the step, the recipient
/// (the operator's own setting) and the code, never the server's words, and nothing is delivered
/// (the transaction stops before DATA).
#[tokio::test]
async fn recipient_refusals_are_classified_by_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(
        dir.path(),
        SmtpServerOptions {
            rcpt_replies: vec![
                ("later@example.test".into(), format!("451 4.3.0 {SERVER_WORDS} try again later")),
                ("nobody@example.test".into(), format!("550 5.1.1 {SERVER_WORDS} no such user")),
            ],
            ..SmtpServerOptions::default()
        },
    );
    let addr = server.starttls_addr();
    let to = |recipient: &str| {
        let mut channel = email(addr, SmtpSecurity::Starttls, Some(server.ca_pem()));
        channel.to = vec!["ops@example.test".into(), recipient.into()];
        channel
    };

    let temporary = send_email(to("later@example.test"), &message("s", "t"), &options()).await.unwrap_err();
    let reason = format!("{}: RCPT TO <later@example.test> refused (451)", relay(addr));
    assert_eq!(temporary, SendError::Transient { reason, retry_after: None });

    let permanent = send_email(to("nobody@example.test"), &message("s", "t"), &options()).await.unwrap_err();
    assert_eq!(
        permanent,
        SendError::Permanent(format!("{}: RCPT TO <nobody@example.test> refused (550)", relay(addr)))
    );

    for error in [temporary, permanent] {
        assert!(!format!("{error:?}").contains(SERVER_WORDS), "{error:?}");
    }
    assert!(server.messages().is_empty());
}

/// A port nobody listens on (held, so no one else takes it) refuses the connection: transient.
#[tokio::test]
async fn nothing_listening_is_transient_connection_refused() {
    let held = PortReservation::tcp();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], held.port()));

    let error = send_email(email(addr, SmtpSecurity::None, None), &message("s", "t"), &options()).await.unwrap_err();

    let reason = format!("{}: connection refused", relay(addr));
    assert_eq!(error, SendError::Transient { reason, retry_after: None });
}

/// A relay that accepts the connection and never greets is given up on at the send's timeout,
/// transiently. The listener is the test's own, never accepting (the kernel completes the
/// handshake from its backlog).
#[tokio::test]
async fn a_silent_relay_times_out_transiently() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let options = SendOptions { timeout: Duration::from_millis(300), ..options() };

    let error = send_email(email(addr, SmtpSecurity::None, None), &message("s", "t"), &options).await.unwrap_err();

    let reason = format!("{}: timeout", relay(addr));
    assert_eq!(error, SendError::Transient { reason, retry_after: None });
    drop(listener);
}

/// The default egress policy refuses loopback: permanent, named by the policy, and no connection
/// is made (the next, allowed send is the server's first connection).
#[tokio::test]
async fn an_egress_refusal_is_permanent_and_connects_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), SmtpServerOptions::default());
    let channel = email(server.starttls_addr(), SmtpSecurity::None, None);
    let refusing = SendOptions { egress: EgressPolicy::default(), timeout: Duration::from_secs(20) };

    let error = send_email(channel.clone(), &message("s", "t"), &refusing).await.unwrap_err();

    let SendError::Permanent(reason) = &error else { panic!("{error:?}") };
    let prefix = format!("{}: egress policy refuses 127.0.0.1 (loopback", relay(server.starttls_addr()));
    assert!(reason.starts_with(&prefix), "{reason}");
    send_email(channel, &message("s", "t"), &options()).await.unwrap();
    assert_eq!(server.connections(), 1, "only the allowed send connected");
    assert_eq!(server.messages().len(), 1);
}

/// Credentials with `None` security are refused before any connection, so a password can never
/// cross a plain connection, whatever the relay offers.
#[tokio::test]
async fn credentials_over_plain_text_are_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), SmtpServerOptions::default());
    let channel = email(server.starttls_addr(), SmtpSecurity::None, None);

    let error =
        send_email(with_credentials(channel.clone(), PASSWORD), &message("s", "t"), &options()).await.unwrap_err();

    let SendError::Permanent(reason) = &error else { panic!("{error:?}") };
    assert!(reason.contains("credentials are never sent over a plain connection"), "{reason}");
    assert!(!reason.contains(PASSWORD));
    send_email(channel, &message("s", "t"), &options()).await.unwrap();
    assert_eq!(server.connections(), 1, "only the send without credentials connected");
}

/// A line break in the subject or an address could add headers or commands: refused, permanent,
/// before connecting; so is an empty recipient list.
#[tokio::test]
async fn header_injection_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(dir.path(), SmtpServerOptions::default());
    let channel = email(server.starttls_addr(), SmtpSecurity::None, None);
    let relay = relay(server.starttls_addr());

    let injected = message("expiring\r\nBcc: everyone@example.test", "t");
    let error = send_email(channel.clone(), &injected, &options()).await.unwrap_err();
    assert_eq!(error, SendError::Permanent(format!("{relay}: the subject contains a line break")));

    let mut bad_to = channel.clone();
    bad_to.to = vec!["ops@example.test\r\nDATA".into()];
    let error = send_email(bad_to, &message("s", "t"), &options()).await.unwrap_err();
    assert_eq!(error, SendError::Permanent(format!("{relay}: the recipient contains a line break")));

    let mut bad_from = channel.clone();
    bad_from.from = "cap@example.test\nBcc: x@example.test".into();
    let error = send_email(bad_from, &message("s", "t"), &options()).await.unwrap_err();
    assert_eq!(error, SendError::Permanent(format!("{relay}: the sender contains a line break")));

    let mut nobody = channel.clone();
    nobody.to.clear();
    let error = send_email(nobody, &message("s", "t"), &options()).await.unwrap_err();
    assert_eq!(error, SendError::Permanent(format!("{relay}: no recipient is configured")));

    send_email(channel, &message("s", "t"), &options()).await.unwrap();
    assert_eq!(server.connections(), 1, "only the valid send connected");
}
