//! DigitalOcean's v2 API (`Authorization: Bearer` personal access token): the zone is the account's
//! domain whose name is the longest suffix of the record name (`GET /domains`, every page), records
//! are created one value each with a name relative to the domain (`POST /domains/{d}/records`) and
//! removed by id after listing the TXT records at the fully qualified name.
//! Invariant: only the record whose data is exactly the value is deleted; the other values at the
//! name stay. Pages are walked by number on the configured API, never by following the `next` URL an
//! answer names, so the token goes nowhere else.

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, TokenApiConfig};
use serde_json::{Value, json};

use super::api::Reach;
use super::token_api::{
    FoundZone, TokenClient, TokenHeader, longest_suffix, normalize, query_value, relative_name, txt_value,
};
use super::{DnsError, TxtRecords};

/// The largest page DigitalOcean serves.
const PER_PAGE: u32 = 200;
/// DigitalOcean's lowest TTL.
const MIN_TTL: u32 = 30;

#[derive(Debug)]
pub struct Digitalocean(TokenClient);

/// DigitalOcean's error body: `{"id":"unauthorized","message":"Unable to authenticate you"}`; the
/// message with its id.
fn message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = v["message"].as_str()?;
    Some(match v["id"].as_str() {
        Some(id) => format!("{text} ({id})"),
        None => text.to_owned(),
    })
}

/// Whether an answer says another page follows.
fn has_next(body: &Value, _page: u64) -> bool {
    body["links"]["pages"]["next"].as_str().is_some_and(|next| !next.is_empty())
}

impl Digitalocean {
    pub fn new(config: &TokenApiConfig, token: SecretBytes, reach: Reach) -> Self {
        Digitalocean(TokenClient::new("digitalocean", &config.api_url, token, TokenHeader::Bearer, reach, message))
    }

    /// The account's domain serving `name` (the longest suffix), read from every page of domains.
    async fn zone(&self, zone: &str, name: &str) -> Result<FoundZone, DnsError> {
        if let Some(found) = self.0.zones.get(name) {
            return Ok(found);
        }
        let path = |page| format!("/domains?per_page={PER_PAGE}&page={page}");
        let listed = self.0.list_all("zone lookup", &path, "domains", has_next).await?.unwrap_or_default();
        let domains: Vec<String> = listed.iter().filter_map(|d| d["name"].as_str()).map(normalize).collect();
        let (zone_name, _) = longest_suffix(domains.iter().map(|d| (d.as_str(), ())), name)
            .ok_or_else(|| self.0.zone_not_found(zone))?;
        let found = FoundZone { id: zone_name.clone(), name: zone_name };
        self.0.zones.put(name, &found);
        Ok(found)
    }

    /// The ids of the TXT records at `name` whose data is `value`.
    async fn record_ids(&self, zone: &FoundZone, name: &str, value: &str) -> Result<Vec<u64>, DnsError> {
        let path = |page| {
            format!(
                "/domains/{}/records?type=TXT&name={}&per_page={PER_PAGE}&page={page}",
                query_value(&zone.id),
                query_value(&normalize(name))
            )
        };
        let records = self
            .0
            .list_all("record lookup", &path, "domain_records", has_next)
            .await?
            .ok_or_else(|| DnsError::ZoneNotFound { provider: self.0.provider, zone: zone.name.clone() })?;
        Ok(records
            .iter()
            .filter(|r| r["data"].as_str().map(txt_value).as_deref() == Some(value))
            .filter_map(|r| r["id"].as_u64())
            .collect())
    }
}

#[async_trait]
impl TxtRecords for Digitalocean {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Digitalocean
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        Ok(Some(self.zone(zone, zone).await?.name))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let found = self.zone(zone, name).await?;
        if !self.record_ids(&found, name, value).await?.is_empty() {
            return Ok(());
        }
        let body = json!({
            "type": "TXT",
            "name": relative_name(name, &found.name),
            "data": value,
            "ttl": ttl.max(MIN_TTL),
        });
        self.0.create(&found, &format!("/domains/{}/records", query_value(&found.id)), &body).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let found = self.zone(zone, name).await?;
        for id in self.record_ids(&found, name, value).await? {
            self.0.delete(&format!("/domains/{}/records/{id}", query_value(&found.id))).await?;
        }
        Ok(())
    }
}
