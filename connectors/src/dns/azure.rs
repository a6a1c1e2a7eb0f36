//! Azure DNS through Azure Resource Manager: a service principal's client secret is exchanged for
//! a token at Microsoft Entra ID (OAuth 2.0 client credentials, v2.0 endpoint, the ARM `.default`
//! scope); a TXT record set is read, then written whole (PUT) with the value added or removed, or
//! deleted when its last value goes. Writes carry the set's ETag (`If-Match`, or `If-None-Match: *`
//! for a new set), so a set changed in between is refused with 412 and read again.
//! Invariants: other values at the name are kept; `nextLink` pages are followed only on the
//! configured API's origin (the bearer token never goes elsewhere); the secret and token are never
//! printed.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AzureConfig, DnsProvider};
use serde_json::{Value, json};

use super::DnsError;
use super::api::{Answer, Api, Reach};
use super::oauth::{Authorized, TokenCache, bare, form_body, oauth_message, relative_name, with_value, without_value};
use super::provider::TxtRecords;

const PROVIDER: &str = "azure";
/// The DNS resource provider's API version (Azure DNS REST reference, 2018-05-01: TXT sets,
/// ETags, `nextLink` paging).
pub const API_VERSION: &str = "2018-05-01";
const SCOPE: &str = "https://management.azure.com/.default";
/// How many times a write is re-read and re-sent when the set moved under it (412).
const CONFLICT_RETRIES: usize = 3;
/// The most zone pages read before giving up (a loop guard against a `nextLink` that repeats).
const MAX_PAGES: usize = 100;

/// An Azure DNS client for one resource group.
pub struct Azure {
    config: AzureConfig,
    client_secret: SecretBytes,
    reach: Reach,
    token: TokenCache,
    /// Zones found in the resource group (by apex), once per client.
    zones: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Azure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azure")
            .field("tenant_id", &self.config.tenant_id)
            .field("client_id", &self.config.client_id)
            .field("resource_group", &self.config.resource_group)
            .finish()
    }
}

