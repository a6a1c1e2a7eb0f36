//! What a notification says: one audit entry (or a digest of several) turned into a subject, a text
//! and the structured event, the same for every channel (each channel formats it its own way).
//! Invariant: only what the audit entry holds is said (its details never carry a secret), so a
//! message can never show more than the audit log already shows its project's members.

use certautopilot_connectors::notify::{Message, Severity as WireSeverity};
use certautopilot_core::model::{AuditEvent, EventKind, NotificationRule, Project, Severity};
use serde_json::json;

/// Entries listed one by one in a digest; the rest are counted.
pub(super) const DIGEST_LINES: usize = 50;

fn wire(severity: Severity) -> WireSeverity {
    match severity {
        Severity::Info => WireSeverity::Info,
        Severity::Warning => WireSeverity::Warning,
        Severity::Critical => WireSeverity::Critical,
    }
}

fn detail<'a>(entry: &'a AuditEvent, key: &str) -> Option<&'a str> {
    entry.details.get(key).and_then(|v| v.as_str())
}

/// The names of the certificates the entries are about, by id, for the entries whose details name
/// none (`cert.issued` carries serials and dates only).
pub(super) type Names = std::collections::HashMap<String, String>;

/// The certificate (or other object) an entry is about, by name where one is known.
fn subject_of(entry: &AuditEvent, names: &Names) -> String {
    let named = ["name", "common_name"].iter().find_map(|k| detail(entry, k));
    let known = entry.object.as_ref().and_then(|o| names.get(&o.id)).map(String::as_str);
    match (named.or(known), &entry.object) {
        (Some(name), _) => name.to_owned(),
        (None, Some(object)) => format!("{} {}", object.kind, object.id),
        (None, None) => "the organization".to_owned(),
    }
}

/// At most this many characters of a headline (an e-mail subject, a chat title).
const HEADLINE_CHARS: usize = 240;

/// One line: what happened to what, and why. Names and reasons come from certificates and remote
/// parties: control characters become spaces and the line is cut, so no channel refuses it.
pub(super) fn headline(entry: &AuditEvent, kind: EventKind, names: &Names) -> String {
    let line = raw_headline(entry, kind, names);
    let mut clean: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).take(HEADLINE_CHARS).collect();
    if line.chars().count() > HEADLINE_CHARS {
        clean.push('…');
    }
    clean
}

fn raw_headline(entry: &AuditEvent, kind: EventKind, names: &Names) -> String {
    let what = subject_of(entry, names);
    let why = detail(entry, "reason").map(|r| format!(": {r}")).unwrap_or_default();
    match kind {
        EventKind::Health(health) => format!("{what} is {}{why}", health.as_str().replace('_', " ")),
        EventKind::Expiring => format!("{what} is expiring{why}"),
        EventKind::ApprovalRequested => format!("{what}: a request waits for approval{why}"),
        EventKind::Issued => format!("{what} was issued"),
        EventKind::Renewed => format!("{what} was renewed"),
        EventKind::DistributionFailed => format!("{what}: a deployment failed{why}"),
        EventKind::DriftDetected => format!("{what}: a target serves something else"),
        EventKind::Revoked => format!("{what} was revoked"),
        EventKind::AuditChainBroken => format!("the audit chain is broken{why}"),
        EventKind::KekRotated => "the key-encryption key was rotated".to_owned(),
    }
}

/// The message for one entry.
pub(super) fn event_message(
    delivery_id: String,
    entry: &AuditEvent,
    kind: EventKind,
    project: &Project,
    rule: &NotificationRule,
    names: &Names,
) -> Message {
    let headline = headline(entry, kind, names);
    let mut text =
        format!("{headline}\n\nProject: {}\nEvent: {}\nAt: {}\n", project.name, kind.name(), entry.at.to_rfc3339());
    if let Some(object) = &entry.object {
        text.push_str(&format!("{}: {}\n", object.kind, object.id));
    }
    if let Some(not_after) = detail(entry, "not_after") {
        text.push_str(&format!("Expires: {not_after}\n"));
    }
    text.push_str(&format!("Audit entry: {}\nRule: {}\n", entry.seq, rule.name));
    Message {
        delivery_id,
        event: kind.name(),
        severity: wire(kind.severity()),
        subject: format!("[CertAutoPilot] {headline}"),
        text,
        data: json!({
            "event": kind.name(),
            "project": { "id": project.id, "name": project.name },
            "rule": { "id": rule.id, "name": rule.name },
            "entry": {
                "seq": entry.seq,
                "at": entry.at.to_rfc3339(),
                "action": entry.action,
                "object": entry.object,
                "details": entry.details,
            },
        }),
    }
}

/// The message for a digest of `entries` (each with its kind); `more` entries were left out.
pub(super) fn digest_message(
    delivery_id: String,
    entries: &[(AuditEvent, EventKind)],
    more: usize,
    project: &Project,
    rule: &NotificationRule,
    minutes: u32,
    names: &Names,
) -> Message {
    let total = entries.len() + more;
    let severity = entries.iter().map(|(_, k)| k.severity()).max().unwrap_or(Severity::Info);
    let events = if total == 1 { "1 event".to_owned() } else { format!("{total} events") };
    let mut text = format!("{events} in project {} (rule {}, every {minutes} minutes):\n\n", project.name, rule.name);
    for (entry, kind) in entries.iter().take(DIGEST_LINES) {
        text.push_str(&format!("- {} {}\n", entry.at.to_rfc3339(), headline(entry, *kind, names)));
    }
    if total > DIGEST_LINES.min(entries.len()) {
        text.push_str(&format!("… and {} more (see the audit log)\n", total - DIGEST_LINES.min(entries.len())));
    }
    Message {
        delivery_id,
        event: "digest".into(),
        severity: wire(severity),
        subject: format!("[CertAutoPilot] {events} in {}", project.name),
        text,
        data: json!({
            "event": "digest",
            "project": { "id": project.id, "name": project.name },
            "rule": { "id": rule.id, "name": rule.name },
            "total": total,
            "entries": entries.iter().take(DIGEST_LINES).map(|(e, k)| json!({
                "seq": e.seq,
                "at": e.at.to_rfc3339(),
                "event": k.name(),
                "action": e.action,
                "object": e.object,
                "details": e.details,
            })).collect::<Vec<_>>(),
        }),
    }
}
