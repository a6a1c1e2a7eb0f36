//! PowerDNS Authoritative's HTTP API (`/api/v1`, `X-API-Key`): add and remove one TXT value by
//! rewriting the TXT rrset at the name (`PATCH` with `changetype: REPLACE`, or `DELETE` once the last
//! value is gone) in the longest zone the server has for the name.
//! Invariant: a change never drops a value it was not asked to remove — the current rrset is read
//! first and every other value is written back. PowerDNS has no rate limiting and no pagination in
//! this API (its zone list is filtered by `?zone=`), so neither applies here.

use certautopilot_core::model::{DnsProvider, PdnsConfig};
use serde_json::{Value, json};

use super::DnsError;
use super::api::{Api, Body, Reach, json_message};

const PROVIDER: &str = "PowerDNS";

pub struct Pdns {
    /// `<api_url>/api/v1/servers/<server_id>`.
    server_url: String,
    server_id: String,
    api_key: String,
    reach: Reach,
}

impl std::fmt::Debug for Pdns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdns").field("server_url", &self.server_url).finish_non_exhaustive()
    }
}

/// One zone as the server names it: `id` is what its URLs use (names escaped by PowerDNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdnsZone {
    pub id: String,
    pub name: String,
}

impl Pdns {
    pub fn new(config: &PdnsConfig, api_key: String, reach: Reach) -> Self {
        let server_url = format!("{}/api/v1/servers/{}", config.api_url, query_escape(&config.server_id));
        Pdns { server_url, server_id: config.server_id.clone(), api_key, reach }
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: json_message }
    }

    fn headers(&self) -> Vec<(String, String)> {
        vec![("X-API-Key".to_owned(), self.api_key.clone())]
    }

    /// The zone the server has for `record_name`: the longest of its zones among `record_name` and
    /// its parents down to `apex` (a child zone delegated on the same server holds the name, not
    /// its parent). None of them: `ZoneNotFound` for `apex`.
    pub async fn zone_for(&self, apex: &str, record_name: &str) -> Result<PdnsZone, DnsError> {
        let apex = canonical(apex);
        let mut candidate = canonical(record_name);
        if !candidate.ends_with(&format!(".{apex}")) && candidate != apex {
            return Err(DnsError::BadName { name: record_name.to_owned(), reason: format!("not inside zone {apex}") });
        }
        loop {
            if let Some(zone) = self.find_zone(&candidate).await? {
                return Ok(zone);
            }
            if candidate == apex {
                return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: apex.trim_end_matches('.').to_owned() });
            }
            candidate = candidate.split_once('.').map(|(_, parent)| parent.to_owned()).unwrap_or_default();
        }
    }

    /// `GET /zones?zone=<name>`: the zone of exactly that name, if the server has it.
    async fn find_zone(&self, name: &str) -> Result<Option<PdnsZone>, DnsError> {
        let url = format!("{}/zones?zone={}", self.server_url, query_escape(name));
        let answer = self.api().send("zone lookup", http::Method::GET, &url, &|| self.headers(), Body::None).await?;
        if answer.status == 404 {
            return Err(self.no_such_server("zone lookup"));
        }
        let zones = answer.json();
        let found =
            zones.as_array().into_iter().flatten().find(|z| z["name"].as_str().map(canonical) == Some(name.into()));
        Ok(found.and_then(|z| {
            let id = z["id"].as_str()?;
            // The id goes into a URL path: PowerDNS escapes names into it; anything else is not ours.
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-=".contains(&b))
                .then(|| PdnsZone { id: id.to_owned(), name: name.to_owned() })
        }))
    }

    /// A 404 under `/servers/<id>`: the API has no server of that id (the default is `localhost`).
    fn no_such_server(&self, operation: &'static str) -> DnsError {
        DnsError::Api {
            provider: PROVIDER,
            operation,
            status: 404,
            message: Some(format!(
                "the API has no server {:?}; check the server_id setting (PowerDNS calls its own `localhost`)",
                self.server_id
            )),
        }
    }

    /// The TXT values at `name` (unquoted) and the rrset's TTL, `None` when there is no rrset.
    pub async fn txt_values(&self, zone: &PdnsZone, name: &str) -> Result<Option<(Vec<String>, u32)>, DnsError> {
        let name = canonical(name);
        // Servers from 4.8 return only the rrset asked for; older ones ignore the filter and send
        // the zone, filtered here.
        let url = format!(
            "{}/zones/{}?rrsets=true&rrset_name={}&rrset_type=TXT",
            self.server_url,
            zone.id,
            query_escape(&name)
        );
        let answer = self.api().send("record lookup", http::Method::GET, &url, &|| self.headers(), Body::None).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound {
                provider: PROVIDER,
                zone: zone.name.trim_end_matches('.').to_owned(),
            });
        }
        let body = answer.json();
        let rrset = body["rrsets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["type"] == "TXT" && r["name"].as_str().map(canonical) == Some(name.clone()));
        Ok(rrset.map(|r| {
            let values = r["records"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|record| record["content"].as_str().map(unquote))
                .collect();
            (values, r["ttl"].as_u64().and_then(|t| u32::try_from(t).ok()).unwrap_or(60))
        }))
    }

    /// Writes the TXT rrset at `name` as exactly `values` (deleting it when there are none).
    async fn write_txt(
        &self,
        operation: &'static str,
        zone: &PdnsZone,
        name: &str,
        values: &[String],
        ttl: u32,
    ) -> Result<(), DnsError> {
        let rrset = if values.is_empty() {
            json!({ "name": canonical(name), "type": "TXT", "changetype": "DELETE" })
        } else {
            let records: Vec<Value> =
                values.iter().map(|v| json!({ "content": quote(v), "disabled": false })).collect();
            json!({ "name": canonical(name), "type": "TXT", "ttl": ttl, "changetype": "REPLACE", "records": records })
        };
        let body = json!({ "rrsets": [rrset] });
        let url = format!("{}/zones/{}", self.server_url, zone.id);
        let answer =
            self.api().send(operation, http::Method::PATCH, &url, &|| self.headers(), Body::Json(&body)).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound {
                provider: PROVIDER,
                zone: zone.name.trim_end_matches('.').to_owned(),
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl super::TxtRecords for Pdns {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Pdns
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        let found = self.zone_for(zone, zone).await?;
        Ok(Some(format!("{} (id {})", found.name.trim_end_matches('.'), found.id)))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let zone = self.zone_for(zone, name).await?;
        let mut values = self.txt_values(&zone, name).await?.map(|(v, _)| v).unwrap_or_default();
        if values.iter().any(|v| v == value) {
            return Ok(());
        }
        values.push(value.to_owned());
        self.write_txt("record create", &zone, name, &values, ttl).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let zone = self.zone_for(zone, name).await?;
        let Some((values, ttl)) = self.txt_values(&zone, name).await? else { return Ok(()) };
        if !values.iter().any(|v| v == value) {
            return Ok(());
        }
        let rest: Vec<String> = values.into_iter().filter(|v| v != value).collect();
        self.write_txt("record delete", &zone, name, &rest, ttl).await
    }
}

/// A name as PowerDNS spells it: lower case, with the trailing dot.
fn canonical(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

/// A TXT value as record content: one quoted character-string (RFC 1035 §5.1 escapes).
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Record content back to the value: its character-strings joined, escapes resolved (`\X` and
/// `\DDD`), as a resolver would hand the TXT data over.
fn unquote(content: &str) -> String {
    let mut bytes = Vec::with_capacity(content.len());
    let mut chars = content.bytes().peekable();
    let mut quoted = false;
    while let Some(b) = chars.next() {
        match b {
            b'"' => quoted = !quoted,
            b'\\' => {
                let digits: Vec<u8> = std::iter::from_fn(|| chars.next_if(u8::is_ascii_digit)).take(3).collect();
                if digits.len() == 3 {
                    let n = digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
                    bytes.push(u8::try_from(n).unwrap_or(b'?'));
                } else if digits.is_empty() {
                    bytes.extend(chars.next());
                } else {
                    bytes.extend(digits);
                }
            }
            b' ' | b'\t' if !quoted => {}
            other => bytes.push(other),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Percent-escapes everything but unreserved characters (RFC 3986 §2.3) for a query or a path part.
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values round-trip through record content, including split and escaped character-strings.
    #[test]
    fn txt_content_round_trips() {
        for value in ["abc-_123", "with \"quote\" and \\", ""] {
            assert_eq!(unquote(&quote(value)), value);
        }
        assert_eq!(unquote(r#""part one" "part two""#), "part onepart two");
        assert_eq!(unquote(r#""a\065b""#), "aAb");
        assert_eq!(canonical("WWW.Example.test"), "www.example.test.");
        assert_eq!(query_escape("a b/c.d_"), "a%20b%2Fc.d_");
    }
}
