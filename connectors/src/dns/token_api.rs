//! What the bearer-token DNS APIs (Cloudflare, DigitalOcean, Hetzner DNS) really share: picking the
//! provider's zone for a record name (the longest label-wise suffix), writing a name relative to its
//! zone, reading a TXT value as the API stores it, encoding a query parameter, and sending a request
//! with the token in the provider's header.
//! Invariant: a zone is chosen only when its name equals the record name or is a label-wise suffix
//! of it (`badexample.test` never serves `www.example.test`); the longest such name wins, as DNS
//! delegation does.

use std::collections::HashMap;
use std::sync::Mutex;

use certautopilot_core::crypto::SecretBytes;

use super::DnsError;
use super::api::{Answer, Api, Body, Reach};

/// How a token API takes its token.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenHeader {
    /// `Authorization: Bearer <token>` (Cloudflare, DigitalOcean).
    Bearer,
    /// `Auth-API-Token: <token>` (Hetzner DNS).
    AuthApiToken,
}

/// One token API: its base URL, the token and how it is sent, and the zones found so far.
pub(crate) struct TokenClient {
    pub provider: &'static str,
    api_url: String,
    token: SecretBytes,
    header: TokenHeader,
    reach: Reach,
    /// The provider's own error message in an answer body.
    message: fn(&[u8]) -> Option<String>,
    pub zones: ZoneCache,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("provider", &self.provider)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl TokenClient {
    pub fn new(
        provider: &'static str,
        api_url: &str,
        token: SecretBytes,
        header: TokenHeader,
        reach: Reach,
        message: fn(&[u8]) -> Option<String>,
    ) -> Self {
        let api_url = api_url.trim_end_matches('/').to_owned();
        TokenClient { provider, api_url, token, header, reach, message, zones: ZoneCache::default() }
    }

    /// One classified request to `path` under the API's base URL (see `api::Api::send`).
    pub async fn send(
        &self,
        operation: &'static str,
        method: http::Method,
        path: &str,
        body: Body<'_>,
    ) -> Result<Answer, DnsError> {
        let url = format!("{}{path}", self.api_url);
        let token = String::from_utf8_lossy(self.token.expose()).into_owned();
        let header = self.header;
        let headers = move || match header {
            TokenHeader::Bearer => vec![("authorization".to_owned(), format!("Bearer {token}"))],
            TokenHeader::AuthApiToken => vec![("auth-api-token".to_owned(), token.clone())],
        };
        Api { provider: self.provider, reach: &self.reach, message: self.message }
            .send(operation, method, &url, &headers, body)
            .await
    }

    pub async fn get(&self, operation: &'static str, path: &str) -> Result<Answer, DnsError> {
        self.send(operation, http::Method::GET, path, Body::None).await
    }

    /// Every item of a paged listing: `path(page)` for pages 1, 2, … while `has_next(answer, page)`,
    /// the items under `key` of each answer. `None` when the API answers 404 (the listed thing is
    /// not there).
    pub async fn list_all(
        &self,
        operation: &'static str,
        path: &(dyn Fn(u64) -> String + Sync),
        key: &str,
        has_next: fn(&serde_json::Value, u64) -> bool,
    ) -> Result<Option<Vec<serde_json::Value>>, DnsError> {
        let mut items = Vec::new();
        let mut page = 1;
        loop {
            let answer = self.get(operation, &path(page)).await?;
            if answer.status == 404 {
                return Ok(None);
            }
            let mut body = answer.json();
            if let Some(list) = body.get_mut(key).and_then(|v| v.as_array_mut()) {
                items.append(list);
            }
            if !has_next(&body, page) {
                return Ok(Some(items));
            }
            page += 1;
        }
    }

    /// Deletes what `path` names; 404 (already gone) is what removing asks for.
    pub async fn delete(&self, path: &str) -> Result<(), DnsError> {
        self.send("record delete", http::Method::DELETE, path, Body::None).await.map(|_| ())
    }

    /// Creates a record; 404 means the zone went away since it was found.
    pub async fn create(&self, zone: &FoundZone, path: &str, body: &serde_json::Value) -> Result<(), DnsError> {
        let answer = self.send("record create", http::Method::POST, path, Body::Json(body)).await?;
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: self.provider, zone: zone.name.clone() });
        }
        Ok(())
    }

    pub fn zone_not_found(&self, zone: &str) -> DnsError {
        DnsError::ZoneNotFound { provider: self.provider, zone: normalize(zone) }
    }
}

