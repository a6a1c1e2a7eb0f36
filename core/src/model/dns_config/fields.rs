//! The fields of each provider's request `config`, described once for every form that asks for
//! them (the console's credential forms render and read them from this list).
//! Invariant: a provider's list names every key its `config` accepts, exactly once, and marks as
//! `Secret` exactly its `DnsProvider::secret_fields` (tested against `example_request`).

use super::TsigAlgorithm;
use crate::model::dns::DnsProvider;

/// How a field is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Url,
    /// Write-only: never shown back; on an edit, empty keeps the stored secret.
    Secret,
    /// A secret that is a whole document (a service account key file).
    SecretText,
    /// A whole number.
    Number,
    /// A list, one item per line.
    Lines,
    /// One of the listed values.
    Choice(&'static [&'static str]),
}

/// One field of a provider's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingField {
    /// The key in the request's `config` object.
    pub name: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    /// Whether a create must give it (fields with a default are not required).
    pub required: bool,
    pub hint: &'static str,
}

impl SettingField {
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, FieldKind::Secret | FieldKind::SecretText)
    }
}

const fn field(name: &'static str, label: &'static str, kind: FieldKind, hint: &'static str) -> SettingField {
    SettingField { name, label, kind, required: true, hint }
}

const fn optional(name: &'static str, label: &'static str, kind: FieldKind, hint: &'static str) -> SettingField {
    SettingField { name, label, kind, required: false, hint }
}

const TSIG_ALGORITHMS: [&str; 3] =
    [TsigAlgorithm::ALL[0].name(), TsigAlgorithm::ALL[1].name(), TsigAlgorithm::ALL[2].name()];

const RFC2136: &[SettingField] = &[
    field("server", "Primary server", FieldKind::Text, "host:port that receives signed updates"),
    field("key_name", "TSIG key name", FieldKind::Text, ""),
    field("algorithm", "TSIG algorithm", FieldKind::Choice(&TSIG_ALGORITHMS), ""),
    field("secret", "TSIG secret", FieldKind::Secret, "base64"),
    optional(
        "nameservers",
        "Check visibility at",
        FieldKind::Lines,
        "ip:port, one per line; empty: the zone's NS records",
    ),
];

const PDNS: &[SettingField] = &[
    field("api_url", "API URL", FieldKind::Url, "e.g. https://pdns.example.net:8081, without /api/v1"),
    optional("server_id", "Server id", FieldKind::Text, "default: localhost"),
    field("api_key", "API key", FieldKind::Secret, "X-API-Key"),
];

const ROUTE53: &[SettingField] = &[
    field("access_key_id", "Access key id", FieldKind::Text, ""),
    field("secret_access_key", "Secret access key", FieldKind::Secret, ""),
    optional("region", "Signing region", FieldKind::Text, "default: us-east-1"),
    optional("endpoint", "Endpoint", FieldKind::Url, "default: https://route53.amazonaws.com"),
    optional("hosted_zone_id", "Hosted zone id", FieldKind::Text, "empty: found by the zone's name"),
];

const CLOUDFLARE: &[SettingField] = &[
    field("api_token", "API token", FieldKind::Secret, "a token with Zone:DNS:Edit on the zone"),
    optional("api_url", "API URL", FieldKind::Url, "default: the public API"),
];

const DIGITALOCEAN: &[SettingField] = &[
    field("token", "API token", FieldKind::Secret, "a token with write scope"),
    optional("api_url", "API URL", FieldKind::Url, "default: the public API"),
];

const HETZNER: &[SettingField] = &[
    field("api_token", "API token", FieldKind::Secret, ""),
    optional("api_url", "API URL", FieldKind::Url, "default: the public API"),
];

const GCLOUD: &[SettingField] = &[
    field("project", "Project id", FieldKind::Text, ""),
    field("service_account_key", "Service account key", FieldKind::SecretText, "the key file's JSON"),
    optional("api_url", "API URL", FieldKind::Url, "default: https://dns.googleapis.com/dns/v1"),
    optional("token_url", "Token URL", FieldKind::Url, "default: https://oauth2.googleapis.com/token"),
];

const AZURE: &[SettingField] = &[
    field("tenant_id", "Tenant id", FieldKind::Text, "a GUID"),
    field("client_id", "Client id", FieldKind::Text, "the service principal's application id"),
    field("client_secret", "Client secret", FieldKind::Secret, ""),
    field("subscription_id", "Subscription id", FieldKind::Text, "a GUID"),
    field("resource_group", "Resource group", FieldKind::Text, ""),
    optional("api_url", "API URL", FieldKind::Url, "default: https://management.azure.com"),
    optional("login_url", "Login URL", FieldKind::Url, "default: https://login.microsoftonline.com"),
];

const OVH: &[SettingField] = &[
    optional("endpoint", "Endpoint", FieldKind::Url, "default: https://eu.api.ovh.com/1.0"),
    field("application_key", "Application key", FieldKind::Text, ""),
    field("application_secret", "Application secret", FieldKind::Secret, ""),
    field("consumer_key", "Consumer key", FieldKind::Secret, ""),
];

const ACMEDNS: &[SettingField] = &[
    field("api_url", "API URL", FieldKind::Url, "the acme-dns server"),
    field("username", "Username", FieldKind::Text, ""),
    field("password", "Password", FieldKind::Secret, ""),
    field("subdomain", "Subdomain", FieldKind::Text, "the account's subdomain"),
];

const EXEC: &[SettingField] = &[
    field("command", "Command", FieldKind::Text, "an absolute path; run without a shell"),
    optional("timeout_seconds", "Timeout (seconds)", FieldKind::Number, "default: 30"),
];

impl DnsProvider {
    /// The fields of this provider's request `config`, in the order a form shows them.
    pub fn fields(self) -> &'static [SettingField] {
        match self {
            DnsProvider::Rfc2136 => RFC2136,
            DnsProvider::Pdns => PDNS,
            DnsProvider::Route53 => ROUTE53,
            DnsProvider::Cloudflare => CLOUDFLARE,
            DnsProvider::Digitalocean => DIGITALOCEAN,
            DnsProvider::Hetzner => HETZNER,
            DnsProvider::Gcloud => GCLOUD,
            DnsProvider::Azure => AZURE,
            DnsProvider::Ovh => OVH,
            DnsProvider::Acmedns => ACMEDNS,
            DnsProvider::Exec => EXEC,
        }
    }

    /// How forms name the provider.
    pub fn label(self) -> &'static str {
        match self {
            DnsProvider::Rfc2136 => "RFC 2136 (TSIG)",
            DnsProvider::Pdns => "PowerDNS",
            DnsProvider::Route53 => "Amazon Route 53",
            DnsProvider::Cloudflare => "Cloudflare",
            DnsProvider::Digitalocean => "DigitalOcean",
            DnsProvider::Hetzner => "Hetzner DNS",
            DnsProvider::Gcloud => "Google Cloud DNS",
            DnsProvider::Azure => "Azure DNS",
            DnsProvider::Ovh => "OVHcloud",
            DnsProvider::Acmedns => "acme-dns",
            DnsProvider::Exec => "Exec hook (owner only)",
        }
    }
}
