//! The e-mail one SMTP send carries (RFC 5322 with MIME), rendered before any connection opens:
//! headers, a quoted-printable UTF-8 body, CRLF line endings, dot-stuffed for DATA.
//! Invariant: nothing a caller supplies can start a header, a line or the end of DATA: subject,
//! addresses and event are refused with a CR or LF, the body is quoted-printable (7-bit, lines of
//! at most 76 characters), every header line stays within 998 octets, and every line that starts
//! with `.` is stuffed with another.

use time::{OffsetDateTime, UtcOffset};

use crate::notify::Message;

/// RFC 5322 §2.1.1: a line is at most 998 octets before its CRLF; 78 is the line it should keep to.
const MAX_LINE: usize = 998;
const SOFT_LINE: usize = 78;
/// RFC 2045 §6.7 (5): quoted-printable lines are at most 76 characters, the soft break's `=` included.
const QP_LINE: usize = 76;
/// RFC 2047 §2: an encoded-word is at most 75 characters; `=?utf-8?B?` and `?=` leave 63 for base64,
/// which carries 45 octets in 60 characters.
const ENCODED_WORD_OCTETS: usize = 45;
/// An event name or delivery id longer than this is a bug upstream, not a header to fold.
const MAX_TOKEN: usize = 200;

/// Why a message cannot be sent as configured: a person (or the code that built it) must change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum InvalidMail {
    #[error("the {field} contains a line break")]
    LineBreak { field: &'static str },
    #[error(
        "the {field} {value:?} is not an address this client sends to (ascii, one @, no spaces, brackets, \
         quotes, commas or control characters, at most 254 characters)"
    )]
    Address { field: &'static str, value: String },
    #[error("no recipient is configured")]
    NoRecipients,
    #[error("the {field} is not printable ascii of 1 to 200 characters")]
    Token { field: &'static str },
}

/// The message as DATA carries it: headers and body, CRLF line endings, dot-stuffed, without the
/// terminating `.` line.
pub(super) fn render(
    from: &str,
    to: &[String],
    message: &Message,
    date: OffsetDateTime,
) -> Result<Vec<u8>, InvalidMail> {
    check_address("sender", from)?;
    if to.is_empty() {
        return Err(InvalidMail::NoRecipients);
    }
    for recipient in to {
        check_address("recipient", recipient)?;
    }
    if message.subject.contains(['\r', '\n']) {
        return Err(InvalidMail::LineBreak { field: "subject" });
    }
    check_token("event", &message.event)?;
    check_token("delivery id", &message.delivery_id)?;

    let mut text = String::new();
    text.push_str(&format!("Date: {}\r\n", rfc5322_date(date)));
    text.push_str(&format!("From: {from}\r\n"));
    text.push_str(&format!("To: {}\r\n", to.join(",\r\n ")));
    text.push_str(&subject_header(&message.subject));
    text.push_str("\r\n");
    text.push_str(&format!("Message-ID: <{}@certautopilot>\r\n", message_id_left(&message.delivery_id)));
    text.push_str("MIME-Version: 1.0\r\n");
    text.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    text.push_str("Content-Transfer-Encoding: quoted-printable\r\n");
    // RFC 3834: a machine wrote this; vacation responders and the like must not answer it.
    text.push_str("Auto-Submitted: auto-generated\r\n");
    text.push_str(&format!("X-CertAutoPilot-Event: {}\r\n", message.event));
    text.push_str("\r\n");
    let mut data = text.into_bytes();
    quoted_printable(&message.text, &mut data);
    Ok(dot_stuffed(&data))
}

/// One address as this client sends it (bare, in angle brackets on the envelope): no display
/// name, no quoted local part, nothing that could end a command or a header.
fn check_address(field: &'static str, address: &str) -> Result<(), InvalidMail> {
    if address.contains(['\r', '\n']) {
        return Err(InvalidMail::LineBreak { field });
    }
    if certautopilot_core::model::mail_address_ok(address) {
        Ok(())
    } else {
        Err(InvalidMail::Address { field, value: address.to_owned() })
    }
}

fn check_token(field: &'static str, value: &str) -> Result<(), InvalidMail> {
    if value.contains(['\r', '\n']) {
        return Err(InvalidMail::LineBreak { field });
    }
    let printable = value.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    if value.is_empty() || value.len() > MAX_TOKEN || !printable {
        return Err(InvalidMail::Token { field });
    }
    Ok(())
}

/// RFC 5322 §3.3, in UTC: `Tue, 01 Jul 2025 10:52:37 +0000`.
fn rfc5322_date(date: OffsetDateTime) -> String {
    let utc = date.to_offset(UtcOffset::UTC);
    let weekday = utc.weekday().to_string();
    let month = utc.month().to_string();
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        &weekday[..3],
        utc.day(),
        &month[..3],
        utc.year(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// The left part of the Message-ID: the delivery id itself when it is a dot-atom (RFC 5322 §3.6.4),
/// so a receiver sees the same id on every retry; otherwise every octet outside `[A-Za-z0-9_-]`
/// spelled `=XX`, which is a dot-atom and just as stable.
fn message_id_left(delivery_id: &str) -> String {
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    if delivery_id.split('.').all(|part| !part.is_empty() && part.bytes().all(atext)) {
        return delivery_id.to_owned();
    }
    delivery_id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            }
        })
        .collect()
}