impl Azure {
    pub fn new(config: &AzureConfig, client_secret: SecretBytes, reach: Reach) -> Self {
        Azure { config: config.clone(), client_secret, reach, token: TokenCache::default(), zones: Mutex::default() }
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: oauth_message }
    }

    /// One ARM call with the current token.
    async fn call(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        extra: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, DnsError> {
        let token_url = format!("{}/{}/oauth2/v2.0/token", self.config.login_url, self.config.tenant_id);
        let form = || {
            let secret = self
                .client_secret
                .expose_str()
                .ok_or_else(|| DnsError::Config("the client secret is not text".into()))?;
            Ok(form_body(&[
                ("grant_type", "client_credentials"),
                ("client_id", &self.config.client_id),
                ("client_secret", secret),
                ("scope", SCOPE),
            ]))
        };
        let api = Authorized { api: self.api(), cache: &self.token, token_url: &token_url, form: &form };
        api.send(operation, method, url, extra, body).await
    }

    fn zones_url(&self) -> String {
        format!(
            "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/dnsZones",
            self.config.api_url, self.config.subscription_id, self.config.resource_group
        )
    }

    /// Checks that the resource group holds `zone`, reading the zone list page by page; a
    /// principal allowed on the zone only (the least-privilege assignment) may not list the group,
    /// and then the zone is read by name.
    async fn find_zone(&self, zone: &str) -> Result<String, DnsError> {
        let apex = bare(zone);
        if self.zones.lock().unwrap_or_else(|e| e.into_inner()).contains(&apex) {
            return Ok(apex);
        }
        let mut url = format!("{}?api-version={API_VERSION}", self.zones_url());
        for _ in 0..MAX_PAGES {
            let answer = match self.call("zone lookup", http::Method::GET, &url, &[], None).await {
                Err(DnsError::Api { status: 403, .. }) => return self.zone_by_name(apex).await,
                other => other?,
            };
            if answer.status == 404 {
                break;
            }
            let json = answer.json();
            let names = json["value"].as_array().into_iter().flatten().filter_map(|z| z["name"].as_str()).map(bare);
            let mut found = false;
            let mut zones = self.zones.lock().unwrap_or_else(|e| e.into_inner());
            for name in names {
                found |= name == apex;
                zones.insert(name);
            }
            drop(zones);
            if found {
                return Ok(apex);
            }
            match json["nextLink"].as_str().filter(|l| !l.is_empty()) {
                Some(next) if same_origin(next, &self.config.api_url) => url = next.to_owned(),
                Some(_) => {
                    return Err(DnsError::Api {
                        provider: PROVIDER,
                        operation: "zone lookup",
                        status: answer.status,
                        message: Some("the next page is on another host; not followed".into()),
                    });
                }
                None => break,
            }
        }
        Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: apex })
    }

    /// `GET …/dnsZones/{zone}`: what a role assigned on the zone itself may read.
    async fn zone_by_name(&self, apex: String) -> Result<String, DnsError> {
        let url = format!("{}/{apex}?api-version={API_VERSION}", self.zones_url());
        let answer = self.call("zone lookup", http::Method::GET, &url, &[], None).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: apex });
        }
        self.zones.lock().unwrap_or_else(|e| e.into_inner()).insert(apex.clone());
        Ok(apex)
    }

    fn record_url(&self, zone: &str, relative: &str) -> String {
        format!("{}/{zone}/TXT/{relative}?api-version={API_VERSION}", self.zones_url())
    }

    /// Rewrites the set at `name` with `edit(values)` (`None`: no change; empty: delete the set).
    async fn change(
        &self,
        zone: &str,
        name: &str,
        ttl: Option<u32>,
        edit: &(dyn Fn(&[String]) -> Option<Vec<String>> + Sync),
    ) -> Result<(), DnsError> {
        let zone = self.find_zone(zone).await?;
        let url = self.record_url(&zone, &relative_name(name, &zone)?);
        let mut attempt = 0;
        loop {
            let current = self.call("record lookup", http::Method::GET, &url, &[], None).await?;
            let set = (current.status != 404).then(|| current.json());
            let values: Vec<String> = set
                .as_ref()
                .and_then(|s| s["properties"]["TXTRecords"].as_array())
                .map(|records| {
                    records
                        .iter()
                        .map(|r| r["value"].as_array().into_iter().flatten().filter_map(Value::as_str).collect())
                        .collect()
                })
                .unwrap_or_default();
            let Some(next) = edit(&values) else { return Ok(()) };
            let etag = set.as_ref().and_then(|s| s["etag"].as_str()).map(str::to_owned);
            let precondition = match &etag {
                Some(etag) => ("if-match", etag.clone()),
                None => ("if-none-match", "*".to_owned()),
            };
            let result = if next.is_empty() {
                self.call("record delete", http::Method::DELETE, &url, &[precondition], None).await
            } else {
                let keep_ttl = set.as_ref().and_then(|s| s["properties"]["TTL"].as_u64()).map(|t| t as u32);
                let body = json!({ "properties": {
                    "TTL": ttl.or(keep_ttl).unwrap_or(60),
                    "TXTRecords": next.iter().map(|v| json!({ "value": [v] })).collect::<Vec<_>>(),
                }});
                self.call("record write", http::Method::PUT, &url, &[precondition], Some(&body)).await
            };
            match result {
                Ok(answer) if answer.status == 404 && !next.is_empty() => {
                    return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone });
                }
                Ok(_) => return Ok(()),
                Err(DnsError::Api { status: 412, .. }) if attempt < CONFLICT_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether `link` is on the origin (scheme, host, port) of `base`.
fn same_origin(link: &str, base: &str) -> bool {
    let origin = |url: &str| -> Option<String> {
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split(['/', '?', '#']).next()?;
        Some(format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
    };
    origin(link).is_some() && origin(link) == origin(base)
}

#[async_trait]
impl TxtRecords for Azure {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Azure
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        Ok(Some(format!("{} in resource group {}", Azure::find_zone(self, zone).await?, self.config.resource_group)))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        self.change(zone, name, Some(ttl), &|values| with_value(values, value)).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        self.change(zone, name, None, &|values| without_value(values, value)).await
    }
}

#[cfg(test)]
mod tests {
    /// A `nextLink` is followed only on the configured API's scheme, host and port.
    #[test]
    fn next_links_stay_on_the_api_origin() {
        let base = "https://management.azure.com";
        assert!(super::same_origin("https://management.azure.com/subscriptions/x?$skiptoken=1", base));
        assert!(!super::same_origin("https://management.azure.com.evil.test/x", base));
        assert!(!super::same_origin("http://management.azure.com/x", base));
        assert!(!super::same_origin("/relative", base));
    }
}
