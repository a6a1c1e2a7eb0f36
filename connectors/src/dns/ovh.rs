//! OVHcloud's API: every call is signed with the application secret and consumer key
//! (`X-Ovh-Signature: "$1$" + hex(SHA1(AS+CK+METHOD+URL+BODY+TIMESTAMP joined by "+"))`, with the
//! timestamp on the API's clock, read once from `/auth/time`). TXT values are separate records
//! with ids; a change is applied to the served zone by `POST /domain/zone/{zone}/refresh`.
//! Invariants: the signature covers the exact bytes sent (the body is serialized once, here); other
//! values at the name are separate records and never touched; the application secret is never
//! sent or printed, and the consumer key only as its header.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{DnsProvider, OvhConfig};
use serde_json::{Value, json};
use sha1::Digest;

use super::DnsError;
use super::api::{Answer, Api, Body, Reach, json_message};
use super::oauth::{bare, query_value, relative_name};
use super::provider::TxtRecords;
use super::txt::unquoted;

const PROVIDER: &str = "ovh";

/// An OVH client for one application and consumer key.
pub struct Ovh {
    config: OvhConfig,
    application_secret: SecretBytes,
    consumer_key: SecretBytes,
    reach: Reach,
    /// The API clock minus ours, in seconds, once read.
    clock_offset: tokio::sync::OnceCell<i64>,
    /// Zones this account holds, once listed.
    zones: Mutex<Option<HashSet<String>>>,
}

impl std::fmt::Debug for Ovh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ovh").field("endpoint", &self.config.endpoint).finish()
    }
}

