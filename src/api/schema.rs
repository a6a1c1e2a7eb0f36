//! OpenAPI schema pieces built from the values the server itself decodes and validates with, so the
//! published contract and the server cannot disagree: enum names come from serde over the same Rust
//! enums, bounds from the same constants the service checks (`service::validate`).
//! Invariant: no accepted value or bound is written twice, once for the server and once for the
//! document.

use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

use crate::service::validate::{self, serde_names};

/// A string that must be one of `names`.
pub fn string_enum(names: Vec<String>, description: &str) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names)).description(Some(description)).build()
}

/// An integer within `range`.
pub fn integer_range(range: std::ops::RangeInclusive<u32>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(*range.start()))
        .maximum(Some(*range.end()))
        .description(Some(description))
        .build()
}

pub fn key_type() -> Object {
    string_enum(serde_names(&certautopilot_core::model::KeyType::ALL), "the private key's algorithm and size")
}

pub fn certificate_health() -> Object {
    string_enum(
        serde_names(&certautopilot_core::model::CertificateHealth::ALL),
        "the certificate's health, computed from its facts (docs/operations.md, \"Health\")",
    )
}

pub fn approval_status() -> Object {
    string_enum(serde_names(&certautopilot_core::model::ApprovalStatus::ALL), "where the request stands")
}

pub fn member_role() -> Object {
    string_enum(
        serde_names(&certautopilot_core::model::Role::MEMBER_ROLES),
        "the role in the project (owners hold every role through the organization)",
    )
}

pub fn target_kind() -> Object {
    string_enum(serde_names(&certautopilot_core::model::TargetKind::ALL), "the kind of target; `config` depends on it")
}

pub fn dns_provider() -> Object {
    string_enum(serde_names(&certautopilot_core::model::DnsProvider::ACCEPTED), "the DNS provider")
}

pub fn dns_config() -> Object {
    use certautopilot_core::model::DnsProvider;
    let accepted = DnsProvider::ACCEPTED;
    let secrets: Vec<String> = accepted
        .iter()
        .zip(serde_names(&accepted))
        .filter(|(p, _)| !p.secret_fields().is_empty())
        .map(|(p, name)| format!("{name}: {}", p.secret_fields().join(", ")))
        .collect();
    let description = format!(
        "settings for the credential's `provider` (docs/dns.md has each provider's); no other keys are accepted. \
         Secret fields are write-only ({}); on an update, leaving them out keeps the sealed secret",
        secrets.join("; ")
    );
    ObjectBuilder::new().schema_type(Type::Object).description(Some(description)).build()
}

pub fn optional_key_type() -> Object {
    let names = serde_names(&certautopilot_core::model::KeyType::ALL);
    string_enum(names, "the key type CertAutoPilot generates; omitted with csr_pem (the CSR's key decides)")
}

pub fn revocation_reason() -> Object {
    let names = certautopilot_core::model::SUBSCRIBER_REVOCATION_REASONS.iter().map(|n| n.to_string()).collect();
    string_enum(names, "RFC 5280 reason for the revocation; `unspecified` when omitted")
}

pub fn renew_before_days() -> Object {
    integer_range(
        validate::RENEW_BEFORE_DAYS,
        "renew this many days before expiry (less than the certificate's lifetime); omitted means a third of the lifetime",
    )
}

pub fn catalogue_id() -> Object {
    let names = certautopilot_core::model::CATALOGUE.iter().map(|e| e.id.to_owned()).collect();
    string_enum(names, "a CA of the catalogue (GET /api/v1/acme-catalogue) instead of directory_url")
}

pub fn renew_before_hours() -> Object {
    integer_range(
        validate::RENEW_BEFORE_HOURS,
        "renew this many hours before expiry (less than the certificate's lifetime; instead of renew_before_days)",
    )
}

/// A target's `config`: an object whose keys depend on `type`, listed from the validator's own lists.
/// A notification channel's settings, tagged by `type`.
pub fn channel_settings() -> Object {
    let description = "the channel's settings, by `type`: email {host, port, security (starttls|tls|none), username, from, \
        to, trusted_roots_pem}; webhook {url, trusted_roots_pem}; slack, teams, discord, mattermost {} (the \
        incoming-webhook URL is the secret); ntfy {server_url, topic}; telegram {chat_id, api_base_url}. No other keys \
        are accepted; the secret goes in `secret`";
    ObjectBuilder::new().schema_type(Type::Object).description(Some(description)).build()
}

/// A digest's period, in the bounds the rule's check takes.
pub fn digest_minutes() -> Object {
    integer_range(
        certautopilot_core::model::DIGEST_MINUTES,
        "one message per this many minutes listing the period's events; absent or null: one message per event",
    )
}

pub fn channel_settings_optional() -> Object {
    channel_settings()
}

pub fn target_config() -> Object {
    use certautopilot_core::model::TargetKind;
    let per_kind: Vec<String> = TargetKind::ALL
        .iter()
        .zip(serde_names(&TargetKind::ALL))
        .map(|(kind, name)| format!("{name}: {}", kind.config_keys().join(", ")))
        .collect();
    let description = format!(
        "settings for the target's `type` (docs/api.md, docs/distribution.md); no other keys are accepted. {}. \
         Secrets (private_key, hmac_secret, token, password) are write-only",
        per_kind.join("; ")
    );
    ObjectBuilder::new().schema_type(Type::Object).description(Some(description)).build()
}