/// `Subject: …` without its CRLF: plain and folded at its spaces when it is printable ASCII that
/// cannot be mistaken for an encoded-word, else RFC 2047 encoded-words (UTF-8, base64), one per
/// folded line.
fn subject_header(subject: &str) -> String {
    let plain = subject.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && !subject.contains("=?")
        && !subject.starts_with(' ')
        && !subject.ends_with(' ');
    if plain && let Some(folded) = folded("Subject", subject) {
        return folded;
    }
    encoded_words("Subject", subject)
}

/// `name: value` folded before spaces (RFC 5322 §2.2.3: a fold is a CRLF put before whitespace
/// that is there anyway) to keep lines near 78 characters; `None` when one word alone would
/// pass 998. `value` has no leading or trailing space, so no folded line is only whitespace.
fn folded(name: &str, value: &str) -> Option<String> {
    let mut out = format!("{name}:");
    let mut line = out.len();
    // Pieces: a run of spaces and the word after it; the first carries the space after the colon.
    let spaced = format!(" {value}");
    let mut pieces = Vec::new();
    let mut start = 0;
    let bytes = spaced.as_bytes();
    for i in 1..bytes.len() {
        if bytes[i] == b' ' && bytes[i - 1] != b' ' {
            pieces.push(&spaced[start..i]);
            start = i;
        }
    }
    pieces.push(&spaced[start..]);
    for piece in pieces {
        if line + piece.len() > SOFT_LINE && line > name.len() + 1 {
            out.push_str("\r\n");
            line = 0;
        }
        out.push_str(piece);
        line += piece.len();
        if line > MAX_LINE {
            return None;
        }
    }
    Some(out)
}

