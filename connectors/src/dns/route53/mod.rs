//! Amazon Route 53: challenge records through its REST/XML API (version 2013-04-01), every request
//! signed with AWS Signature Version 4 by the maintained `aws-sigv4` signer (service `route53`).
//! Invariant: a TXT set is only ever changed from what was read just before, in one atomic change
//! batch: an add is an `UPSERT` of the set read plus the value, a removal an `UPSERT` of the rest
//! or, when nothing is left, a `DELETE` carrying the exact set read (Route 53 refuses any other);
//! other values at the name stay. Every change this client makes is remembered for `wait_applied`.

mod xml;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use certautopilot_core::model::{DnsProvider, Route53Config};

use super::api::{Answer, Api, Body, Reach};
use super::{DnsError, TxtRecords};
use xml::{RecordSet, ZoneEntry};

const PROVIDER: &str = "route53";
/// The API version every path starts with.
const VERSION: &str = "/2013-04-01";
/// Zones asked for per page of `ListHostedZonesByName` (the API's maximum is 100).
const ZONES_PER_PAGE: u32 = 100;
/// Route 53 applies a change to all its servers within about a minute; polls start fast (a test
/// server and small zones answer `INSYNC` at once) and slow down to this.
const LONGEST_POLL: Duration = Duration::from_secs(5);

pub struct Route53 {
    /// The API's base URL without a trailing `/`.
    endpoint: String,
    region: String,
    /// `Credentials` redacts the secret in `Debug`.
    credentials: Credentials,
    hosted_zone_id: Option<String>,
    reach: Reach,
    /// Hosted zone ids found per record name, so that a removal does not look the zone up again
    /// (per name: a zone delegated below the caller's zone serves some names and not others).
    zones: Mutex<HashMap<String, String>>,
    /// Ids of the changes this client submitted that were not yet seen `INSYNC`.
    pending: Mutex<Vec<String>>,
    /// One read-modify-write of a TXT set at a time from this client (a wildcard and its base
    /// write the same name one after the other).
    writing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Route53 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route53")
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.credentials.access_key_id())
            .field("hosted_zone_id", &self.hosted_zone_id)
            .finish_non_exhaustive()
    }
}

impl Route53 {
    pub fn new(config: &Route53Config, secret_access_key: String, reach: Reach) -> Route53 {
        Route53 {
            endpoint: config.endpoint.trim_end_matches('/').to_owned(),
            region: config.region.clone(),
            credentials: Credentials::new(&config.access_key_id, secret_access_key, None, None, "certautopilot"),
            hosted_zone_id: config.hosted_zone_id.as_deref().map(|id| bare_id(id, "/hostedzone/").to_owned()),
            reach,
            zones: Mutex::default(),
            pending: Mutex::default(),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: xml::error_message }
    }

