//! Cloudflare's v4 API (`Authorization: Bearer` API token): the zone is found by name
//! (`GET /zones?name=`, each candidate suffix of the record name, longest first, following
//! `result_info` pages), records are created one value each (`POST /zones/{id}/dns_records`) and
//! removed by id after listing the TXT records at the name.
//! Invariant: only the record whose content is exactly the value is deleted; the other values at the
//! name (a wildcard and its base) stay. Adding a value that is already there sends nothing.

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, TokenApiConfig};
use serde_json::{Value, json};

use super::api::Reach;
use super::token_api::{FoundZone, TokenClient, TokenHeader, normalize, query_value, txt_value, zone_candidates};
use super::{DnsError, TxtRecords};

/// The largest page `GET /zones` serves.
const ZONES_PER_PAGE: u32 = 50;
/// The largest page `GET /zones/{id}/dns_records` serves.
const RECORDS_PER_PAGE: u32 = 100;
/// Cloudflare's lowest TTL outside Enterprise plans (1 would mean "automatic", i.e. 300 s).
const MIN_TTL: u32 = 60;

#[derive(Debug)]
pub struct Cloudflare(TokenClient);

/// Cloudflare's error body: `{"success":false,"errors":[{"code":9109,"message":"…"}]}`; the
/// message with its code, which Cloudflare's documentation indexes.
fn message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let first = &v["errors"][0];
    let text = first["message"].as_str()?;
    Some(match first["code"].as_i64() {
        Some(code) => format!("{text} (code {code})"),
        None => text.to_owned(),
    })
}

/// Whether `result_info` says another page follows.
fn has_next(body: &Value, page: u64) -> bool {
    page < body["result_info"]["total_pages"].as_u64().unwrap_or(1)
}

impl Cloudflare {
    pub fn new(config: &TokenApiConfig, token: SecretBytes, reach: Reach) -> Self {
        Cloudflare(TokenClient::new("cloudflare", &config.api_url, token, TokenHeader::Bearer, reach, message))
    }

    /// The zone serving `name`: the longest candidate suffix Cloudflare has a zone of. A name can
    /// have several zones (one per account; a zone added to a second account stays `pending`), so
    /// every page is read and an `active` one preferred.
    async fn zone(&self, zone: &str, name: &str) -> Result<FoundZone, DnsError> {
        if let Some(found) = self.0.zones.get(name) {
            return Ok(found);
        }
        for candidate in zone_candidates(name) {
            let path = |page| format!("/zones?name={}&per_page={ZONES_PER_PAGE}&page={page}", query_value(&candidate));
            let zones = self.0.list_all("zone lookup", &path, "result", has_next).await?.unwrap_or_default();
            let named = |z: &&Value| z["name"].as_str().map(normalize).as_deref() == Some(candidate.as_str());
            let mut matching: Vec<&Value> = zones.iter().filter(named).collect();
            matching.sort_by_key(|z| z["status"].as_str() != Some("active"));
            if let Some(id) = matching.first().and_then(|z| z["id"].as_str()) {
                let found = FoundZone { name: candidate.clone(), id: id.to_owned() };
                self.0.zones.put(name, &found);
                return Ok(found);
            }
        }
        Err(self.0.zone_not_found(zone))
    }

    /// The ids of the TXT records at `name` whose content is `value` (quoted or not).
    async fn record_ids(&self, zone: &FoundZone, name: &str, value: &str) -> Result<Vec<String>, DnsError> {
        let path = |page| {
            format!(
                "/zones/{}/dns_records?type=TXT&name={}&per_page={RECORDS_PER_PAGE}&page={page}",
                query_value(&zone.id),
                query_value(&normalize(name))
            )
        };
        let records = self
            .0
            .list_all("record lookup", &path, "result", has_next)
            .await?
            .ok_or_else(|| DnsError::ZoneNotFound { provider: self.0.provider, zone: zone.name.clone() })?;
        Ok(records
            .iter()
            .filter(|r| r["content"].as_str().map(txt_value).as_deref() == Some(value))
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect())
    }
}

#[async_trait]
impl TxtRecords for Cloudflare {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Cloudflare
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        let found = self.zone(zone, zone).await?;
        Ok(Some(format!("{} (id {})", found.name, found.id)))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let found = self.zone(zone, name).await?;
        if !self.record_ids(&found, name, value).await?.is_empty() {
            return Ok(());
        }
        // The content goes unquoted: Cloudflare serves it as one character string either way, and
        // a challenge value has no space or quote that would need quoting.
        let body = json!({ "type": "TXT", "name": normalize(name), "content": value, "ttl": ttl.max(MIN_TTL) });
        self.0.create(&found, &format!("/zones/{}/dns_records", query_value(&found.id)), &body).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let found = self.zone(zone, name).await?;
        for id in self.record_ids(&found, name, value).await? {
            self.0.delete(&format!("/zones/{}/dns_records/{}", query_value(&found.id), query_value(&id))).await?;
        }
        Ok(())
    }
}