/// `name: =?utf-8?B?…?=`, one encoded-word per line, each whole characters (RFC 2047 §5: a word
/// decodes on its own), separated by folds, which decoders drop between encoded-words.
fn encoded_words(name: &str, value: &str) -> String {
    use base64::Engine;
    let mut chunks: Vec<String> = vec![String::new()];
    for c in value.chars() {
        let last = chunks.last_mut().expect("at least one chunk");
        if last.len() + c.len_utf8() > ENCODED_WORD_OCTETS {
            chunks.push(String::new());
        }
        chunks.last_mut().expect("at least one chunk").push(c);
    }
    let words: Vec<String> = chunks
        .iter()
        .map(|chunk| format!("=?utf-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(chunk)))
        .collect();
    format!("{name}: {}", words.join("\r\n "))
}

/// `text` as quoted-printable (RFC 2045 §6.7) with CRLF line breaks: any of CRLF, LF or CR in
/// `text` ends a line; `=`, control and non-ASCII octets and whitespace at a line's end are
/// escaped; soft breaks keep every line within 76 characters without splitting an escape.
fn quoted_printable(text: &str, out: &mut Vec<u8>) {
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let body = normalized.strip_suffix('\n').unwrap_or(&normalized);
    for line in body.split('\n') {
        let bytes = line.as_bytes();
        let mut width = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal = (b.is_ascii_graphic() && b != b'=') || ((b == b' ' || b == b'\t') && !last);
            let token = if literal { 1 } else { 3 };
            // A token that does not end the line leaves room for a soft break's `=` after it.
            let room = if last { token } else { token + 1 };
            if width + room > QP_LINE {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
            }
            width += token;
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// RFC 5321 §4.5.2: a line that starts with `.` gets another, so only the final `.` line ends DATA.
/// `data` has CRLF line endings only.
fn dot_stuffed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut line_start = true;
    for &b in data {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Severity;

    fn message(subject: &str, text: &str) -> Message {
        Message {
            delivery_id: "d-1".into(),
            event: "cert.issued".into(),
            severity: Severity::Info,
            subject: subject.into(),
            text: text.into(),
            data: serde_json::Value::Null,
        }
    }

    fn qp(text: &str) -> String {
        let mut out = Vec::new();
        quoted_printable(text, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Decodes quoted-printable as RFC 2045 §6.7 reads it, for the round trips below.
    fn qp_decode(encoded: &str) -> String {
        let mut out = Vec::new();
        let lines: Vec<&str> = encoded.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        for (n, line) in lines.iter().enumerate() {
            let (content, soft) = match line.strip_suffix('=') {
                Some(content) => (content, true),
                None => (*line, false),
            };
            let bytes = content.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' {
                    out.push(u8::from_str_radix(&content[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            if !soft && n + 1 < lines.len() {
                out.push(b'\n');
            }
        }
        String::from_utf8(out).unwrap()
    }

    /// Quoted-printable keeps every line within 76 characters, escapes `=`, non-ASCII and trailing
    /// whitespace, never splits an escape, and decodes back to the text (line breaks as LF).
    #[test]
    fn quoted_printable_is_bounded_and_round_trips() {
        let texts = [
            "plain line",
            "a = b\ttrailing space \nnext",
            "été ☃ — ünïcödé",
            &"x".repeat(300),
            &"é".repeat(100),
            &format!("{}=", "y".repeat(74)),
            ".leading dot\r\n.\r\nthree\rfour\n",
        ];
        for text in texts {
            let encoded = qp(text);
            for line in encoded.strip_suffix("\r\n").unwrap().split("\r\n") {
                assert!(line.len() <= QP_LINE, "{line:?} in {encoded:?}");
                assert!(line.is_ascii() && !line.ends_with(' ') && !line.ends_with('\t'), "{line:?}");
            }
            let expected = text.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(qp_decode(&encoded), expected.strip_suffix('\n').unwrap_or(&expected), "{encoded:?}");
        }
        assert_eq!(qp("a=b é \n"), "a=3Db =C3=A9=20\r\n");
    }

    /// Every line starting with a dot is stuffed, the first one included; other dots are not.
    #[test]
    fn lines_starting_with_a_dot_are_stuffed() {
        assert_eq!(dot_stuffed(b".a\r\nb.c\r\n.\r\n..\r\n"), b"..a\r\nb.c\r\n..\r\n...\r\n");
    }

    /// A plain subject stays readable and is folded at spaces; a non-ASCII one, or one that looks
    /// like an encoded-word, becomes encoded-words of at most 75 characters that decode back.
    #[test]
    fn subjects_are_folded_or_encoded() {
        assert_eq!(subject_header("certificate issued"), "Subject: certificate issued");
        let long = ["word"; 40].join(" ");
        let header = subject_header(&long);
        assert!(header.split("\r\n").all(|l| l.len() <= SOFT_LINE), "{header}");
        assert_eq!(header.replace("\r\n", ""), format!("Subject: {long}"));
        for subject in ["Zertifikat läuft ab ☃", "=?utf-8?B?eA==?=", &"€".repeat(40)] {
            let header = subject_header(subject);
            let mut decoded = Vec::new();
            for word in header.trim_start_matches("Subject: ").split("\r\n ") {
                assert!(word.len() <= 75, "{word}");
                let b64 = word.strip_prefix("=?utf-8?B?").unwrap().strip_suffix("?=").unwrap();
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
                assert!(String::from_utf8(bytes.clone()).is_ok(), "each word is whole characters");
                decoded.extend(bytes);
            }
            assert_eq!(String::from_utf8(decoded).unwrap(), subject);
        }
    }

    /// The rendered message has CRLF line endings only, the headers the brief lists, lines within
    /// 998 octets, and is refused with line breaks in the subject, addresses or event.
    #[test]
    fn rendering_checks_and_bounds() {
        let date = OffsetDateTime::from_unix_timestamp(1_751_367_157).unwrap();
        let to = vec!["a@example.test".to_owned(), "b@example.test".to_owned()];
        let data = render("cap@example.test", &to, &message("s", "body\n.dot"), date).unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(!text.replace("\r\n", "").contains(['\r', '\n']), "only CRLF line endings");
        assert!(text.lines().all(|l| l.len() <= MAX_LINE));
        assert!(text.starts_with("Date: Tue, 01 Jul 2025 10:52:37 +0000\r\n"), "{text}");
        assert!(text.contains("To: a@example.test,\r\n b@example.test\r\n"));
        assert!(text.contains("Message-ID: <d-1@certautopilot>\r\n"));
        assert!(text.contains("X-CertAutoPilot-Event: cert.issued\r\n"));
        assert!(text.ends_with("\r\n\r\nbody\r\n..dot\r\n"), "{text}");

        let refuse = |from: &str, to: &[&str], m: Message| {
            let to: Vec<String> = to.iter().map(|s| s.to_string()).collect();
            render(from, &to, &m, date).unwrap_err()
        };
        assert_eq!(refuse("c@d", &["a@b"], message("x\r\nBcc: e@f", "")), InvalidMail::LineBreak { field: "subject" });
        assert_eq!(refuse("c@d\n", &["a@b"], message("s", "")), InvalidMail::LineBreak { field: "sender" });
        assert_eq!(refuse("c@d", &["a@b\r"], message("s", "")), InvalidMail::LineBreak { field: "recipient" });
        assert_eq!(refuse("c@d", &[], message("s", "")), InvalidMail::NoRecipients);
        assert!(matches!(refuse("c@d", &["<a@b>"], message("s", "")), InvalidMail::Address { .. }));
        assert!(matches!(refuse("c@d", &["a b@c"], message("s", "")), InvalidMail::Address { .. }));
        let mut bad_event = message("s", "");
        bad_event.event = "x\nY: z".into();
        assert_eq!(refuse("c@d", &["a@b"], bad_event), InvalidMail::LineBreak { field: "event" });
    }

    /// A delivery id that is a dot-atom is the Message-ID's left part as is; any other is spelled
    /// in a fixed way that is one.
    #[test]
    fn message_ids_are_stable_dot_atoms() {
        assert_eq!(message_id_left("rule-1.cert_issued.ch-2"), "rule-1.cert_issued.ch-2");
        assert_eq!(message_id_left("a:b c"), "a=3Ab=20c");
        assert_eq!(message_id_left("a..b"), "a=2E=2Eb");
    }
}