    /// One signed request; 2xx and 404 answers come back.
    async fn call(
        &self,
        operation: &'static str,
        method: http::Method,
        path_and_query: &str,
        body: Option<&str>,
    ) -> Result<Answer, DnsError> {
        let url = format!("{}{VERSION}{path_and_query}", self.endpoint);
        let payload = body.unwrap_or_default().as_bytes();
        let headers = || self.signature(method.as_str(), &url, payload);
        let body = match body {
            Some(text) => Body::Raw(text.as_bytes(), "application/xml"),
            None => Body::None,
        };
        self.api().send_throttled(operation, method.clone(), &url, &headers, body, xml::is_throttling).await
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`) for a request made now. The signer
    /// derives the signed `host` from the URL, as hyper sends it.
    fn signature(&self, method: &str, url: &str, payload: &[u8]) -> Vec<(String, String)> {
        let identity: Identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(PROVIDER)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build();
        let signed = params.map_err(|e| e.to_string()).and_then(|params| {
            let request = SignableRequest::new(method, url, std::iter::empty(), SignableBody::Bytes(payload))
                .map_err(|e| e.to_string())?;
            sign(request, &params.into()).map_err(|e| e.to_string())
        });
        match signed {
            Ok(output) => output.output().headers().map(|(name, value)| (name.to_owned(), value.to_owned())).collect(),
            Err(reason) => {
                // Only a URL the signer cannot read gets here; the request then goes unsigned and
                // Route 53 refuses it with its own message.
                tracing::warn!(provider = PROVIDER, %reason, "could not sign a request");
                Vec::new()
            }
        }
    }

    /// The hosted zone holding `name`: the configured one, or the hosted zone whose name is the
    /// longest suffix of `name` (public zones before private ones of the same name). `zone` is
    /// the name the caller's zone has, for the error when there is none.
    async fn hosted_zone(&self, zone: &str, name: &str) -> Result<String, DnsError> {
        if let Some(id) = &self.hosted_zone_id {
            return Ok(id.clone());
        }
        let full = fqdn(name);
        if let Some(id) = self.zones.lock().unwrap().get(&full) {
            return Ok(id.clone());
        }
        let labels: Vec<&str> = full.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            let candidate = format!("{}.", labels[start..].join("."));
            if let Some(id) = self.zone_named(&candidate).await? {
                self.zones.lock().unwrap().insert(full, id.clone());
                return Ok(id);
            }
        }
        Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: zone.to_owned() })
    }

    /// The id of the hosted zone named exactly `name` (with its trailing dot), reading pages
    /// (`NextDNSName`, `NextHostedZoneId`) while they may still hold zones of that name.
    async fn zone_named(&self, name: &str) -> Result<Option<String>, DnsError> {
        let mut query = format!("dnsname={}", query_escape(name));
        let mut found: Vec<ZoneEntry> = Vec::new();
        loop {
            let path = format!("/hostedzonesbyname?{query}&maxitems={ZONES_PER_PAGE}");
            let answer = self.call("zone lookup", http::Method::GET, &path, None).await?;
            let page = xml::zone_page(&answer.bytes).map_err(|e| self.unreadable("zone lookup", e))?;
            let past = page.zones.iter().any(|z| !same_name(&z.name, name));
            found.extend(page.zones.into_iter().filter(|z| same_name(&z.name, name)));
            match page.next {
                // Zones come sorted by name: once another name shows, no later page has ours.
                Some((next_name, next_id)) if !past && same_name(&next_name, name) => {
                    query = format!("dnsname={}&hostedzoneid={}", query_escape(&next_name), query_escape(&next_id));
                }
                _ => break,
            }
        }
        found.sort_by_key(|z| z.private);
        Ok(found.into_iter().next().map(|z| bare_id(&z.id, "/hostedzone/").to_owned()))
    }

    /// The TXT set at `name` (without a routing policy's `SetIdentifier`), if there is one.
    async fn txt_set(&self, zone_id: &str, name: &str) -> Result<Option<RecordSet>, DnsError> {
        let name = fqdn(name);
        let path =
            format!("/hostedzone/{}/rrset?name={}&type=TXT&maxitems=1", query_escape(zone_id), query_escape(&name));
        let answer = self.call("record lookup", http::Method::GET, &path, None).await?;
        self.zone_exists(&answer, zone_id)?;
        let sets = xml::record_sets(&answer.bytes).map_err(|e| self.unreadable("record lookup", e))?;
        Ok(sets.into_iter().find(|s| s.kind == "TXT" && same_name(&s.name, &name) && !s.routed))
    }

    /// Submits one change batch and remembers its id for `wait_applied`.
    async fn change(&self, zone_id: &str, action: &str, set: &RecordSet) -> Result<(), DnsError> {
        let body = xml::change_request(action, set);
        let path = format!("/hostedzone/{}/rrset/", query_escape(zone_id));
        let answer = self.call("record change", http::Method::POST, &path, Some(&body)).await?;
        self.zone_exists(&answer, zone_id)?;
        let (id, status) = xml::change_info(&answer.bytes).map_err(|e| self.unreadable("record change", e))?;
        if status != "INSYNC" {
            self.pending.lock().unwrap().push(bare_id(&id, "/change/").to_owned());
        }
        Ok(())
    }

    /// A 404 from a call on a hosted zone: the zone id does not exist (or is not this account's).
    fn zone_exists(&self, answer: &Answer, zone_id: &str) -> Result<(), DnsError> {
        if answer.status == 404 {
            return Err(DnsError::ZoneNotFound { provider: PROVIDER, zone: format!("with hosted zone id {zone_id}") });
        }
        Ok(())
    }

    fn unreadable(&self, operation: &'static str, reason: String) -> DnsError {
        tracing::debug!(provider = PROVIDER, operation, %reason, "unreadable answer");
        DnsError::Api { provider: PROVIDER, operation, status: 200, message: Some("the answer does not read".into()) }
    }

    /// The status of one change (`PENDING` or `INSYNC`).
    async fn change_status(&self, id: &str) -> Result<String, DnsError> {
        let answer =
            self.call("change status", http::Method::GET, &format!("/change/{}", query_escape(id)), None).await?;
        if answer.status == 404 {
            // A change Route 53 no longer knows was made long ago: applied.
            return Ok("INSYNC".into());
        }
        let (_, status) = xml::change_info(&answer.bytes).map_err(|e| self.unreadable("change status", e))?;
        Ok(status)
    }
}

#[async_trait]
impl TxtRecords for Route53 {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Route53
    }

    async fn find_zone(&self, zone: &str) -> Result<Option<String>, DnsError> {
        Ok(Some(format!("hosted zone {}", self.hosted_zone(zone, zone).await?)))
    }

    async fn add_txt(&self, zone: &str, name: &str, value: &str, ttl: u32) -> Result<(), DnsError> {
        let _writing = self.writing.lock().await;
        let zone_id = self.hosted_zone(zone, name).await?;
        let mut set = self.txt_set(&zone_id, name).await?.unwrap_or_else(|| RecordSet::txt(&fqdn(name), ttl));
        if set.values.iter().any(|v| xml::txt_text(v) == value) {
            return Ok(());
        }
        set.values.push(xml::txt_quoted(value));
        set.ttl = ttl;
        self.change(&zone_id, "UPSERT", &set).await
    }

    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        let _writing = self.writing.lock().await;
        let zone_id = self.hosted_zone(zone, name).await?;
        let Some(current) = self.txt_set(&zone_id, name).await? else { return Ok(()) };
        let mut rest = current.clone();
        rest.values.retain(|v| xml::txt_text(v) != value);
        if rest.values.len() == current.values.len() {
            return Ok(());
        }
        if rest.values.is_empty() {
            self.change(&zone_id, "DELETE", &current).await
        } else {
            self.change(&zone_id, "UPSERT", &rest).await
        }
    }

    async fn wait_applied(&self, wait: Duration) -> Result<(), DnsError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let ids: Vec<String> = self.pending.lock().unwrap().clone();
            let mut waiting = Vec::new();
            for id in ids {
                if self.change_status(&id).await? == "INSYNC" {
                    self.pending.lock().unwrap().retain(|p| *p != id);
                } else {
                    waiting.push(id);
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(DnsError::NotPropagated {
                    name: format!("route53 change {}", waiting.join(", ")),
                    missing: "Route 53 (the change is still PENDING, not INSYNC)".into(),
                    waited_ms: started.elapsed().as_millis() as u64,
                });
            }
            tokio::time::sleep(pause.min(left)).await;
            pause = (pause * 2).min(LONGEST_POLL);
        }
    }
}

/// `name` lower-cased with its trailing dot, as Route 53 answers names.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

fn same_name(a: &str, b: &str) -> bool {
    fqdn(a) == fqdn(b)
}

/// An id without the path Route 53 puts in front of it (`/hostedzone/Z1…` → `Z1…`).
fn bare_id<'a>(id: &'a str, prefix: &str) -> &'a str {
    id.trim().strip_prefix(prefix).unwrap_or(id.trim())
}

/// Percent-encodes all but the unreserved characters of RFC 3986 (what SigV4 leaves as is).
fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
