//! The canonical encoding of an audit entry: what the HMAC covers. Stable across versions: changing
//! it would break every existing chain, so a new encoding needs a new `v` and both kept verifiable.
//!
//! Layout: the ASCII tag `cap-audit-v1`, then each field as `u32be(len) ‖ bytes`, in this order:
//! org id, seq (decimal), at (unix milliseconds, decimal), actor (`user:<id>`, `api_token:<id>` or
//! `system:<name>`), action, object kind, object id, project id, details (JSON with object keys sorted,
//! no whitespace). Absent values are empty strings. `prev_hmac` is not part of it: it is chained in
//! front by the HMAC itself.

use crate::model::AuditEvent;
use crate::scope::Principal;

const TAG: &[u8] = b"cap-audit-v1";

pub fn canonical_bytes(entry: &AuditEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(TAG);
    let actor = match &entry.actor {
        Principal::User(id) => format!("user:{id}"),
        Principal::ApiToken(id) => format!("api_token:{id}"),
        Principal::System(name) => format!("system:{name}"),
    };
    let fields: [&str; 9] = [
        &entry.org_id.to_string(),
        &entry.seq.to_string(),
        &entry.at.as_unix_millis().to_string(),
        &actor,
        &entry.action,
        entry.object.as_ref().map(|o| o.kind.as_str()).unwrap_or(""),
        entry.object.as_ref().map(|o| o.id.as_str()).unwrap_or(""),
        &entry.project_id.map(|p| p.to_string()).unwrap_or_default(),
        &sorted_json(&entry.details),
    ];
    for field in fields {
        out.extend_from_slice(&(field.len() as u32).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    out
}

/// JSON with every object's keys in sorted order and no whitespace. serde_json's map is already
/// sorted unless some crate turns on its `preserve_order` feature, so rebuild only when needed.
fn sorted_json(value: &serde_json::Value) -> String {
    fn is_sorted(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.keys().is_sorted() && map.values().all(is_sorted),
            serde_json::Value::Array(items) => items.iter().all(is_sorted),
            _ => true,
        }
    }
    if is_sorted(value) {
        return serde_json::to_string(value).unwrap_or_default();
    }
    fn sort(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let sorted: std::collections::BTreeMap<&String, serde_json::Value> =
                    map.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::to_value(sorted).unwrap_or(serde_json::Value::Null)
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(value)).unwrap_or_default()
}
