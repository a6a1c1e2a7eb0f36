//! The settings of the DNS providers reached over an HTTP API (PowerDNS, Route 53, Cloudflare,
//! DigitalOcean, Hetzner, Google Cloud DNS, Azure DNS, OVH, acme-dns) and of the exec hook.
//! Invariants: no secret is a field here (each provider's secret fields are listed by
//! `DnsProvider::secret_fields` and sealed apart); every URL passes `checks::url` (https, or http to
//! loopback only), and every default is the provider's published API address.

use serde::{Deserialize, Serialize};

use crate::model::checks::{self, ConfigError};

fn check_url(field: &str, url: &mut String) -> Result<(), ConfigError> {
    *url = checks::url(field, url.trim_end_matches('/'))?;
    Ok(())
}

fn required(field: &str, value: &mut String, max: usize) -> Result<(), ConfigError> {
    *value = checks::free_text(field, value, max)?.trim().to_owned();
    Ok(())
}

fn optional(field: &str, value: &mut Option<String>, max: usize) -> Result<(), ConfigError> {
    if let Some(v) = value {
        required(field, v, max)?;
    }
    Ok(())
}

/// PowerDNS Authoritative's HTTP API (`X-API-Key`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PdnsConfig {
    /// The API's base URL, e.g. `https://pdns.example.net:8081` (without `/api/v1`).
    pub api_url: String,
    #[serde(default = "default_server_id")]
    pub server_id: String,
}

fn default_server_id() -> String {
    "localhost".into()
}

impl PdnsConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        check_url("config.api_url", &mut self.api_url)?;
        checks::name("config.server_id", &self.server_id).map(|v| self.server_id = v)
    }
}

/// Amazon Route 53 (SigV4 with an access key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53Config {
    pub access_key_id: String,
    /// The signing region; Route 53 is global and signs in `us-east-1`.
    #[serde(default = "default_aws_region")]
    pub region: String,
    /// The API's URL; the public endpoint unless set (a private endpoint, or a test server).
    #[serde(default = "default_route53_endpoint")]
    pub endpoint: String,
    /// The hosted zone to change; found by the zone's name when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_zone_id: Option<String>,
}

fn default_aws_region() -> String {
    "us-east-1".into()
}

fn default_route53_endpoint() -> String {
    "https://route53.amazonaws.com".into()
}

impl Route53Config {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        required("config.access_key_id", &mut self.access_key_id, 128)?;
        if !self.access_key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ConfigError::new("config.access_key_id", "letters and digits only"));
        }
        if self.region.is_empty()
            || !self.region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ConfigError::new("config.region", "an AWS region name such as us-east-1"));
        }
        check_url("config.endpoint", &mut self.endpoint)?;
        optional("config.hosted_zone_id", &mut self.hosted_zone_id, 64)
    }
}

/// An API reached with one bearer token and a base URL: Cloudflare, DigitalOcean, Hetzner DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenApiConfig {
    /// The API's base URL; the provider's public API unless set.
    #[serde(default)]
    pub api_url: String,
}

impl TokenApiConfig {
    /// Fills the public API's address when none was given, then checks it.
    pub fn validate(&mut self, default_url: &str) -> Result<(), ConfigError> {
        if self.api_url.is_empty() {
            self.api_url = default_url.to_owned();
        }
        check_url("config.api_url", &mut self.api_url)
    }
}

pub const CLOUDFLARE_API: &str = "https://api.cloudflare.com/client/v4";
pub const DIGITALOCEAN_API: &str = "https://api.digitalocean.com/v2";
pub const HETZNER_API: &str = "https://dns.hetzner.com/api/v1";

/// Google Cloud DNS with a service account key (a signed JWT exchanged for an access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcloudConfig {
    pub project: String,
    #[serde(default = "default_gcloud_api")]
    pub api_url: String,
    #[serde(default = "default_gcloud_token")]
    pub token_url: String,
}

fn default_gcloud_api() -> String {
    "https://dns.googleapis.com/dns/v1".into()
}

fn default_gcloud_token() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl GcloudConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        required("config.project", &mut self.project, 64)?;
        if !self.project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(ConfigError::new("config.project", "a project id: lower-case letters, digits and '-'"));
        }
        check_url("config.api_url", &mut self.api_url)?;
        check_url("config.token_url", &mut self.token_url)
    }
}

/// Azure DNS with a service principal (client credentials from Microsoft Entra ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    pub tenant_id: String,
    pub client_id: String,
    pub subscription_id: String,
    pub resource_group: String,
    #[serde(default = "default_azure_api")]
    pub api_url: String,
    #[serde(default = "default_azure_login")]
    pub login_url: String,
}

fn default_azure_api() -> String {
    "https://management.azure.com".into()
}

fn default_azure_login() -> String {
    "https://login.microsoftonline.com".into()
}

impl AzureConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("config.tenant_id", &mut self.tenant_id),
            ("config.client_id", &mut self.client_id),
            ("config.subscription_id", &mut self.subscription_id),
        ] {
            required(field, value, 64)?;
            if !value.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
                return Err(ConfigError::new(field, "a GUID such as 00000000-0000-0000-0000-000000000000"));
            }
        }
        self.resource_group = checks::name("config.resource_group", &self.resource_group)?;
        check_url("config.api_url", &mut self.api_url)?;
        check_url("config.login_url", &mut self.login_url)
    }
}

/// OVHcloud's API (an application key; the application secret and consumer key are secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvhConfig {
    #[serde(default = "default_ovh_endpoint")]
    pub endpoint: String,
    pub application_key: String,
}

fn default_ovh_endpoint() -> String {
    "https://eu.api.ovh.com/1.0".into()
}

impl OvhConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        check_url("config.endpoint", &mut self.endpoint)?;
        required("config.application_key", &mut self.application_key, 128)
    }
}

/// An acme-dns account: the challenge name is a CNAME to `<subdomain>.<its zone>`, and updates go
/// to its `/update` endpoint (the password is secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeDnsConfig {
    pub api_url: String,
    pub username: String,
    pub subdomain: String,
}

impl AcmeDnsConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        check_url("config.api_url", &mut self.api_url)?;
        required("config.username", &mut self.username, 128)?;
        required("config.subdomain", &mut self.subdomain, 128)?;
        if !self.subdomain.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ConfigError::new("config.subdomain", "letters, digits and '-' only"));
        }
        Ok(())
    }
}

/// The longest an exec hook may run before it is killed.
pub const MAX_HOOK_SECONDS: u32 = 300;

/// A program run on this host with `ACTION=present|cleanup FQDN VALUE ZONE` in its environment.
/// Only an organization owner may configure one (it runs with the service's rights).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// An absolute path to the program; run without a shell.
    pub command: String,
    #[serde(default = "default_hook_seconds")]
    pub timeout_seconds: u32,
}

fn default_hook_seconds() -> u32 {
    30
}

impl ExecConfig {
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        self.command = checks::absolute_path("config.command", &self.command)?;
        if !(1..=MAX_HOOK_SECONDS).contains(&self.timeout_seconds) {
            return Err(ConfigError::new("config.timeout_seconds", format!("must be 1 to {MAX_HOOK_SECONDS}")));
        }
        Ok(())
    }
}
