//! Hetzner DNS's API (`Auth-API-Token` header): the zone is the account's zone whose name is the
//! longest suffix of the record name (`GET /zones`, every page of `meta.pagination`), records are
//! created one value each with a name relative to the zone (`POST /records`) and removed by id after
//! listing the zone's records (`GET /records?zone_id=`).
//! Invariant: only the TXT record at the name whose value is exactly the value (quoted or not) is
//! deleted; the other values at the name stay.

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, TokenApiConfig};
use serde_json::{Value, json};

use super::api::{Reach, json_message};
use super::token_api::{
    FoundZone, TokenClient, TokenHeader, longest_suffix, normalize, query_value, relative_name, txt_value,
};
use super::{DnsError, TxtRecords};

/// The page size asked for (Hetzner's documented default; it serves up to 100).
const PER_PAGE: u32 = 100;

/// Errors are `{"error":{"message":…,"code":…}}` from the API and `{"message":…}` from its
/// gateway (authentication, rate limiting): `json_message` reads both.
#[derive(Debug)]
pub struct Hetzner(TokenClient);

/// Whether `meta.pagination` says another page follows (no pagination: one page).
fn has_next(body: &Value, _page: u64) -> bool {
    let pagination = &body["meta"]["pagination"];
    match (pagination["page"].as_u64(), pagination["last_page"].as_u64()) {
        (Some(page), Some(last)) => page < last,
        _ => false,
    }
}

impl Hetzner {
    pub fn new(config: &TokenApiConfig, token: SecretBytes, reach: Reach) -> Self {
        Hetzner(TokenClient::new("hetzner", &config.api_url, token, TokenHeader::AuthApiToken, reach, json_message))
    }

    /// The account's zone serving `name` (the longest suffix), read from every page of zones.
    async fn zone(&self, zone: &str, name: &str) -> Result<FoundZone, DnsError> {
        if let Some(found) = self.0.zones.get(name) {
            return Ok(found);
        }
        let path = |page| format!("/zones?per_page={PER_PAGE}&page={page}");
        // 404 is how Hetzner answers an account without zones.
        let listed = self.0.list_all("zone lookup", &path, "zones", has_next).await?.unwrap_or_default();
        let zones: Vec<(String, String)> = listed
            .iter()
            .filter_map(|z| Some((normalize(z["name"].as_str()?), z["id"].as_str()?.to_owned())))
            .collect();
        let (zone_name, id) = longest_suffix(zones.iter().map(|(n, id)| (n.as_str(), id.clone())), name)
            .ok_or_else(|| self.0.zone_not_found(zone))?;
        let found = FoundZone { name: zone_name, id };
        self.0.zones.put(name, &found);
        Ok(found)
    }

    /// The ids of the zone's TXT records at `name` whose value is `value`.
    async fn record_ids(&self, zone: &FoundZone, name: &str, value: &str) -> Result<Vec<String>, DnsError> {
        let relative = relative_name(name, &zone.name);
        let path = |page| format!("/records?zone_id={}&per_page={PER_PAGE}&page={page}", query_value(&zone.id));
        let records = self
            .0
            .list_all("record lookup", &path, "records", has_next)
            .await?
            .ok_or_else(|| DnsError::ZoneNotFound { provider: self.0.provider, zone: zone.name.clone() })?;
        Ok(records
            .iter()
            .filter(|r| r["name"].as_str().is_some_and(|n| normalize(n) == relative) && r["type"] == "TXT")
            .filter(|r| r["value"].as_str().map(txt_value).as_deref() == Some(value))
            .filter_map(|r| r["id"].as_str().map(str::to_owned))
            .collect())
    }
}

#[async_trait]
impl TxtRecords for Hetzner {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Hetzner
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
        // The value goes unquoted: Hetzner publishes it as one character string, and a challenge
        // value has no space or quote that would need quoting.
        let body = json!({
            "zone_id": found.id,
            "type": "TXT",
            "name": relative_name(name, &found.name),
            "value": value,
            "ttl": ttl,
        });
        self.0.create(&found, "/records", &body).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let found = self.zone(zone, name).await?;
        for id in self.record_ids(&found, name, value).await? {
            self.0.delete(&format!("/records/{}", query_value(&id))).await?;
        }
        Ok(())
    }
}