/// A name compared the way DNS does: lower case, without the root's trailing dot.
pub(crate) fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `zone` is `name` or one of its label-wise parents.
pub(crate) fn in_zone(name: &str, zone: &str) -> bool {
    let (name, zone) = (normalize(name), normalize(zone));
    name == zone || name.ends_with(&format!(".{zone}"))
}

/// `name` and each parent that could be a zone apex, longest first (down to two labels: no DNS
/// provider hosts a top-level domain for a customer).
pub(crate) fn zone_candidates(name: &str) -> Vec<String> {
    let name = normalize(name);
    let labels: Vec<&str> = name.split('.').collect();
    (0..labels.len().saturating_sub(1)).map(|i| labels[i..].join(".")).collect()
}

/// Of the zones an account has (`(name, id)`), the one whose name is the longest suffix of `name`.
pub(crate) fn longest_suffix<'a, T>(zones: impl IntoIterator<Item = (&'a str, T)>, name: &str) -> Option<(String, T)> {
    zones
        .into_iter()
        .filter(|(zone, _)| in_zone(name, zone))
        .max_by_key(|(zone, _)| normalize(zone).len())
        .map(|(zone, id)| (normalize(zone), id))
}

/// `name` relative to `zone` as DigitalOcean and Hetzner write record names: `@` at the apex.
pub(crate) fn relative_name(name: &str, zone: &str) -> String {
    let (name, zone) = (normalize(name), normalize(zone));
    match name.strip_suffix(&zone) {
        Some("") => "@".to_owned(),
        Some(rest) => rest.trim_end_matches('.').to_owned(),
        None => name,
    }
}

/// A TXT value as APIs return it, without presentation quotes: `"abc"` and `abc` are the same
/// value, and `"ab" "c"` (a value split into character strings) is `abc`. Challenge values are
/// base64url, so nothing inside them needs unescaping.
pub(crate) fn txt_value(stored: &str) -> String {
    let stored = stored.trim();
    if !stored.starts_with('"') {
        return stored.to_owned();
    }
    stored.split('"').enumerate().filter(|(i, _)| i % 2 == 1).map(|(_, part)| part).collect()
}

/// `text` percent-encoded for a query string (RFC 3986 unreserved characters pass).
pub(crate) fn query_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The provider zone found for a record name, kept for the client's life so that removing a
/// record (or the second value at a name) does not look the zone up again.
#[derive(Debug, Default)]
pub(crate) struct ZoneCache(Mutex<HashMap<String, FoundZone>>);

#[derive(Debug, Clone)]
pub(crate) struct FoundZone {
    /// The zone's name at the provider.
    pub name: String,
    /// The provider's identifier for it (DigitalOcean's is the name).
    pub id: String,
}

impl ZoneCache {
    pub fn get(&self, name: &str) -> Option<FoundZone> {
        self.0.lock().ok()?.get(&normalize(name)).cloned()
    }

    pub fn put(&self, name: &str, zone: &FoundZone) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(normalize(name), zone.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest label-wise suffix wins; a name that merely ends with the same letters does not
    /// match; case and the trailing dot do not matter.
    #[test]
    fn the_longest_label_wise_suffix_is_the_zone() {
        let zones = [("example.test", 1), ("eu.example.test", 2), ("badexample.test", 3)];
        let pick = |name: &str| longest_suffix(zones.iter().map(|(n, i)| (*n, *i)), name).map(|(_, i)| i);
        assert_eq!(pick("_acme-challenge.www.eu.example.test"), Some(2));
        assert_eq!(pick("_acme-challenge.Example.TEST."), Some(1));
        assert_eq!(pick("example.test"), Some(1));
        assert_eq!(pick("www.xexample.test"), None);
        assert_eq!(
            zone_candidates("_acme-challenge.www.example.test."),
            vec!["_acme-challenge.www.example.test", "www.example.test", "example.test"]
        );
    }

    /// Relative names, stored TXT values in their several spellings, and query encoding.
    #[test]
    fn names_values_and_queries() {
        assert_eq!(relative_name("_acme-challenge.www.example.test.", "example.test"), "_acme-challenge.www");
        assert_eq!(relative_name("example.test", "example.test"), "@");
        assert_eq!(txt_value("\"abc\""), "abc");
        assert_eq!(txt_value("\"ab\" \"c\""), "abc");
        assert_eq!(txt_value("abc"), "abc");
        assert_eq!(query_value("_acme-challenge.*.x y&z"), "_acme-challenge.%2A.x%20y%26z");
    }
}
