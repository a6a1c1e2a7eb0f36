//! Audit events as syslog lines: RFC 5424 with the event's fields as structured data, or ArcSight CEF
//! carried as the message of an RFC 5424 line. Facility authpriv (10), severity notice (5).

use certautopilot_core::Principal;
use certautopilot_core::model::AuditEvent;

/// The configuration's `format` (one definition, in the config crate).
pub use certautopilot_config::SiemFormat;

/// `<85>`: facility 10 (security/authorization) × 8 + severity 5 (notice).
const PRI: u8 = 85;
/// The structured-data id; 32473 is the enterprise number reserved for examples (RFC 5612).
const SD_ID: &str = "certautopilot@32473";

fn actor(p: &Principal) -> String {
    match p {
        Principal::User(id) => format!("user:{id}"),
        Principal::ApiToken(id) => format!("api_token:{id}"),
        Principal::System(name) => format!("system:{name}"),
    }
}

/// RFC 5424 §6.3.3: `"`, `\` and `]` are escaped in parameter values; control characters (CR, LF)
/// are dropped so a value can never end the line for a receiver that writes one line per message.
fn sd_escape(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// MSGID is printable US-ASCII, at most 32 characters.
fn msgid(action: &str) -> String {
    let cleaned: String = action.chars().filter(|c| c.is_ascii_graphic()).take(32).collect();
    if cleaned.is_empty() { "-".into() } else { cleaned }
}

fn header(event: &AuditEvent, hostname: &str, msgid: &str) -> String {
    let host: String = hostname.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    format!(
        "<{PRI}>1 {} {} certautopilot {} {}",
        event.at.to_rfc3339(),
        if host.is_empty() { "-" } else { &host },
        std::process::id(),
        msgid
    )
}

pub fn rfc5424(event: &AuditEvent, hostname: &str) -> String {
    let mut sd = format!(
        "[{SD_ID} seq=\"{}\" org=\"{}\" actor=\"{}\" action=\"{}\"",
        event.seq,
        event.org_id,
        sd_escape(&actor(&event.actor)),
        sd_escape(&event.action)
    );
    if let Some(object) = &event.object {
        sd.push_str(&format!(" object_kind=\"{}\" object_id=\"{}\"", sd_escape(&object.kind), sd_escape(&object.id)));
    }
    if let Some(project) = event.project_id {
        sd.push_str(&format!(" project=\"{project}\""));
    }
    sd.push_str(&format!(" hmac=\"{}\"]", event.hmac));
    // Newlines would end the message for line-based receivers; JSON text has none.
    let details = serde_json::to_string(&event.details).unwrap_or_default();
    format!("{} {sd} {details}", header(event, hostname, &msgid(&event.action)))
}

/// CEF header fields escape `\` and `|`; extension values escape `\`, `=` and line breaks.
fn cef_header(value: &str) -> String {
    value.replace('\\', "\\\\").replace('|', "\\|")
}

fn cef_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('=', "\\=").replace('\n', "\\n").replace('\r', "\\r")
}

pub fn cef(event: &AuditEvent, hostname: &str) -> String {
    let severity = if event.action.ends_with("failed") || event.action.contains("revoked") { 6 } else { 3 };
    let mut ext = format!(
        "rt={} suser={} cs1Label=org cs1={} cn1Label=seq cn1={}",
        event.at.as_unix_millis(),
        cef_value(&actor(&event.actor)),
        event.org_id,
        event.seq
    );
    if let Some(project) = event.project_id {
        ext.push_str(&format!(" cs2Label=project cs2={project}"));
    }
    if let Some(object) = &event.object {
        ext.push_str(&format!(" cs3Label=object cs3={}", cef_value(&format!("{}:{}", object.kind, object.id))));
    }
    ext.push_str(&format!(" cs4Label=hmac cs4={}", event.hmac));
    ext.push_str(&format!(" msg={}", cef_value(&serde_json::to_string(&event.details).unwrap_or_default())));
    let body = format!(
        "CEF:0|CertAutoPilot|certautopilot|{}|{}|{}|{severity}|{ext}",
        env!("CARGO_PKG_VERSION"),
        cef_header(&event.action),
        cef_header(&event.action)
    );
    format!("{} - {body}", header(event, hostname, "CEF"))
}

pub fn format(event: &AuditEvent, hostname: &str, as_: SiemFormat) -> String {
    match as_ {
        SiemFormat::Rfc5424 => rfc5424(event, hostname),
        SiemFormat::Cef => cef(event, hostname),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certautopilot_core::Timestamp;
    use certautopilot_core::ids::{OrgId, ProjectId};
    use certautopilot_core::model::AuditObject;

    fn event() -> AuditEvent {
        AuditEvent {
            org_id: OrgId::new(),
            seq: 7,
            at: Timestamp::from_unix_millis(1_764_000_000_123),
            actor: Principal::System("kek-rotation".into()),
            action: "cert.requested".into(),
            object: Some(AuditObject { kind: "certificate".into(), id: "a]b\"c\r\n<13>1 forged".into() }),
            project_id: Some(ProjectId::new()),
            details: serde_json::json!({ "names": ["a=b|c"] }),
            prev_hmac: "00".into(),
            hmac: "ff".into(),
        }
    }

    /// The RFC 5424 line has the header fields in order and escapes structured-data values.
    #[test]
    fn rfc5424_lines_carry_escaped_structured_data() {
        let line = rfc5424(&event(), "node-1");
        assert!(line.starts_with("<85>1 2025-11-24T16:00:00.123Z node-1 certautopilot "), "{line}");
        assert!(line.contains(" cert.requested [certautopilot@32473 seq=\"7\""), "{line}");
        assert!(line.contains(r#"object_id="a\]b\"c<13>1 forged""#), "{line}");
        assert!(line.ends_with(r#"{"names":["a=b|c"]}"#), "{line}");
        assert!(!line.contains('\n'));
    }

    /// The CEF message escapes header pipes and extension equals signs.
    #[test]
    fn cef_escapes_headers_and_extensions() {
        let line = cef(&event(), "node-1");
        assert!(line.contains(" CEF - CEF:0|CertAutoPilot|certautopilot|"), "{line}");
        assert!(line.contains("|cert.requested|cert.requested|3|rt=1764000000123 suser=system:kek-rotation"), "{line}");
        assert!(line.contains(r#"msg={"names":["a\=b|c"]}"#), "{line}");
        assert!(line.contains("cn1Label=seq cn1=7"), "{line}");
    }
}