/// `"$1$"` and the hex SHA-1 of the signed fields (OVH API "first steps", signing requests).
pub fn signature(secret: &str, consumer: &str, method: &str, url: &str, body: &str, timestamp: i64) -> String {
    let digest = sha1::Sha1::digest(format!("{secret}+{consumer}+{method}+{url}+{body}+{timestamp}").as_bytes());
    format!("$1${}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Ovh {
    pub fn new(config: &OvhConfig, application_secret: SecretBytes, consumer_key: SecretBytes, reach: Reach) -> Self {
        Ovh {
            config: config.clone(),
            application_secret,
            consumer_key,
            reach,
            clock_offset: tokio::sync::OnceCell::new(),
            zones: Mutex::default(),
        }
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: json_message }
    }

    /// The API's clock offset: signatures carry its time, and a skewed local clock is refused.
    async fn offset(&self) -> Result<i64, DnsError> {
        let read = || async {
            let url = format!("{}/auth/time", self.config.endpoint);
            let answer = self.api().send("clock read", http::Method::GET, &url, &Vec::new, Body::None).await?;
            let server = answer.json().as_i64().filter(|_| answer.status == 200).ok_or(DnsError::Api {
                provider: PROVIDER,
                operation: "clock read",
                status: answer.status,
                message: Some("the answer is not a time".into()),
            })?;
            Ok::<_, DnsError>(server - now_s())
        };
        self.clock_offset.get_or_try_init(read).await.copied()
    }

    /// One signed call; `body` is serialized once so the signature covers what is sent.
    async fn call(
        &self,
        operation: &'static str,
        method: http::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, DnsError> {
        let offset = self.offset().await?;
        let url = format!("{}{path}", self.config.endpoint);
        let text = body.map(Value::to_string).unwrap_or_default();
        let (secret, consumer) = match (self.application_secret.expose_str(), self.consumer_key.expose_str()) {
            (Some(s), Some(c)) => (s, c),
            _ => return Err(DnsError::Config("the OVH secrets are not text".into())),
        };
        let headers = || {
            let timestamp = now_s() + offset;
            vec![
                ("x-ovh-application".to_owned(), self.config.application_key.clone()),
                ("x-ovh-consumer".to_owned(), consumer.to_owned()),
                ("x-ovh-timestamp".to_owned(), timestamp.to_string()),
                ("x-ovh-signature".to_owned(), signature(secret, consumer, method.as_str(), &url, &text, timestamp)),
            ]
        };
        let body = if body.is_some() { Body::Raw(text.as_bytes(), "application/json") } else { Body::None };
        self.api().send(operation, method.clone(), &url, &headers, body).await
    }

    /// The account's zone `zone` (listed once per client).
    async fn find_zone(&self, zone: &str) -> Result<String, DnsError> {
        let apex = bare(zone);
        if let Some(zones) = self.zones.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return zones
                .contains(&apex)
                .then_some(apex.clone())
                .ok_or(DnsError::ZoneNotFound { provider: PROVIDER, zone: apex });
        }
        let answer = self.call("zone lookup", http::Method::GET, "/domain/zone", None).await?;
        let zones: HashSet<String> =
            answer.json().as_array().into_iter().flatten().filter_map(Value::as_str).map(bare).collect();
        let found = zones.contains(&apex);
        *self.zones.lock().unwrap_or_else(|e| e.into_inner()) = Some(zones);
        found.then_some(apex.clone()).ok_or(DnsError::ZoneNotFound { provider: PROVIDER, zone: apex })
    }

    /// The TXT records at `sub` in `zone`: (id, value).
    async fn records(&self, zone: &str, sub: &str) -> Result<Vec<(u64, String)>, DnsError> {
        let path = format!("/domain/zone/{zone}/record?fieldType=TXT&subDomain={}", query_value(sub));
        let answer = self.call("record lookup", http::Method::GET, &path, None).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: zone.to_owned() });
        }
        let ids: Vec<u64> = answer.json().as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
        let mut records = Vec::new();
        for id in ids {
            let answer =
                self.call("record read", http::Method::GET, &format!("/domain/zone/{zone}/record/{id}"), None).await?;
            // A record deleted since the list was read is simply gone.
            if answer.status == 404 {
                continue;
            }
            if let Some(target) = answer.json()["target"].as_str() {
                records.push((id, unquoted(target)));
            }
        }
        Ok(records)
    }

    /// Applies the zone's pending changes to the served zone.
    async fn refresh(&self, zone: &str) -> Result<(), DnsError> {
        self.call("zone refresh", http::Method::POST, &format!("/domain/zone/{zone}/refresh"), None).await.map(drop)
    }

    /// The zone and the record's sub-domain (`""` at the apex, as OVH spells it).
    async fn place(&self, zone: &str, name: &str) -> Result<(String, String), DnsError> {
        let zone = self.find_zone(zone).await?;
        let sub = relative_name(name, &zone)?;
        Ok((zone, if sub == "@" { String::new() } else { sub }))
    }
}

#[async_trait]
impl TxtRecords for Ovh {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Ovh
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        Ok(Some(Ovh::find_zone(self, zone).await?))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let (zone, sub) = self.place(zone, name).await?;
        if self.records(&zone, &sub).await?.iter().any(|(_, v)| v == value) {
            return Ok(());
        }
        let body = json!({ "fieldType": "TXT", "subDomain": sub, "target": value, "ttl": ttl });
        let answer =
            self.call("record create", http::Method::POST, &format!("/domain/zone/{zone}/record"), Some(&body)).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone });
        }
        self.refresh(&zone).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let (zone, sub) = self.place(zone, name).await?;
        let mut removed = false;
        for (id, _) in self.records(&zone, &sub).await?.into_iter().filter(|(_, v)| v == value) {
            self.call("record delete", http::Method::DELETE, &format!("/domain/zone/{zone}/record/{id}"), None).await?;
            removed = true;
        }
        if removed { self.refresh(&zone).await } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    /// The signature is "$1$" and the hex SHA-1 of the fields joined by "+" (a vector computed
    /// with `printf '%s' 'AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1700000000' | sha1sum`).
    #[test]
    fn signature_matches_the_published_scheme() {
        let s = super::signature("AS", "CK", "GET", "https://eu.api.ovh.com/1.0/domain/zone", "", 1_700_000_000);
        assert_eq!(s, "$1$09deb620e4cc90d8141187a1746e56af76db079a");
    }
}
